/**
 * redisStore behaviour beyond the conformance suite, against real Redis servers. Outages are real:
 * the tests start a private redis-server on a free loopback port, stop it and start it again.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import KeyvRedis, { createClient } from '@keyv/redis'
import Keyv from 'keyv'
import { createKeyward, isKeywardError } from 'keyward'
import { redisStore } from 'keyward/redis'
import { testRecord } from 'keyward/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, PrivateRedis, serverUrl, uniqueNamespace, wipeRedisNamespace } from '../helpers/servers.js'

const url = serverUrl('REDIS_URL')

async function eventually<T>(attempt: () => Promise<T>, ms: number): Promise<T> {
	const deadline = Date.now() + ms
	for (;;) {
		try {
			return await attempt()
		} catch (error) {
			if (Date.now() > deadline) throw error
			await new Promise((resolve) => setTimeout(resolve, 100))
		}
	}
}

describe.skipIf(!url)('redisStore on real servers', () => {
	let redis: PrivateRedis

	beforeAll(async () => {
		redis = new PrivateRedis(await freePort())
		await redis.start()
	})
	afterAll(() => redis.dispose())

	it('rejects with store_unavailable within the timeout while Redis is down, and recovers by itself', async () => {
		const store = redisStore({ url: redis.url, namespace: uniqueNamespace('outage'), timeout: '300ms' })
		const keyward = createKeyward({ store })
		try {
			const before = await keyward.issue({ ownerId: 'u1' })
			expect((await keyward.verify(before.key)).ok).toBe(true)
			await redis.stop('sigkill')
			const started = Date.now()
			const error = await keyward.verify(before.key).catch((e: unknown) => e)
			expect(isKeywardError(error, 'store_unavailable')).toBe(true)
			expect(Date.now() - started).toBeLessThan(1500)
			await redis.start() // an empty server: no persistence
			const after = await eventually(() => keyward.issue({ ownerId: 'u1' }), 10_000)
			expect((await keyward.verify(after.key)).ok).toBe(true)
		} finally {
			await store.close()
		}
	})

	it('verifies a valid key with exactly one Redis command (one GET)', async () => {
		const store = redisStore({ url: redis.url, namespace: uniqueNamespace('roundtrip') })
		const keyward = createKeyward({ store })
		const probe = createClient({ url: redis.url })
		await probe.connect()
		try {
			const { key } = await keyward.issue({ ownerId: 'u1' })
			await keyward.verify(key) // warm: connected
			const calls = async (): Promise<Record<string, number>> => {
				const stats = await probe.info('commandstats')
				return Object.fromEntries(
					[...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])] as const),
				)
			}
			const before = await calls()
			await keyward.verify(key)
			await keyward.verify(`${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}`) // malformed: no command
			const after = await calls()
			const delta = Object.entries(after)
				.map(([name, n]) => [name, n - (before[name] ?? 0)] as const)
				.filter(([name, n]) => n > 0 && name !== 'info')
			expect(Object.fromEntries(delta)).toEqual({ get: 1 })
		} finally {
			await probe.close()
			await store.close()
		}
	})

	it('keeps records readable through keyv over @keyv/redis with the same namespace', async () => {
		const namespace = uniqueNamespace('keyv')
		const store = redisStore({ url: url as string, namespace })
		const keyv = new Keyv({ store: new KeyvRedis(url as string, { namespace }), namespace, useKeyPrefix: false })
		try {
			const { record } = await createKeyward({ store }).issue({ ownerId: 'u1', metadata: { note: ':colon first' } })
			const entry = (await keyv.get(`h:${record.hash}`)) as { record: { id: string; metadata: unknown } }
			expect(entry.record.id).toBe(record.id)
			expect(entry.record.metadata).toEqual({ note: ':colon first' })
			// and a store over that same Keyv sees the record
			const viaKeyv = redisStore({ keyv })
			expect((await viaKeyv.getById(record.id))?.hash).toBe(record.hash)
		} finally {
			await keyv.clear()
			await keyv.disconnect()
			await store.close()
		}
	})

	it('sweeps at a cost proportional to the expired keys, not to all keys', async () => {
		const namespace = uniqueNamespace('indexed')
		const store = redisStore({ url: url as string, namespace })
		let now = new Date('2030-01-01T00:00:00Z')
		const keyward = createKeyward({ store, clock: () => now })
		try {
			for (let i = 0; i < 300; i++) await keyward.issue({ ownerId: `o${i}`, expiresIn: '30d' })
			for (let i = 0; i < 7; i++) await keyward.issue({ ownerId: 'x', expiresIn: '1h' })
			now = new Date('2030-01-02T00:00:00Z')
			const report = await keyward.sweep()
			expect(report).toMatchObject({ expired: 7, scanned: 7 })
		} finally {
			await wipe(namespace)
			await store.close()
		}
	})

	it('leaves a client the host passed in open after close()', async () => {
		const client = createClient({ url: url as string })
		await client.connect()
		const store = redisStore({ client, namespace: uniqueNamespace('hostclient') })
		await createKeyward({ store }).issue({ ownerId: 'u1' })
		await store.close()
		expect(await client.ping()).toBe('PONG')
		await client.close()
	})

	it('keeps namespaces apart on one server', async () => {
		const [a, b] = [uniqueNamespace('iso_a'), uniqueNamespace('iso_b')]
		const storeA = redisStore({ url: url as string, namespace: a })
		const storeB = redisStore({ url: url as string, namespace: b })
		try {
			const record = testRecord({ ownerId: 'shared-owner', expiresAt: new Date('2030-01-01T00:00:00Z') })
			await storeA.insert(record)
			await storeB.insert(record) // the same id and hash in another namespace is no conflict
			await storeA.blacklist(record.id, { reason: 'revoked', at: new Date('2029-01-01T00:00:00Z'), note: null })
			expect((await storeB.getById(record.id))?.blacklistedAt).toBeNull()
			expect(await storeB.listByOwner('shared-owner', { includeBlacklisted: false })).toHaveLength(1)
			expect((await storeB.moveExpired({ now: new Date('2031-01-01T00:00:00Z'), limit: 10 })).moved).toHaveLength(1)
			expect((await storeA.getById(record.id))?.reason).toBe('revoked')
		} finally {
			await wipe(a)
			await wipe(b)
			await storeA.close()
			await storeB.close()
		}
	})

	it('two OS processes sweeping at once move each expired key exactly once, then exit after close() with no timer left', async () => {
		const namespace = uniqueNamespace('procs')
		const seed = redisStore({ url: url as string, namespace })
		try {
			for (let i = 0; i < 1000; i++) {
				await seed.insert(testRecord({ expiresAt: new Date(Date.UTC(2029, 0, 1) + i) }))
			}
			const adapter = fileURLToPath(new URL('../../adapters/redis.ts', import.meta.url))
			const child = `
				import { redisStore } from ${JSON.stringify(adapter)}
				const store = redisStore({ url: process.env.KW_URL, namespace: process.env.KW_NS })
				await store.count({ expiredBy: new Date(0) })
				process.stdout.write('ready\\n')
				for await (const _ of process.stdin) break
				const ids = []
				for (;;) {
					const { moved } = await store.moveExpired({ now: new Date('2030-01-01T00:00:00Z'), limit: 25 })
					if (moved.length === 0) break
					for (const record of moved) ids.push(record.id)
				}
				process.stdout.write(JSON.stringify(ids) + '\\n')
				await store.close()
				// Nothing the store started may outlive close(): no timer keeps the process up.
				process.stdout.write(JSON.stringify(process.getActiveResourcesInfo()) + '\\n')
			`
			const children = [0, 1].map(() =>
				spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
					cwd: fileURLToPath(new URL('../..', import.meta.url)),
					env: { ...process.env, KW_URL: url, KW_NS: namespace },
					stdio: ['pipe', 'pipe', 'inherit'],
				}),
			)
			const outputs = children.map((proc) => {
				let out = ''
				proc.stdout.on('data', (chunk) => {
					out += chunk
				})
				const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve))
				return { exited, out: () => out }
			})
			await eventually(async () => {
				if (!outputs.every((o) => o.out().startsWith('ready\n'))) throw new Error('children not ready')
			}, 15_000)
			for (const proc of children) proc.stdin.end('go\n')
			expect(await Promise.all(outputs.map((o) => o.exited))).toEqual([0, 0]) // close() let each exit by itself
			const lines = outputs.map((o) => o.out().trimEnd().split('\n').slice(1))
			expect(lines.map(([, resources]) => JSON.parse(resources ?? '[]'))).toEqual([
				expect.not.arrayContaining(['Timeout']),
				expect.not.arrayContaining(['Timeout']),
			])
			const moved = lines.map(([ids]) => JSON.parse(ids ?? '[]') as string[])
			const all = moved.flat()
			expect(all).toHaveLength(1000)
			expect(new Set(all).size).toBe(1000)
			expect(await seed.count({ expiredBy: new Date('2030-01-01T00:00:00Z') })).toBe(0)
		} finally {
			await wipe(namespace)
			await seed.close()
		}
	})

	it("reports a server it never reached at once, with the driver's error, instead of waiting out its timeout", async () => {
		const store = redisStore({ url: 'redis://127.0.0.1:1', timeout: '1m' })
		const keyward = createKeyward({ store })
		try {
			// The first call starts the connection; the second finds node-redis retrying it in the background.
			for (let call = 0; call < 2; call++) {
				const error = await keyward.issue({ ownerId: 'u1' }).catch((e: unknown) => e)
				expect(isKeywardError(error, 'store_unavailable')).toBe(true)
				expect((error as Error).cause).toBeInstanceOf(Error) // the driver's, not the one-minute deadline's
			}
		} finally {
			await store.close()
		}
	}, 20_000)

	it('never puts the password of the URL in an error', async () => {
		const store = redisStore({ url: 'redis://app:s3cret-pw@127.0.0.1:1', timeout: '300ms' })
		const error = await createKeyward({ store })
			.issue({ ownerId: 'u1' })
			.catch((e: unknown) => e)
		expect(isKeywardError(error, 'store_unavailable')).toBe(true)
		let text = ''
		for (let e: unknown = error; e instanceof Error; e = e.cause) text += `${e.message}\n${e.stack}\n`
		expect(text).not.toContain('s3cret-pw')
		await store.close()
	})
})

/** Deletes every key of a namespace on the shared server. */
function wipe(namespace: string): Promise<void> {
	return wipeRedisNamespace(url as string, namespace)
}

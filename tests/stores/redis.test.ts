/**
 * redisStore behaviour beyond the conformance suite, against real Redis servers. Outages are real:
 * the tests start a private redis-server on a free loopback port, stop it and start it again.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import KeyvRedis, { createClient } from '@keyv/redis'
import Keyv from 'keyv'
import { createKeyward, isKeywardError } from 'keyward'
import { redisStore } from 'keyward/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'

const url = serverUrl('REDIS_URL')

async function freePort(): Promise<number> {
	const server = createServer()
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	const { port } = server.address() as { port: number }
	await new Promise((resolve) => server.close(resolve))
	return port
}

/** A private redis-server on a loopback port, that a test may stop and start. */
class PrivateRedis {
	process: ChildProcess | undefined
	constructor(readonly port: number) {}
	get url() {
		return `redis://127.0.0.1:${this.port}`
	}
	async start() {
		this.process = spawn(
			'redis-server',
			['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
			{
				stdio: 'ignore',
			},
		)
		for (let i = 0; i < 100; i++) {
			const client = createClient({ url: this.url, socket: { reconnectStrategy: false } })
			client.on('error', () => {})
			try {
				await client.connect()
				await client.ping()
				await client.close()
				return
			} catch {
				await new Promise((resolve) => setTimeout(resolve, 50))
			}
		}
		throw new Error(`redis-server did not start on port ${this.port}`)
	}
	async stop() {
		const exited = new Promise((resolve) => this.process?.once('exit', resolve))
		this.process?.kill('SIGKILL')
		await exited
	}
}

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
	afterAll(() => redis.stop())

	it('rejects with store_unavailable within the timeout while Redis is down, and recovers by itself', async () => {
		const store = redisStore({ url: redis.url, namespace: uniqueNamespace('outage'), timeout: '300ms' })
		const keyward = createKeyward({ store })
		try {
			const before = await keyward.issue({ ownerId: 'u1' })
			expect((await keyward.verify(before.key)).ok).toBe(true)
			await redis.stop()
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
			const client = createClient({ url: url as string })
			await client.connect()
			for await (const keys of client.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) {
				if (keys.length > 0) await client.unlink(keys)
			}
			await client.close()
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

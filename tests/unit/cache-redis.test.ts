import { createClient } from '@keyv/redis'
import { createKeyward, isKeywardError } from 'keyward'
import { verifyCache } from 'keyward/cache'
import { type RedisKeyStore, redisStore } from 'keyward/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, PrivateRedis, serverUrl, uniqueNamespace } from '../helpers/servers.js'
import { manualClock, SECOND } from './support.js'

// CI sets REDIS_URL: a missing redis-server fails there instead of skipping.
const enabled = serverUrl('REDIS_URL') !== undefined

describe.skipIf(!enabled)('cache › over redisStore (private redis-server)', () => {
	let redis: PrivateRedis
	beforeAll(async () => {
		redis = new PrivateRedis(await freePort())
		await redis.start()
	})
	afterAll(() => redis.dispose())

	/** Redis commands run since the last call, by name (INFO itself left out). */
	async function commandCounter() {
		const probe = createClient({ url: redis.url })
		await probe.connect()
		const read = async () => {
			const stats = await probe.info('commandstats')
			return new Map([...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1] as string, Number(m[2])]))
		}
		let last = await read()
		return {
			async since(): Promise<Record<string, number>> {
				const now = await read()
				const delta = [...now].map(([name, n]) => [name, n - (last.get(name) ?? 0)] as const)
				last = await read()
				return Object.fromEntries(delta.filter(([name, n]) => n > 0 && name !== 'info'))
			},
			close: () => probe.close(),
		}
	}

	it('cache › 100 verifies of a key cost one Redis GET within the TTL', async () => {
		const clock = manualClock()
		const store = redisStore({ url: redis.url, namespace: uniqueNamespace('cachehits') })
		const keyward = createKeyward({ store, clock: clock.read, cache: verifyCache({ ttl: '10s', clock: clock.read }) })
		const counter = await commandCounter()
		try {
			const { key } = await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
			await counter.since()
			for (let i = 0; i < 100; i++) expect((await keyward.verify(key)).ok).toBe(true)
			expect(await counter.since()).toEqual({ get: 1 })
			clock.set(10 * SECOND + 1)
			expect((await keyward.verify(key)).ok).toBe(true)
			expect(await counter.since()).toEqual({ get: 1 })
		} finally {
			await counter.close()
			await store.close()
		}
	})

	it('cache › a revoke through another store instance takes effect here after the TTL', async () => {
		const clock = manualClock()
		const namespace = uniqueNamespace('cachepeer')
		const stores: RedisKeyStore[] = [
			redisStore({ url: redis.url, namespace }),
			redisStore({ url: redis.url, namespace }),
		]
		const [mine, theirs] = stores as [RedisKeyStore, RedisKeyStore]
		const here = createKeyward({ store: mine, clock: clock.read, cache: verifyCache({ ttl: '5s', clock: clock.read }) })
		const there = createKeyward({ store: theirs, clock: clock.read })
		try {
			const { key, record } = await there.issue({ ownerId: 'u1', expiresIn: '1d' })
			expect((await here.verify(key)).ok).toBe(true) // a key issued elsewhere: found at once
			await there.revoke(record.id)
			clock.set(5 * SECOND)
			expect((await here.verify(key)).ok).toBe(true) // within the TTL: the documented delay
			clock.set(5 * SECOND + 1)
			expect(await here.verify(key)).toMatchObject({ ok: false, code: 'revoked_key' })
		} finally {
			for (const store of stores) await store.close()
		}
	})

	it('cache › with Redis down, a miss fails, the cache is cleared, and cached keys fail too', async () => {
		const store = redisStore({ url: redis.url, namespace: uniqueNamespace('cacheoutage'), timeout: '300ms' })
		const cache = verifyCache({ ttl: '1h' })
		const keyward = createKeyward({ store, cache })
		try {
			const cached = await keyward.issue({ ownerId: 'u1' })
			const other = await keyward.issue({ ownerId: 'u1' })
			expect((await keyward.verify(cached.key)).ok).toBe(true)
			await redis.stop('sigkill')
			const missed = await keyward.verify(other.key).catch((error: unknown) => error)
			expect(isKeywardError(missed, 'store_unavailable')).toBe(true)
			expect(cache.size).toBe(0)
			const again = await keyward.verify(cached.key).catch((error: unknown) => error)
			expect(isKeywardError(again, 'store_unavailable')).toBe(true) // fail closed, not a cached pass
		} finally {
			await redis.start() // an empty server again, for any later test
			await store.close()
		}
	})
})

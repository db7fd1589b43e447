/**
 * The optional verification cache (`keyward/cache`) through createKeyward(): what it saves, and
 * that it never answers a revoked, expired or unreachable key as valid beyond what docs/cache.md states.
 * The clock is injected into keyward and into the cache alike.
 */
import { createKeyward, type KeyRecord, type KeyStore, memoryStore } from 'keyward'
import { verifyCache } from 'keyward/cache'
import { describe, expect, it } from 'vitest'
import { at, countingStore, DAY, HOUR, keywardError, MINUTE, manualClock, SECOND } from './support.js'

function setup(options: { ttl?: '10s' | '1h'; max?: number; store?: KeyStore } = {}) {
	const clock = manualClock()
	const counted = countingStore(options.store ?? memoryStore())
	const cache = verifyCache({ ttl: options.ttl ?? '1h', max: options.max ?? 100, clock: clock.read })
	const keyward = createKeyward({ store: counted.store, clock: clock.read, cache })
	return { clock, counted, cache, keyward }
}

const code = (result: { ok: boolean; code?: string }) => (result.ok ? 'ok' : result.code)

describe('cache › what it saves', () => {
	it('cache › repeated verifies of a key read the store once within the TTL, then once more after it', async () => {
		const { clock, counted, keyward } = setup({ ttl: '10s' })
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		counted.reset()
		for (let i = 0; i < 50; i++) expect(await keyward.verify(key)).toEqual({ ok: true, record })
		expect(counted.count('getByHash')).toBe(1)
		clock.set(10 * SECOND) // the entry is served for at most the TTL
		await keyward.verify(key)
		expect(counted.count('getByHash')).toBe(1)
		clock.set(10 * SECOND + 1) // older than the TTL: read again
		expect(await keyward.verify(key)).toEqual({ ok: true, record })
		expect(counted.count('getByHash')).toBe(2)
	})

	it('cache › revoked keys are cached too, and still answer revoked_key', async () => {
		const { counted, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1' })
		await keyward.revoke(record.id)
		counted.reset()
		for (let i = 0; i < 5; i++) expect(code(await keyward.verify(key))).toBe('revoked_key')
		expect(counted.count('getByHash')).toBe(1)
	})

	it('cache › malformed keys never reach the cache or the store', async () => {
		const { counted, cache, keyward } = setup()
		counted.reset()
		for (const input of ['kw_nope', undefined, 42, 'sk_'.padEnd(35, 'x')]) await keyward.verify(input)
		expect(counted.count('getByHash')).toBe(0)
		expect(cache.size).toBe(0)
	})
})

describe('cache › expiry stays exact', () => {
	it('cache › a cached key answers expired_key at the instant of its expiresAt, without a store read', async () => {
		const { clock, counted, keyward } = setup({ ttl: '1h' })
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '30m' })
		counted.reset()
		expect((await keyward.verify(key)).ok).toBe(true) // cached now
		clock.set(30 * MINUTE - 1)
		expect((await keyward.verify(key)).ok).toBe(true)
		clock.set(30 * MINUTE)
		expect(await keyward.verify(key)).toEqual({ ok: false, code: 'expired_key', record, expiredAt: at(30 * MINUTE) })
		expect(await keyward.verify(key, { now: at(30 * MINUTE - 1) })).toEqual({ ok: true, record })
		expect(counted.count('getByHash')).toBe(1) // all of it from the cached record
	})
})

describe('cache › changes on the same instance take effect at once', () => {
	it('cache › revoke() drops the cached record: the next verify answers revoked_key', async () => {
		const { keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		expect((await keyward.verify(key)).ok).toBe(true)
		await keyward.revoke(record.id, { note: 'leaked' })
		expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'revoked_key', record: { note: 'leaked' } })
	})

	it('cache › rotate() drops the old key: its grace period ends on time, not at its old expiry', async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		expect((await keyward.verify(old.key)).ok).toBe(true) // cached with a 30-day expiry
		const next = await keyward.rotate(old.record.id, { gracePeriod: '10m' })
		clock.set(10 * MINUTE - 1)
		expect(await keyward.verify(old.key)).toMatchObject({ ok: true, record: { replacedBy: next.record.id } })
		clock.set(10 * MINUTE)
		expect(await keyward.verify(old.key)).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at(10 * MINUTE) })
		expect((await keyward.verify(next.key)).ok).toBe(true)
	})

	it('cache › sweep() drops moved records, and a purge makes purged keys unknown at once', async () => {
		const { clock, keyward } = setup()
		const expiring = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		const revoked = await keyward.issue({ ownerId: 'u1' })
		await keyward.revoke(revoked.record.id)
		expect((await keyward.verify(expiring.key)).ok).toBe(true)
		expect(code(await keyward.verify(revoked.key))).toBe('revoked_key')

		clock.set(2 * HOUR)
		expect(await keyward.sweep()).toMatchObject({ expired: 1 })
		// The swept record, not the cached active one: blacklistedAt says when it was swept.
		expect(await keyward.verify(expiring.key)).toMatchObject({
			code: 'expired_key',
			record: { blacklistedAt: at(2 * HOUR), reason: 'expired' },
		})
		clock.set(3 * HOUR) // both blacklisted more than 30 minutes ago
		expect(await keyward.sweep({ retention: '30m' })).toMatchObject({ purged: 2 })
		expect(code(await keyward.verify(expiring.key))).toBe('unknown_key')
		expect(code(await keyward.verify(revoked.key))).toBe('unknown_key')
	})

	it('cache › a verify whose store read overlaps a revoke does not cache the record it read', async () => {
		const inner = memoryStore()
		let hold: Promise<void> | undefined
		const slow: KeyStore = {
			...inner,
			getByHash: async (hash) => {
				const record = await inner.getByHash(hash)
				await hold // the read is done, its answer not yet delivered
				return record
			},
		}
		const { keyward, cache } = setup({ store: slow })
		const { key, record } = await keyward.issue({ ownerId: 'u1' })
		let release = () => {}
		hold = new Promise((resolve) => {
			release = resolve
		})
		const inFlight = keyward.verify(key) // reads the active record
		await keyward.revoke(record.id)
		release()
		hold = undefined
		expect((await inFlight).ok).toBe(true) // it read before the revoke
		expect(cache.size).toBe(0) // but did not cache what it read
		expect(code(await keyward.verify(key))).toBe('revoked_key')
	})
})

describe('cache › changes made by another instance', () => {
	it('cache › a revoke on another instance takes effect here when the TTL runs out', async () => {
		const clock = manualClock()
		const store = memoryStore() // shared, as a Redis or PostgreSQL store is between processes
		const here = createKeyward({ store, clock: clock.read, cache: verifyCache({ ttl: '10s', clock: clock.read }) })
		const there = createKeyward({ store, clock: clock.read })
		const { key, record } = await here.issue({ ownerId: 'u1', expiresIn: '1d' })
		clock.set(SECOND)
		expect((await here.verify(key)).ok).toBe(true) // cached at 1 s

		clock.set(2 * SECOND)
		await there.revoke(record.id)
		expect(code(await there.verify(key))).toBe('revoked_key')
		clock.set(11 * SECOND)
		expect((await here.verify(key)).ok).toBe(true) // the documented window: up to the TTL
		clock.set(11 * SECOND + 1)
		expect(code(await here.verify(key))).toBe('revoked_key')
	})

	it('cache › misses are never cached: a key issued on another instance is valid here at once', async () => {
		const store = memoryStore()
		const { cache, counted, keyward: here } = setup({ store })
		const there = createKeyward({ store: memoryStore() }) // makes a key whose record `store` does not hold yet
		const { key, record } = await there.issue({ ownerId: 'u1' })
		expect(code(await here.verify(key))).toBe('unknown_key')
		expect(code(await here.verify(key))).toBe('unknown_key')
		expect(cache.size).toBe(0)
		await store.insert(record) // now issued "elsewhere" into the shared store
		expect(await here.verify(key)).toEqual({ ok: true, record })
		expect(counted.count('getByHash')).toBe(3)
	})

	it('cache › many unknown keys do not evict the cached ones', async () => {
		const { cache, counted, keyward } = setup({ max: 3 })
		const issued = [await keyward.issue({ ownerId: 'u1' }), await keyward.issue({ ownerId: 'u1' })]
		for (const { key } of issued) await keyward.verify(key)
		const stranger = createKeyward()
		for (let i = 0; i < 20; i++) {
			const { key } = await stranger.issue({ ownerId: 'x' })
			expect(code(await keyward.verify(key))).toBe('unknown_key')
		}
		expect(cache.size).toBe(2)
		counted.reset()
		for (const { key } of issued) expect((await keyward.verify(key)).ok).toBe(true)
		expect(counted.count('getByHash')).toBe(0)
	})
})

describe('cache › bounds', () => {
	it('cache › holds at most max records; the least recently used is read from the store again', async () => {
		const { cache, counted, keyward } = setup({ max: 3 })
		const issued = []
		for (let i = 0; i < 5; i++) issued.push(await keyward.issue({ ownerId: 'u1' }))
		for (const { key } of issued) await keyward.verify(key)
		expect(cache.size).toBe(3)
		counted.reset()
		for (const { key } of issued.slice(2)) expect((await keyward.verify(key)).ok).toBe(true)
		expect(counted.count('getByHash')).toBe(0)
		expect((await keyward.verify(issued[0]?.key)).ok).toBe(true) // evicted: one read
		expect(counted.count('getByHash')).toBe(1)
		expect(cache.size).toBe(3)
	})

	it('cache › cached records are frozen: a caller cannot change what the next request sees', async () => {
		const { keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1', scopes: ['read'], metadata: { plan: 'free' } })
		const result = await keyward.verify(key)
		if (!result.ok) throw new Error('expected a valid key')
		expect(() => (result.record.scopes as string[]).push('admin')).toThrow(TypeError)
		expect(() => {
			;(result.record.metadata as Record<string, unknown>).plan = 'pro'
		}).toThrow(TypeError)
		expect(await keyward.verify(key)).toMatchObject({ record: { scopes: ['read'], metadata: { plan: 'free' } } })
	})
})

describe('cache › a changed record is not trusted', () => {
	it("cache › moving a cached record's expiresAt with setTime does not extend the key: it is read again", async () => {
		const { clock, counted, keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1', expiresIn: '30m' })
		const result = await keyward.verify(key)
		if (!result.ok) throw new Error('expected a valid key')
		;(result.record.expiresAt as Date).setTime(at(365 * DAY).getTime()) // a Date cannot be frozen
		counted.reset()
		clock.set(30 * MINUTE)
		expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at(30 * MINUTE) })
		expect(counted.count('getByHash')).toBe(1) // the changed entry was dropped and the store read
		expect(code(await keyward.verify(key))).toBe('expired_key')
		expect(counted.count('getByHash')).toBe(1) // the fresh record is cached again
	})
})

describe('cache › store failures fail closed', () => {
	/** A memory store that fails every call while `down` is set: the fault a network store has. */
	function flakyStore() {
		const inner = memoryStore()
		const state = { down: false }
		const guard =
			<A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
			async (...args: A): Promise<R> => {
				if (state.down) throw new Error('ECONNREFUSED 127.0.0.1:6379')
				return call(...args)
			}
		const store: KeyStore = {
			name: 'flaky',
			capabilities: inner.capabilities,
			insert: guard(inner.insert),
			getByHash: guard(inner.getByHash),
			getById: guard(inner.getById),
			listByOwner: guard(inner.listByOwner),
			listExpiring: guard(inner.listExpiring),
			count: guard(inner.count),
			update: guard(inner.update),
			blacklist: guard(inner.blacklist),
			moveExpired: guard(inner.moveExpired),
			purgeBlacklisted: guard(inner.purgeBlacklisted),
		}
		return { store, state }
	}

	it('cache › once a store read fails, no key is answered from the cache until the store answers again', async () => {
		const { store, state } = flakyStore()
		const { cache, keyward } = setup({ store })
		const a = await keyward.issue({ ownerId: 'u1' })
		const b = await keyward.issue({ ownerId: 'u1' })
		expect((await keyward.verify(a.key)).ok).toBe(true) // cached
		state.down = true
		await keywardError(() => keyward.verify(b.key), 'store_unavailable') // a miss notices the outage
		expect(cache.size).toBe(0)
		const error = await keywardError(() => keyward.verify(a.key), 'store_unavailable') // not served from the cache
		expect(error.message).not.toContain(a.key)
		state.down = false
		expect((await keyward.verify(a.key)).ok).toBe(true)
		expect(cache.size).toBe(1)
	})

	it('cache › a revoke that fails (it may have landed) clears the cache', async () => {
		const { store, state } = flakyStore()
		const { cache, keyward } = setup({ store })
		const a = await keyward.issue({ ownerId: 'u1' })
		await keyward.verify(a.key)
		expect(cache.size).toBe(1)
		state.down = true
		await keywardError(() => keyward.revoke(a.record.id), 'store_unavailable')
		expect(cache.size).toBe(0)
	})
})

describe('cache › options', () => {
	it('cache › verifyCache() refuses unknown options, a missing or out-of-range ttl and a bad max or clock', async () => {
		await keywardError(() => verifyCache({ ttl: '10s', maxAge: 5 } as never), 'invalid_option')
		const missing = await keywardError(() => verifyCache({} as never), 'invalid_option')
		expect(missing.message).toContain('ttl')
		await keywardError(() => verifyCache({ ttl: 0 }), 'invalid_option')
		await keywardError(() => verifyCache({ ttl: '2h' }), 'invalid_option')
		await keywardError(() => verifyCache({ ttl: 'soon' as never }), 'invalid_option')
		await keywardError(() => verifyCache({ ttl: '10s', max: 0 }), 'invalid_option')
		await keywardError(() => verifyCache({ ttl: '10s', max: 1.5 }), 'invalid_option')
		await keywardError(() => verifyCache({ ttl: '10s', clock: 'now' as never }), 'invalid_option')
		await keywardError(() => verifyCache(undefined as never), 'invalid_option')
		await keywardError(() => verifyCache({ ttl: '10s', max: 1_000_001 }), 'invalid_option')
		expect(verifyCache({ ttl: '1h', max: 1 }).size).toBe(0)
	})

	it('cache › createKeyward() refuses a cache without the VerifyCache methods', async () => {
		await keywardError(() => createKeyward({ cache: {} as never }), 'invalid_option')
		await keywardError(() => createKeyward({ cache: 'lru' as never }), 'invalid_option')
		const partial = await keywardError(
			() => createKeyward({ cache: { get: () => undefined, set: () => {} } as never }),
			'invalid_option',
		)
		expect(partial.message).toContain('delete, clear')
	})

	it('cache › any object with get, set, delete and clear works as a cache', async () => {
		const map = new Map<string, KeyRecord>()
		const keyward = createKeyward({
			cache: {
				get: (hash) => map.get(hash),
				set: (hash, record) => void map.set(hash, record),
				delete: (hash) => void map.delete(hash),
				clear: () => map.clear(),
			},
		})
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		await keyward.verify(key)
		expect([...map.values()]).toEqual([record])
		await keyward.revoke(record.id)
		expect(map.size).toBe(0)
		expect(code(await keyward.verify(key, { now: at(DAY) }))).toBe('revoked_key')
	})
})

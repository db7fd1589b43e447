import Keyv from 'keyv'
import { createKeyward, type IssuedKey, isKeywardError, type KeyvLike, keyvStore, sweep } from 'keyward'
import { testRecord } from 'keyward/testing'
import { describe, expect, it } from 'vitest'
import { at, DAY, HOUR, keywardError, manualClock } from './support.js'

/**
 * A fake keyv storage adapter that looks like a server one (@keyv/redis): keyv trusts its iterator
 * because of `opts.dialect`. `fail = true` makes every method throw, like a lost connection;
 * `refuse(key)` makes `set` answer `false` for the keys it matches.
 */
function fakeAdapter(extra: Record<string, unknown> = {}) {
	const data = new Map<string, unknown>()
	const adapter = {
		fail: false,
		refuse: (_key: string) => false,
		data,
		opts: { dialect: 'redis', url: 'redis://x' },
		namespace: undefined as string | undefined,
		check() {
			if (adapter.fail) throw new Error('ECONNREFUSED 127.0.0.1:6379')
		},
		async get(key: string) {
			adapter.check()
			return data.get(key)
		},
		async set(key: string, value: unknown) {
			adapter.check()
			if (adapter.refuse(key)) return false
			data.set(key, value)
			return true
		},
		async delete(key: string) {
			adapter.check()
			return data.delete(key)
		},
		async clear() {
			adapter.check()
			data.clear()
		},
		async *iterator(namespace?: string) {
			adapter.check()
			for (const [key, value] of data) {
				if (namespace === undefined || key.startsWith(`${namespace}:`)) yield [key, value]
			}
		},
		...extra,
	}
	return adapter
}

function keywardOver(keyv: KeyvLike, namespace?: string) {
	const clock = manualClock()
	const store = keyvStore(keyv, namespace === undefined ? {} : { namespace })
	return { clock, keyward: createKeyward({ store, clock: clock.read }) }
}

describe('keyvStore › refuses a Keyv that could hide failures', () => {
	it('keyvStore › rejects a Keyv over a non-Map adapter without throwOnErrors (invalid_store)', async () => {
		const error = await keywardError(() => keyvStore(new Keyv({ store: fakeAdapter() })), 'invalid_store')
		expect(error.message).toContain('throwOnErrors')
		await keywardError(() => keyvStore(new Keyv({ store: fakeAdapter(), throwOnErrors: false })), 'invalid_store')
	})

	it('keyvStore › rejects an adapter created with throwOnErrors: false, even under a throwing Keyv', async () => {
		const adapter = fakeAdapter({ throwOnErrors: false })
		const error = await keywardError(
			() => keyvStore(new Keyv({ store: adapter, throwOnErrors: true })),
			'invalid_store',
		)
		expect(error.message).toContain('adapter')
	})

	it('keyvStore › rejects a Keyv whose backend cannot iterate', async () => {
		const { iterator: _, ...noIterator } = fakeAdapter()
		const memcache = fakeAdapter({ opts: { dialect: 'memcache', url: 'memcache://x' } })
		for (const store of [noIterator, memcache]) {
			const keyv = new Keyv({ store, throwOnErrors: true })
			expect(keyv.iterator).toBeUndefined()
			const error = await keywardError(() => keyvStore(keyv), 'invalid_store')
			expect(error.message).toContain('iterate')
		}
	})

	it('keyvStore › rejects something that is not a Keyv at all', async () => {
		const values: unknown[] = [undefined, null, {}, 'redis://user:pw@host', new Map(), { get() {}, set() {} }]
		for (const value of values) {
			const error = await keywardError(() => keyvStore(value as KeyvLike), 'invalid_store')
			expect(error.message).not.toContain('pw@host')
		}
	})

	it('keyvStore › accepts a plain new Keyv() (Map backend) and a throwing Keyv over an iterable adapter', () => {
		expect(keyvStore(new Keyv()).name).toBe('keyv')
		expect(keyvStore(new Keyv({ store: fakeAdapter(), throwOnErrors: true })).name).toBe('keyv')
	})

	it('keyvStore › rejects a bad namespace or an unknown option with invalid_option', async () => {
		for (const options of [{ namespace: '' }, { namespace: 'a:b' }, { namespace: 'x'.repeat(65) }, { ns: 'a' }]) {
			await keywardError(() => keyvStore(new Keyv(), options as { namespace: string }), 'invalid_option')
		}
	})
})

describe('keyvStore › a failing backend', () => {
	async function failingSetup() {
		const adapter = fakeAdapter()
		const { clock, keyward } = keywardOver(new Keyv({ store: adapter, throwOnErrors: true }))
		const active = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		const other = await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		expect((await keyward.verify(active.key)).ok).toBe(true) // the adapter works until it fails
		expect(await keyward.list({ ownerId: 'u1' })).toHaveLength(2)
		clock.set(2 * HOUR)
		adapter.fail = true
		return { adapter, keyward, active, other }
	}

	it('keyvStore › with the backend down, verify rejects with store_unavailable, never unknown_key', async () => {
		const { keyward, active } = await failingSetup()
		const error = await keywardError(() => keyward.verify(active.key), 'store_unavailable')
		expect((error.cause as Error).message).toContain('ECONNREFUSED')
		expect(error.message).not.toContain(active.key)
	})

	it('keyvStore › with the backend down, issue, revoke, rotate, get, list, expiring and sweep reject with store_unavailable', async () => {
		const { keyward, other } = await failingSetup()
		await keywardError(() => keyward.issue({ ownerId: 'u1' }), 'store_unavailable')
		await keywardError(() => keyward.revoke(other.record.id), 'store_unavailable')
		await keywardError(() => keyward.rotate(other.record.id), 'store_unavailable')
		await keywardError(() => keyward.get(other.record.id), 'store_unavailable')
		await keywardError(() => keyward.list({ ownerId: 'u1' }), 'store_unavailable')
		await keywardError(() => keyward.expiring({ within: '7d' }), 'store_unavailable')
		await keywardError(() => keyward.sweep(), 'store_unavailable')
		await keywardError(() => keyward.sweep({ dryRun: true }), 'store_unavailable')
		await keywardError(() => keyward.sweep({ retention: '1d' }), 'store_unavailable')
	})

	it('keyvStore › once the backend is back, nothing was lost or half-done', async () => {
		const { adapter, keyward, active, other } = await failingSetup()
		await keywardError(() => keyward.sweep(), 'store_unavailable')
		await keywardError(() => keyward.revoke(other.record.id), 'store_unavailable')
		adapter.fail = false
		expect(await keyward.verify(active.key)).toMatchObject({ code: 'expired_key' })
		expect((await keyward.verify(other.key)).ok).toBe(true)
		expect((await keyward.sweep()).expired).toBe(1)
	})

	it('keyvStore › when keyv refuses to write the id index, issue rejects instead of leaving an unrevocable key', async () => {
		const adapter = fakeAdapter()
		const { keyward } = keywardOver(new Keyv({ store: adapter, throwOnErrors: true }))
		adapter.refuse = (key) => key.includes(':i:')
		const outcome = await keyward.issue({ ownerId: 'u1' }).catch((error: unknown) => error)
		adapter.refuse = () => false
		if (isKeywardError(outcome, 'store_unavailable')) return // refused: nothing usable was handed out
		const { key, record } = outcome as IssuedKey
		expect((await keyward.verify(key)).ok).toBe(true) // the key works…
		expect(await keyward.get(record.id), 'get() cannot find the issued key').toEqual(record) // …so it must be found
		await keyward.revoke(record.id)
		expect(await keyward.verify(key)).toMatchObject({ code: 'revoked_key' })
	})

	it('keyvStore › issue fails with store_unavailable when keyv refuses to write the record', async () => {
		const adapter = fakeAdapter()
		const { keyward } = keywardOver(new Keyv({ store: adapter, throwOnErrors: true }))
		adapter.refuse = (key) => key.includes(':h:')
		await keywardError(() => keyward.issue({ ownerId: 'u1' }), 'store_unavailable')
	})
})

describe('keyvStore › behaviour over keyv', () => {
	it('keyvStore › a Keyv with a default ttl does not make records vanish (records are written with ttl 0)', async () => {
		const keyv = new Keyv({ ttl: 50 })
		const keyward = createKeyward({ store: keyvStore(keyv) }) // real time: keyv's ttl runs on Date.now()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		const revoked = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		await keyward.revoke(revoked.record.id)
		await keyv.set('unrelated', 'gone soon') // the default ttl still applies to other data
		await new Promise((resolve) => setTimeout(resolve, 120))
		expect(await keyv.get('unrelated')).toBeUndefined()
		expect(await keyward.verify(key)).toEqual({ ok: true, record })
		expect(await keyward.get(record.id)).toEqual(record)
		expect(await keyward.verify(revoked.key)).toMatchObject({ code: 'revoked_key' })
		expect(await keyward.list({ ownerId: 'u1', includeBlacklisted: true })).toHaveLength(2)
	})

	it("keyvStore › two keyvStores over one Keyv with different namespaces do not see each other's records", async () => {
		const keyv = new Keyv()
		const a = keywardOver(keyv, 'alpha')
		const b = keywardOver(keyv, 'beta')
		const inA: IssuedKey[] = []
		for (let i = 0; i < 2; i++) inA.push(await a.keyward.issue({ ownerId: 'u1', expiresIn: '1h' }))
		const inB: IssuedKey[] = []
		for (let i = 0; i < 3; i++) inB.push(await b.keyward.issue({ ownerId: 'u1', expiresIn: '1h' }))

		expect(await a.keyward.list({ ownerId: 'u1' })).toHaveLength(2)
		expect(await b.keyward.list({ ownerId: 'u1' })).toHaveLength(3)
		expect(await a.keyward.verify(inB[0]?.key)).toEqual({ ok: false, code: 'unknown_key' })
		expect(await b.keyward.get(inA[0]?.record.id as string)).toBeNull()
		await keywardError(() => b.keyward.revoke(inA[0]?.record.id as string), 'not_found')
		expect(await a.keyward.expiring({ within: '1d' })).toHaveLength(2)

		a.clock.set(DAY)
		expect(await a.keyward.sweep({ dryRun: true })).toMatchObject({ expired: 2 })
		expect(await a.keyward.sweep()).toMatchObject({ expired: 2 })
		expect(await b.keyward.list({ ownerId: 'u1' })).toHaveLength(3)
		await b.keyward.revoke(inB[0]?.record.id as string, { now: at(0) })
		expect(await a.keyward.sweep({ now: at(10 * DAY), retention: '1d' })).toMatchObject({ expired: 0, purged: 2 })
		expect(await b.keyward.get(inB[0]?.record.id as string)).toMatchObject({ reason: 'revoked' })
		b.clock.set(DAY)
		expect(await b.keyward.sweep()).toMatchObject({ expired: 2, purged: 0 })
	})

	it('keyvStore › ignores unrelated data in the same Keyv, even data shaped almost like a record', async () => {
		const keyv = new Keyv()
		await keyv.set('plain', 'value')
		await keyv.set('keyward:h:abc', { keyward: 1, ns: 'keyward', record: 'not a record' })
		await keyv.set('fake', { keyward: 1, ns: 'keyward', record: { hash: 'h', ownerId: 'u1', blacklistedAt: null } })
		const { clock, keyward } = keywardOver(keyv)
		await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		expect(await keyward.list({ ownerId: 'u1', includeBlacklisted: true })).toHaveLength(1)
		clock.set(DAY)
		expect((await keyward.sweep()).expired).toBe(1)
		expect(await keyv.get('plain')).toBe('value')
	})

	it('keyvStore › works end to end over a throwing Keyv with an iterable adapter', async () => {
		const { clock, keyward } = keywardOver(new Keyv({ store: fakeAdapter(), throwOnErrors: true }))
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h', scopes: ['read'] })
		expect(await keyward.verify(key)).toEqual({ ok: true, record })
		clock.set(HOUR)
		expect(await keyward.sweep()).toMatchObject({ expired: 1 })
		expect(await keyward.verify(key)).toMatchObject({ code: 'expired_key', expiredAt: at(HOUR) })
		expect(await keyward.sweep({ now: at(3 * DAY), retention: '1d' })).toMatchObject({ purged: 1 })
		expect(await keyward.verify(key)).toEqual({ ok: false, code: 'unknown_key' })
	})

	it('keyvStore › a sweep scans the store about twice, not once per batch', async () => {
		const store = keyvStore(new Keyv())
		for (let i = 0; i < 3000; i++) await store.insert(testRecord({ expiresAt: at(i < 1000 ? i : 10 * DAY) }))
		const report = await sweep(store, { now: at(DAY), batchSize: 100 })
		expect(report.expired).toBe(1000)
		// One scan that moves 100 and keeps the other 900 hashes, 900 re-reads, one last scan that finds nothing.
		expect(report.scanned).toBeLessThanOrEqual(2 * 3000 + 1000)
		expect(await store.count({ expiredBy: at(DAY) })).toBe(0)
	})

	it('keyvStore › hashes kept between batches are read again: one revoked meanwhile is not moved, and none is lost', async () => {
		const store = keyvStore(new Keyv())
		const records = Array.from({ length: 300 }, (_, i) => testRecord({ expiresAt: at(i) }))
		for (const record of records) await store.insert(record)
		const first = await store.moveExpired({ now: at(DAY), limit: 100 })
		const movedIds = new Set(first.moved.map((record) => record.id))
		const pending = records.filter((record) => !movedIds.has(record.id))
		for (const record of pending.slice(0, 50)) {
			await store.blacklist(record.id, { reason: 'revoked', at: at(DAY), note: null })
		}
		for (;;) {
			const { moved } = await store.moveExpired({ now: at(DAY), limit: 100 })
			for (const record of moved) {
				expect(movedIds.has(record.id)).toBe(false)
				movedIds.add(record.id)
			}
			if (moved.length < 100) break
		}
		expect(movedIds.size).toBe(250)
		for (const record of pending.slice(0, 50)) expect((await store.getById(record.id))?.reason).toBe('revoked')
		expect(await store.count({ expiredBy: at(DAY) })).toBe(0)
	})
})

/**
 * `keyward/testing`: the store conformance suite. Every {@link KeyStore} (the built-in ones and
 * yours) must pass it. It uses `node:assert` and takes `it` from your test runner (vitest, jest,
 * `node:test`), so it works with any of them.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { storeConformance } from 'keyward/testing'
 * import { myStore } from '../src/my-store.js'
 *
 * describe('myStore', () => {
 *   storeConformance({ it, createStore: () => myStore({ namespace: `test-${crypto.randomUUID()}` }) })
 * })
 * ```
 * @packageDocumentation
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { isKeywardError } from '../errors.js'
import { createKeyward } from '../keyward.js'
import type { KeyRecord } from '../record.js'
import type { KeyStore } from '../store.js'

/** A test-registering function such as vitest's or jest's `it`, or `node:test`'s `test`. */
export type TestFunction = (name: string, fn: () => Promise<void>) => unknown

/** Options of {@link storeConformance}. */
export interface StoreConformanceOptions {
	/** Your runner's `it`. */
	readonly it: TestFunction
	/** A new, empty, isolated store (a fresh namespace, table or database) for each test. The suite closes it. */
	readonly createStore: () => KeyStore | Promise<KeyStore>
	/**
	 * A second, independent handle on the same data as `store` (its own connection), as another
	 * process would have. When given, concurrency tests race the two; otherwise they race one store.
	 */
	readonly openPeer?: (store: KeyStore) => KeyStore | Promise<KeyStore>
	/**
	 * A store whose backend cannot be reached (a stopped server, a closed port). When given, the
	 * suite checks that every failure surfaces as `store_unavailable`, never as a missing key.
	 */
	readonly createUnavailableStore?: () => KeyStore | Promise<KeyStore>
	/** Prefixed to every test name. @defaultValue `''` */
	readonly prefix?: string
}

const T0 = Date.UTC(2030, 0, 1)
const at = (ms: number) => new Date(T0 + ms)

/**
 * Builds a plausible record for store tests: random id and hash, active, never expiring unless
 * `fields` says otherwise. Never a real key's hash.
 *
 * @param fields - fields to set
 * @returns a {@link KeyRecord}
 */
export function testRecord(fields: Partial<KeyRecord> = {}): KeyRecord {
	return {
		id: randomUUID(),
		hash: randomBytes(32).toString('base64url'),
		prefix: 'kw',
		hint: 'kw_Test',
		ownerId: 'owner-1',
		name: 'test key',
		createdAt: at(0),
		expiresAt: null,
		scopes: ['read', 'write'],
		metadata: { plan: 'pro', nested: { n: 1, list: [1, 'two'] } },
		lastUsedAt: null,
		replacedBy: null,
		blacklistedAt: null,
		reason: null,
		note: null,
		...fields,
	}
}

/**
 * Registers the conformance tests for a {@link KeyStore} implementation with your test runner.
 *
 * @param options - see {@link StoreConformanceOptions}
 */
export function storeConformance(options: StoreConformanceOptions): void {
	const { it, createStore, openPeer, createUnavailableStore, prefix = '' } = options

	const test = (name: string, body: (store: KeyStore) => Promise<void>) =>
		it(`${prefix}${name}`, async () => {
			const store = await createStore()
			try {
				await body(store)
			} finally {
				await store.close?.()
			}
		})

	const insertAll = async (store: KeyStore, records: KeyRecord[]) => {
		for (const record of records) await store.insert(record)
	}

	test('insert › a record reads back by hash and by id, field for field', async (store) => {
		const record = testRecord({ expiresAt: at(60_000), lastUsedAt: at(5) })
		await store.insert(record)
		assert.deepEqual(await store.getByHash(record.hash), record)
		assert.deepEqual(await store.getById(record.id), record)
		const found = await store.getByHash(record.hash)
		assert.ok(found?.createdAt instanceof Date && found.expiresAt instanceof Date, 'instants come back as Date objects')
	})

	test('insert › keeps a record inserted already blacklisted (an import) out of sweeps, and purges it', async (store) => {
		const imported = testRecord({ expiresAt: at(10), blacklistedAt: at(20), reason: 'revoked', note: 'imported' })
		const due = testRecord({ expiresAt: at(30) })
		await insertAll(store, [imported, due])
		assert.deepEqual(await store.getById(imported.id), imported)
		assert.equal(await store.count({ expiredBy: at(100) }), 1)
		const { moved } = await store.moveExpired({ now: at(100), limit: 1 })
		assert.deepEqual(
			moved.map((r) => r.id),
			[due.id],
			'the import is not moved again; the active key is',
		)
		assert.equal((await store.getById(imported.id))?.reason, 'revoked')
		assert.equal((await store.purgeBlacklisted({ before: at(25), limit: 10 })).purged, 1)
		assert.equal(await store.getById(imported.id), null)
	})

	test('getByHash and getById › answer null for keys the store does not hold', async (store) => {
		await store.insert(testRecord())
		assert.equal(await store.getByHash(testRecord().hash), null)
		assert.equal(await store.getById(randomUUID()), null)
	})

	test('insert › rejects a record whose id or hash is taken, with code conflict', async (store) => {
		const record = testRecord()
		await store.insert(record)
		for (const clash of [testRecord({ id: record.id }), testRecord({ hash: record.hash })]) {
			await assert.rejects(store.insert(clash), (error) => isKeywardError(error, 'conflict'))
		}
		assert.deepEqual(await store.getById(record.id), record)
	})

	test('records › changing a passed-in or returned record does not change the store', async (store) => {
		const record = testRecord({ expiresAt: at(1000) })
		const original = structuredClone(record)
		await store.insert(record)
		const mutable = record as { -readonly [K in keyof KeyRecord]: KeyRecord[K] }
		;(mutable.scopes as string[]).push('admin')
		;(mutable.metadata as Record<string, unknown>).plan = 'free'
		mutable.expiresAt?.setTime(0)
		const read = (await store.getById(record.id)) as KeyRecord
		try {
			;(read.scopes as string[]).push('admin')
			read.expiresAt?.setTime(0)
		} catch {
			// frozen records are fine too
		}
		assert.deepEqual(await store.getById(record.id), original)
	})

	test('listByOwner › lists one owner’s active records oldest first, blacklisted ones on request', async (store) => {
		const newer = testRecord({ ownerId: 'alice', createdAt: at(2000) })
		const older = testRecord({ ownerId: 'alice', createdAt: at(1000) })
		const revoked = testRecord({ ownerId: 'alice', createdAt: at(1500) })
		const other = testRecord({ ownerId: 'bob' })
		await insertAll(store, [newer, older, revoked, other])
		await store.blacklist(revoked.id, { reason: 'revoked', at: at(3000), note: null })
		assert.deepEqual(
			(await store.listByOwner('alice', { includeBlacklisted: false })).map((r) => r.id),
			[older.id, newer.id],
		)
		const all = await store.listByOwner('alice', { includeBlacklisted: true })
		assert.deepEqual(
			all.map((r) => r.id),
			[older.id, revoked.id, newer.id],
		)
		assert.equal(all[1]?.reason, 'revoked')
		assert.deepEqual(await store.listByOwner('nobody', { includeBlacklisted: true }), [])
	})

	test('listExpiring › answers active records expiring in (after, until], soonest first, up to limit', async (store) => {
		const records = [5000, 1000, 3000, 2000, 4000].map((ms) => testRecord({ expiresAt: at(ms) }))
		const never = testRecord()
		const revoked = testRecord({ expiresAt: at(2500) })
		await insertAll(store, [...records, never, revoked])
		await store.blacklist(revoked.id, { reason: 'revoked', at: at(0), note: null })
		const expiries = (list: KeyRecord[]) => list.map((r) => (r.expiresAt as Date).getTime() - T0)
		assert.deepEqual(
			expiries(await store.listExpiring({ after: at(1000), until: at(4000), limit: 100 })),
			[2000, 3000, 4000],
		)
		assert.deepEqual(expiries(await store.listExpiring({ after: null, until: at(4000), limit: 2 })), [1000, 2000])
		assert.deepEqual(await store.listExpiring({ after: at(5000), until: at(9000), limit: 100 }), [])
	})

	test('count › counts expired records (expiresAt <= expiredBy) and old blacklist entries (blacklistedAt < before)', async (store) => {
		await insertAll(store, [
			testRecord({ expiresAt: at(1000) }),
			testRecord({ expiresAt: at(2000) }),
			testRecord({ expiresAt: at(2001) }),
			testRecord(),
		])
		const revokedA = testRecord()
		const revokedB = testRecord()
		await insertAll(store, [revokedA, revokedB])
		await store.blacklist(revokedA.id, { reason: 'revoked', at: at(100), note: null })
		await store.blacklist(revokedB.id, { reason: 'revoked', at: at(200), note: null })
		assert.equal(await store.count({ expiredBy: at(2000) }), 2)
		assert.equal(await store.count({ expiredBy: at(0) }), 0)
		assert.equal(await store.count({ blacklistedBefore: at(200) }), 1)
		assert.equal(await store.count({ blacklistedBefore: at(201) }), 2)
	})

	test('update › changes an active record, answers null for blacklisted or unknown ids', async (store) => {
		const record = testRecord({ expiresAt: at(9000) })
		const revoked = testRecord()
		await insertAll(store, [record, revoked])
		await store.blacklist(revoked.id, { reason: 'revoked', at: at(1), note: null })
		const updated = await store.update(record.id, { expiresAt: at(4000), replacedBy: revoked.id })
		assert.deepEqual(updated, { ...record, expiresAt: at(4000), replacedBy: revoked.id })
		assert.deepEqual(await store.getByHash(record.hash), updated)
		assert.deepEqual(await store.update(record.id, { expiresAt: null }), { ...updated, expiresAt: null })
		assert.equal(await store.update(revoked.id, { expiresAt: at(1) }), null)
		assert.equal(await store.update(randomUUID(), { expiresAt: at(1) }), null)
	})

	test('blacklist › moves an active record once; a second call answers it unchanged; unknown ids answer null', async (store) => {
		const record = testRecord({ expiresAt: at(9000) })
		await store.insert(record)
		const first = await store.blacklist(record.id, { reason: 'revoked', at: at(500), note: 'leaked in a log' })
		const expected = { ...record, blacklistedAt: at(500), reason: 'revoked', note: 'leaked in a log' }
		assert.deepEqual(first, { record: expected, moved: true })
		assert.deepEqual(await store.getByHash(record.hash), expected)
		assert.deepEqual(await store.blacklist(record.id, { reason: 'expired', at: at(900), note: null }), {
			record: expected,
			moved: false,
		})
		assert.equal(await store.blacklist(randomUUID(), { reason: 'revoked', at: at(1), note: null }), null)
		assert.deepEqual(await store.listExpiring({ after: null, until: at(10_000), limit: 10 }), [])
	})

	test('moveExpired › moves exactly the active records with expiresAt <= now, stamped with now and reason expired', async (store) => {
		const due = [testRecord({ expiresAt: at(1000) }), testRecord({ expiresAt: at(2000) })]
		const notDue = testRecord({ expiresAt: at(2001) })
		const never = testRecord()
		const revoked = testRecord({ expiresAt: at(10) })
		await insertAll(store, [...due, notDue, never, revoked])
		await store.blacklist(revoked.id, { reason: 'revoked', at: at(5), note: null })
		const { moved, scanned } = await store.moveExpired({ now: at(2000), limit: 100 })
		assert.deepEqual(moved.map((r) => r.id).sort(), due.map((r) => r.id).sort())
		assert.ok(scanned >= moved.length, 'scanned counts at least the moved records')
		for (const record of due) {
			assert.deepEqual(await store.getById(record.id), {
				...record,
				blacklistedAt: at(2000),
				reason: 'expired',
				note: null,
			})
		}
		assert.equal((await store.getById(notDue.id))?.blacklistedAt, null)
		assert.equal((await store.getById(never.id))?.blacklistedAt, null)
		assert.equal((await store.getById(revoked.id))?.reason, 'revoked')
		assert.deepEqual((await store.moveExpired({ now: at(2000), limit: 100 })).moved, [])
	})

	test('moveExpired › moves at most limit records per call', async (store) => {
		await insertAll(
			store,
			Array.from({ length: 7 }, (_, i) => testRecord({ expiresAt: at(i) })),
		)
		const sizes: number[] = []
		for (let round = 0; round < 4; round++)
			sizes.push((await store.moveExpired({ now: at(100), limit: 3 })).moved.length)
		assert.deepEqual(sizes, [3, 3, 1, 0])
	})

	test('purgeBlacklisted › deletes entries blacklisted before the cutoff, at most limit per call', async (store) => {
		const old = Array.from({ length: 5 }, () => testRecord())
		const recent = testRecord()
		const active = testRecord()
		await insertAll(store, [...old, recent, active])
		for (const record of old) await store.blacklist(record.id, { reason: 'revoked', at: at(100), note: null })
		await store.blacklist(recent.id, { reason: 'revoked', at: at(1000), note: null })
		const first = await store.purgeBlacklisted({ before: at(1000), limit: 3 })
		const second = await store.purgeBlacklisted({ before: at(1000), limit: 3 })
		assert.deepEqual([first.purged, second.purged], [3, 2])
		for (const record of old) {
			assert.equal(await store.getByHash(record.hash), null)
			assert.equal(await store.getById(record.id), null)
		}
		assert.equal((await store.getById(recent.id))?.reason, 'revoked')
		assert.equal((await store.getById(active.id))?.blacklistedAt, null)
	})

	test('concurrency › racing moveExpired calls move each expired record exactly once', async (store) => {
		const peer = openPeer ? await openPeer(store) : store
		try {
			const records = Array.from({ length: 120 }, (_, i) => testRecord({ expiresAt: at(i) }))
			await insertAll(store, records)
			const drain = async (s: KeyStore) => {
				const ids: string[] = []
				for (;;) {
					const { moved } = await s.moveExpired({ now: at(1000), limit: 7 })
					ids.push(...moved.map((r) => r.id))
					if (moved.length === 0) return ids
				}
			}
			const results = await Promise.all([drain(store), drain(peer), drain(store), drain(peer)])
			const all = results.flat()
			assert.equal(all.length, records.length, 'the moves add up to the number of expired records')
			assert.equal(new Set(all).size, records.length, 'no record was moved twice')
		} finally {
			if (peer !== store) await peer.close?.()
		}
	})

	test('concurrency › a revoke racing a sweep moves the record once, with one reason', async (store) => {
		const peer = openPeer ? await openPeer(store) : store
		try {
			const records = Array.from({ length: 30 }, (_, i) => testRecord({ expiresAt: at(i) }))
			await insertAll(store, records)
			const [swept, ...revokes] = await Promise.all([
				peer.moveExpired({ now: at(1000), limit: 100 }),
				...records.map((r) => store.blacklist(r.id, { reason: 'revoked', at: at(1000), note: null })),
			])
			const revoked = revokes.filter((outcome) => outcome?.moved).length
			assert.equal(swept.moved.length + revoked, records.length, 'each record moved by exactly one caller')
			for (const record of records) {
				const stored = await store.getById(record.id)
				assert.ok(stored?.reason === 'expired' || stored?.reason === 'revoked')
			}
		} finally {
			if (peer !== store) await peer.close?.()
		}
	})

	test('keyward › issue, verify, revoke, rotate and sweep work end to end on this store', async (store) => {
		let now = new Date(T0)
		const keyward = createKeyward({ store, clock: () => now })
		const shortLived = await keyward.issue({ ownerId: 'carol', expiresIn: '1h', scopes: ['read'] })
		const longLived = await keyward.issue({ ownerId: 'carol', name: 'ci', metadata: { env: 'ci' } })
		assert.equal((await keyward.verify(shortLived.key)).ok, true)
		assert.equal((await keyward.verify(longLived.key)).ok, true)
		await keyward.revoke(longLived.record.id, { note: 'test' })
		assert.equal((await keyward.verify(longLived.key)).ok === false && 'revoked_key', 'revoked_key')
		now = new Date(T0 + 3_600_000)
		const before = await keyward.verify(shortLived.key)
		assert.equal(before.ok ? 'valid' : before.code, 'expired_key', 'expired at expiresAt, before any sweep')
		const report = await keyward.sweep()
		assert.equal(report.expired, 1)
		const after = await keyward.verify(shortLived.key)
		assert.equal(after.ok ? 'valid' : after.code, 'expired_key', 'still expired_key after the sweep')
		const purge = await keyward.sweep({ retention: 0, now: new Date(T0 + 3_600_001) })
		assert.equal(purge.purged, 2)
		const gone = await keyward.verify(shortLived.key)
		assert.equal(gone.ok ? 'valid' : gone.code, 'unknown_key')
		const third = await keyward.issue({ ownerId: 'carol', expiresIn: '1d' })
		const rotated = await keyward.rotate(third.record.id, { gracePeriod: '1m' })
		assert.equal((await keyward.verify(third.key)).ok, true, 'the old key works during the grace period')
		assert.equal((await keyward.verify(rotated.key)).ok, true)
		assert.equal((await keyward.get(third.record.id))?.replacedBy, rotated.record.id)
	})

	test('keyward › concurrent sweeps report each expired key once', async (store) => {
		const peer = openPeer ? await openPeer(store) : store
		try {
			const now = new Date(T0)
			const keyward = createKeyward({ store, clock: () => now })
			for (let i = 0; i < 60; i++) await keyward.issue({ ownerId: `o${i % 3}`, expiresAt: new Date(T0 + 1 + i) })
			const later = { now: new Date(T0 + 1000), batchSize: 8 }
			const other = createKeyward({ store: peer, clock: () => now })
			const reports = await Promise.all([keyward.sweep(later), other.sweep(later), keyward.sweep(later)])
			assert.equal(
				reports.reduce((sum, r) => sum + r.expired, 0),
				60,
			)
			assert.equal(await store.count({ expiredBy: later.now }), 0)
		} finally {
			if (peer !== store) await peer.close?.()
		}
	})

	if (createUnavailableStore) {
		it(`${prefix}failure › an unreachable store makes every operation reject with store_unavailable`, async () => {
			const store = await createUnavailableStore()
			try {
				const keyward = createKeyward({ store })
				const key = `${keyward.prefix}_` // never a pass: a well-formed key is needed to reach the store
				const wellFormed = await wellFormedKey(keyward.prefix)
				const unavailable = (error: unknown) => isKeywardError(error, 'store_unavailable')
				await assert.rejects(keyward.verify(wellFormed), unavailable)
				await assert.rejects(keyward.issue({ ownerId: 'x' }), unavailable)
				await assert.rejects(keyward.revoke(randomUUID()), unavailable)
				await assert.rejects(keyward.get(randomUUID()), unavailable)
				await assert.rejects(keyward.list({ ownerId: 'x' }), unavailable)
				await assert.rejects(keyward.expiring({ within: '1d' }), unavailable)
				await assert.rejects(keyward.sweep(), unavailable)
				const malformed = await keyward.verify(key)
				assert.equal(malformed.ok ? 'valid' : malformed.code, 'malformed_key', 'malformed keys never reach the store')
			} finally {
				await store.close?.()
			}
		})
	}
}

/** A key that passes the format check but was never issued. */
async function wellFormedKey(prefix: string): Promise<string> {
	const scratch = createKeyward({ prefix })
	return (await scratch.issue({ ownerId: 'scratch' })).key
}

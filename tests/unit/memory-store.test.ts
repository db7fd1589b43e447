/**
 * memoryStore's expiry index: two heaps with lazy deletion. These tests check that what the index
 * answers equals a plain scan of the records, whatever order of inserts, updates, revokes, sweeps
 * and purges led there, and that a sweep examines only the records it moves.
 */
import fc from 'fast-check'
import { createKeyward, type KeyRecord, memoryStore } from 'keyward'
import { testRecord } from 'keyward/testing'
import { describe, expect, it } from 'vitest'
import { at, DAY, HOUR, MINUTE, manualClock, T0 } from './support.js'

const ids = (records: readonly KeyRecord[]) => records.map((record) => record.id)

describe('memoryStore › expiry index', () => {
	it('memoryStore › declares an expiry index', () => {
		expect(memoryStore().capabilities).toEqual({ expiryIndex: true, atomicMove: true })
	})

	it('memoryStore › a sweep examines only the expired records, however many others there are', async () => {
		const store = memoryStore()
		const due = Array.from({ length: 50 }, (_, i) => testRecord({ expiresAt: at(i * MINUTE) }))
		const later = Array.from({ length: 5000 }, (_, i) => testRecord({ expiresAt: at(DAY + i) }))
		const never = Array.from({ length: 1000 }, () => testRecord())
		for (const record of [...later, ...due, ...never]) await store.insert(record)

		const first = await store.moveExpired({ now: at(HOUR), limit: 20 })
		expect(first.scanned).toBe(20)
		expect(ids(first.moved)).toEqual(ids(due.slice(0, 20))) // soonest expiry first
		const rest = await store.moveExpired({ now: at(HOUR), limit: 1000 })
		expect(rest.scanned).toBe(30)
		expect(ids(rest.moved)).toEqual(ids(due.slice(20)))
		expect(await store.moveExpired({ now: at(HOUR), limit: 1000 })).toEqual({ moved: [], scanned: 0 })
	})

	it('memoryStore › an update of expiresAt moves the record in the index, both earlier and later', async () => {
		const store = memoryStore()
		const early = testRecord({ expiresAt: at(10) })
		const late = testRecord({ expiresAt: at(DAY) })
		await store.insert(early)
		await store.insert(late)
		await store.update(early.id, { expiresAt: at(2 * DAY) }) // later
		await store.update(late.id, { expiresAt: at(20) }) // earlier, as rotate() does

		expect(await store.count({ expiredBy: at(HOUR) })).toBe(1)
		expect(ids(await store.listExpiring({ after: null, until: at(3 * DAY), limit: 10 }))).toEqual([late.id, early.id])
		const { moved, scanned } = await store.moveExpired({ now: at(HOUR), limit: 10 })
		expect(ids(moved)).toEqual([late.id])
		expect(scanned).toBe(1)
		expect(moved[0]?.expiresAt).toEqual(at(20))
		// The old entry of `early` (at 10) is dead: it neither moves nor counts.
		expect(await store.getById(early.id)).toMatchObject({ blacklistedAt: null, expiresAt: at(2 * DAY) })
		expect(await store.count({ expiredBy: at(DAY) })).toBe(0)

		await store.update(early.id, { expiresAt: null }) // never expires now
		expect(await store.moveExpired({ now: at(10 * DAY), limit: 10 })).toEqual({ moved: [], scanned: 0 })
		expect(await store.listExpiring({ after: null, until: at(10 * DAY), limit: 10 })).toEqual([])
	})

	it('memoryStore › a revoked key is not swept again, and its revocation stays as it was', async () => {
		const store = memoryStore()
		const revoked = testRecord({ expiresAt: at(10) })
		const other = testRecord({ expiresAt: at(10) })
		await store.insert(revoked)
		await store.insert(other)
		await store.blacklist(revoked.id, { reason: 'revoked', at: at(5), note: 'leaked' })

		expect(await store.count({ expiredBy: at(HOUR) })).toBe(1)
		const { moved, scanned } = await store.moveExpired({ now: at(HOUR), limit: 10 })
		expect(ids(moved)).toEqual([other.id])
		expect(scanned).toBe(1)
		expect(await store.getById(revoked.id)).toMatchObject({ reason: 'revoked', blacklistedAt: at(5), note: 'leaked' })
		// Both are on the blacklist index: revoked at 5, swept at HOUR.
		expect(await store.count({ blacklistedBefore: at(6) })).toBe(1)
		expect(await store.count({ blacklistedBefore: at(HOUR + 1) })).toBe(2)
		expect(await store.purgeBlacklisted({ before: at(HOUR), limit: 10 })).toEqual({ purged: 1, scanned: 1 })
		expect(await store.getById(revoked.id)).toBeNull()
		expect(await store.getById(other.id)).not.toBeNull()
	})

	it('memoryStore › many keys with the same expiry are each moved once, across batches', async () => {
		const store = memoryStore()
		const records = Array.from({ length: 2500 }, () => testRecord({ expiresAt: at(MINUTE) }))
		for (const record of records) await store.insert(record)
		expect(await store.count({ expiredBy: at(MINUTE - 1) })).toBe(0)
		expect(await store.count({ expiredBy: at(MINUTE) })).toBe(2500)
		expect(await store.listExpiring({ after: at(MINUTE), until: at(DAY), limit: 10 })).toEqual([])

		const seen = new Set<string>()
		for (;;) {
			const { moved, scanned } = await store.moveExpired({ now: at(MINUTE), limit: 300 })
			expect(scanned).toBe(moved.length)
			for (const record of moved) {
				expect(seen.has(record.id)).toBe(false)
				seen.add(record.id)
			}
			if (moved.length < 300) break
		}
		expect(seen.size).toBe(2500)
		expect(await store.count({ blacklistedBefore: at(MINUTE + 1) })).toBe(2500)
		expect(await store.purgeBlacklisted({ before: at(MINUTE + 1), limit: 10_000 })).toEqual({
			purged: 2500,
			scanned: 2500,
		})
	})

	it('memoryStore › stays exact after many updates drop and rebuild dead index entries', async () => {
		const store = memoryStore()
		const records = Array.from({ length: 200 }, (_, i) => testRecord({ expiresAt: at(DAY + i) }))
		for (const record of records) await store.insert(record)
		// 200 records × 30 updates: far more dead entries than live ones, so the heap is rebuilt on the way.
		for (let round = 1; round <= 30; round++) {
			for (const [i, record] of records.entries()) {
				await store.update(record.id, { expiresAt: at(DAY + round * 1000 + i) })
			}
		}
		expect(await store.count({ expiredBy: at(DAY + 30_000 + 99) })).toBe(100)
		const { moved, scanned } = await store.moveExpired({ now: at(DAY + 30_000 + 99), limit: 1000 })
		expect(ids(moved)).toEqual(ids(records.slice(0, 100)))
		expect(scanned).toBe(100)
	})

	it('memoryStore › sweeps through createKeyward() keep verify exact', async () => {
		const clock = manualClock()
		const keyward = createKeyward({ store: memoryStore(), clock: clock.read })
		const soon = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		const rotated = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		const successor = await keyward.rotate(rotated.record.id, { gracePeriod: '2h' })
		clock.set(3 * HOUR)
		expect(await keyward.sweep()).toMatchObject({ expired: 2, scanned: 2 })
		expect(await keyward.verify(soon.key)).toMatchObject({ ok: false, code: 'expired_key' })
		expect(await keyward.verify(rotated.key)).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at(2 * HOUR) })
		expect(await keyward.verify(successor.key)).toMatchObject({ ok: true })
	})
})

/** One step of the model test. */
type Step =
	| { op: 'insert'; expiresAt: number | null }
	| { op: 'update'; pick: number; expiresAt: number | null }
	| { op: 'revoke'; pick: number; at: number }
	| { op: 'sweep'; now: number; limit: number }
	| { op: 'purge'; before: number; limit: number }

const instantArb = fc.integer({ min: 0, max: 50 }) // a narrow range: many equal instants
const stepArb: fc.Arbitrary<Step> = fc.oneof(
	{ weight: 4, arbitrary: fc.record({ op: fc.constant('insert'), expiresAt: fc.option(instantArb) }) },
	{ weight: 2, arbitrary: fc.record({ op: fc.constant('update'), pick: fc.nat(), expiresAt: fc.option(instantArb) }) },
	{ weight: 1, arbitrary: fc.record({ op: fc.constant('revoke'), pick: fc.nat(), at: instantArb }) },
	{
		weight: 1,
		arbitrary: fc.record({ op: fc.constant('sweep'), now: instantArb, limit: fc.integer({ min: 1, max: 5 }) }),
	},
	{
		weight: 1,
		arbitrary: fc.record({ op: fc.constant('purge'), before: instantArb, limit: fc.integer({ min: 1, max: 5 }) }),
	},
) as fc.Arbitrary<Step>

describe('memoryStore › expiry index against a plain scan', () => {
	it('memoryStore › count, listExpiring, moveExpired and purgeBlacklisted agree with a scan of all records', async () => {
		await fc.assert(
			fc.asyncProperty(fc.array(stepArb, { maxLength: 60 }), instantArb, async (steps, probe) => {
				const store = memoryStore()
				const model = new Map<string, KeyRecord>() // every record the store should hold, by id
				const pick = (n: number) => [...model.keys()][n % Math.max(model.size, 1)]
				const activeIds = () => [...model.values()].filter((r) => r.blacklistedAt === null)

				for (const step of steps) {
					if (step.op === 'insert') {
						const record = testRecord({ expiresAt: step.expiresAt === null ? null : at(step.expiresAt) })
						await store.insert(record)
						model.set(record.id, record)
					} else if (step.op === 'update') {
						const id = pick(step.pick)
						if (id === undefined) continue
						const updated = await store.update(id, { expiresAt: step.expiresAt === null ? null : at(step.expiresAt) })
						const before = model.get(id) as KeyRecord
						expect(updated === null).toBe(before.blacklistedAt !== null)
						if (updated !== null) model.set(id, updated)
					} else if (step.op === 'revoke') {
						const id = pick(step.pick)
						if (id === undefined) continue
						const outcome = await store.blacklist(id, { reason: 'revoked', at: at(step.at), note: null })
						if (outcome?.moved) model.set(id, outcome.record)
					} else if (step.op === 'sweep') {
						const due = activeIds().filter((r) => r.expiresAt !== null && r.expiresAt.getTime() - T0 <= step.now)
						const { moved, scanned } = await store.moveExpired({ now: at(step.now), limit: step.limit })
						expect(moved.length).toBe(Math.min(step.limit, due.length))
						expect(scanned).toBe(moved.length)
						const earliest = due.map((r) => r.expiresAt?.getTime() as number).sort((a, b) => a - b)
						expect(moved.map((r) => r.expiresAt?.getTime())).toEqual(earliest.slice(0, moved.length))
						for (const record of moved) model.set(record.id, record)
					} else {
						const old = [...model.values()].filter(
							(r) => r.blacklistedAt !== null && r.blacklistedAt.getTime() - T0 < step.before,
						)
						const { purged } = await store.purgeBlacklisted({ before: at(step.before), limit: step.limit })
						expect(purged).toBe(Math.min(step.limit, old.length))
						for (const record of old) if ((await store.getById(record.id)) === null) model.delete(record.id)
					}
				}

				const active = activeIds()
				const expiring = active.filter((r) => r.expiresAt !== null && r.expiresAt.getTime() - T0 <= probe)
				expect(await store.count({ expiredBy: at(probe) })).toBe(expiring.length)
				const blacklistedBefore = [...model.values()].filter(
					(r) => r.blacklistedAt !== null && r.blacklistedAt.getTime() - T0 < probe,
				)
				expect(await store.count({ blacklistedBefore: at(probe) })).toBe(blacklistedBefore.length)
				const window = active.filter((r) => r.expiresAt !== null && r.expiresAt.getTime() - T0 > probe / 2)
				const listed = await store.listExpiring({ after: at(Math.floor(probe / 2)), until: at(50), limit: 1000 })
				expect(listed.map((r) => r.id).sort()).toEqual(
					window
						.filter((r) => (r.expiresAt as Date).getTime() - T0 > Math.floor(probe / 2))
						.map((r) => r.id)
						.sort(),
				)
				expect(listed.map((r) => r.expiresAt?.getTime())).toEqual(
					listed.map((r) => r.expiresAt?.getTime() as number).sort((a, b) => a - b),
				)
				for (const record of model.values()) expect(await store.getById(record.id)).toEqual(record)
			}),
			{ numRuns: 150 },
		)
	})
})

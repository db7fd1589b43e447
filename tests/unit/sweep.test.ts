import Keyv from 'keyv'
import {
	createKeyward,
	type KeyStore,
	type Keyward,
	keyvStore,
	memoryStore,
	type SweepOptions,
	type SweepReport,
	sweep,
} from 'keyward'
import { describe, expect, it } from 'vitest'
import { at, countingStore, DAY, HOUR, keywardError, manualClock } from './support.js'

function setup(store?: KeyStore) {
	const clock = manualClock()
	const counted = countingStore(store)
	const keyward = createKeyward({ store: counted.store, clock: clock.read })
	return { clock, counted, keyward }
}

/** Issues `n` keys expiring in 1 hour, and answers their plaintext keys and ids. */
async function issueExpiring(keyward: Keyward, n: number, expiresIn: '1h' | '2h' = '1h') {
	const issued = []
	for (let i = 0; i < n; i++) issued.push(await keyward.issue({ ownerId: 'u1', expiresIn }))
	return issued
}

describe('sweep › report', () => {
	it('sweep › reports expired, purged, scanned, durationMs, aborted, dryRun and now', async () => {
		const { clock, keyward } = setup()
		await issueExpiring(keyward, 3)
		await keyward.issue({ ownerId: 'u1' })
		clock.set(2 * HOUR)
		const report = await keyward.sweep()
		expect(report).toEqual({
			expired: 3,
			purged: 0,
			scanned: expect.any(Number),
			durationMs: expect.any(Number),
			aborted: false,
			dryRun: false,
			now: at(2 * HOUR),
		})
		expect(report.scanned).toBeGreaterThanOrEqual(3)
		expect(report.durationMs).toBeGreaterThanOrEqual(0)
		expect(Object.keys(report).sort()).toEqual([
			'aborted',
			'dryRun',
			'durationMs',
			'expired',
			'now',
			'purged',
			'scanned',
		])
	})

	it('sweep › an empty store sweeps to a zero report', async () => {
		const { keyward } = setup()
		expect(await keyward.sweep()).toMatchObject({ expired: 0, purged: 0, aborted: false, dryRun: false })
	})

	it('sweep › moves keys with expiresAt <= now and leaves later and never-expiring keys active', async () => {
		const { keyward } = setup()
		const due = await keyward.issue({ ownerId: 'u1', expiresAt: at(HOUR) })
		const later = await keyward.issue({ ownerId: 'u1', expiresAt: at(HOUR + 1) })
		const never = await keyward.issue({ ownerId: 'u1' })
		expect((await keyward.sweep({ now: at(HOUR) })).expired).toBe(1)
		expect((await keyward.get(due.record.id))?.reason).toBe('expired')
		expect((await keyward.get(later.record.id))?.blacklistedAt).toBeNull()
		expect((await keyward.get(never.record.id))?.blacklistedAt).toBeNull()
	})

	it("sweep › a swept record's blacklistedAt equals the sweep's now, reason expired, expiresAt kept", async () => {
		const { clock, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		clock.set(5 * HOUR + 3)
		const report = await keyward.sweep()
		expect(await keyward.get(record.id)).toEqual({
			...record,
			blacklistedAt: report.now,
			reason: 'expired',
			note: null,
		})
		expect(report.now).toEqual(at(5 * HOUR + 3))
		expect(await keyward.verify(key)).toMatchObject({ code: 'expired_key', expiredAt: at(HOUR) })
	})

	it('sweep › a second sweep right after the first moves nothing', async () => {
		const { clock, keyward } = setup()
		await issueExpiring(keyward, 4)
		clock.set(2 * HOUR)
		expect((await keyward.sweep()).expired).toBe(4)
		expect((await keyward.sweep()).expired).toBe(0)
	})
})

describe('sweep › batching', () => {
	it('sweep › with batchSize 3 and 10 expired keys, onProgress runs per batch with increasing counts', async () => {
		const { clock, counted, keyward } = setup()
		await issueExpiring(keyward, 10)
		await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		clock.set(2 * HOUR)
		counted.reset()
		const seen: SweepReport[] = []
		const report = await keyward.sweep({ batchSize: 3, onProgress: (r) => seen.push(r) })
		expect(seen.map((r) => r.expired)).toEqual([3, 6, 9, 10])
		expect(counted.count('moveExpired')).toBe(4)
		for (const r of seen) expect(r).toMatchObject({ aborted: false, dryRun: false, now: at(2 * HOUR) })
		expect(seen.map((r) => r.durationMs)).toEqual([...seen.map((r) => r.durationMs)].sort((a, b) => a - b))
		expect(report.expired).toBe(10)
		expect(seen[3]).not.toBe(report) // progress gets copies
	})

	it('sweep › purges in batches too, reporting after each', async () => {
		const { clock, keyward } = setup()
		for (const { record } of await issueExpiring(keyward, 5)) await keyward.revoke(record.id)
		clock.set(10 * DAY)
		const seen: number[] = []
		const report = await keyward.sweep({ batchSize: 2, retention: '1d', onProgress: (r) => seen.push(r.purged) })
		expect(report.purged).toBe(5)
		expect(seen.slice(-3)).toEqual([2, 4, 5])
	})
})

describe('sweep › dry run', () => {
	it('sweep › dryRun moves and purges nothing, and reports what a real sweep would do', async () => {
		const { clock, counted, keyward } = setup()
		const expiring = await issueExpiring(keyward, 4)
		const old = await keyward.issue({ ownerId: 'u1' })
		await keyward.revoke(old.record.id) // blacklisted at 0
		clock.set(2 * DAY)
		counted.reset()
		const dry = await keyward.sweep({ dryRun: true, retention: '1d' })
		expect(dry).toMatchObject({ expired: 4, purged: 1, scanned: 5, aborted: false, dryRun: true, now: at(2 * DAY) })
		expect(counted.writes()).toBe(0)
		for (const { record } of expiring) expect((await keyward.get(record.id))?.blacklistedAt).toBeNull()
		expect(await keyward.get(old.record.id)).not.toBeNull()
		const real = await keyward.sweep({ retention: '1d' })
		expect({ expired: real.expired, purged: real.purged }).toEqual({ expired: 4, purged: 1 })
	})
})

describe('sweep › retention', () => {
	it('sweep › purges blacklist entries strictly older than the retention, expired and revoked alike', async () => {
		const { clock, keyward } = setup()
		const [expired] = await issueExpiring(keyward, 1)
		const revokedOld = await keyward.issue({ ownerId: 'u1' })
		const revokedEdge = await keyward.issue({ ownerId: 'u1' })
		clock.set(HOUR)
		await keyward.sweep() // expired: blacklistedAt = 1h
		await keyward.revoke(revokedOld.record.id, { now: at(HOUR - 1) })
		await keyward.revoke(revokedEdge.record.id, { now: at(HOUR + 1) })
		// retention 1d at now = 1d + 1h + 1: entries blacklisted before 1h + 1 go
		const report = await keyward.sweep({ now: at(DAY + HOUR + 1), retention: '1d' })
		expect(report.purged).toBe(2)
		expect(await keyward.get(expired?.record.id as string)).toBeNull()
		expect(await keyward.get(revokedOld.record.id)).toBeNull()
		expect(await keyward.get(revokedEdge.record.id)).toMatchObject({ reason: 'revoked' }) // exactly as old: kept
		expect(await keyward.verify(expired?.key, { now: at(2 * DAY) })).toEqual({ ok: false, code: 'unknown_key' })
		expect(await keyward.verify(revokedOld.key)).toEqual({ ok: false, code: 'unknown_key' })
		expect(await keyward.verify(revokedEdge.key)).toMatchObject({ code: 'revoked_key' })
	})

	it('sweep › keys moved by this sweep are not purged by its own retention, even retention 0', async () => {
		const { clock, keyward } = setup()
		const [issued] = await issueExpiring(keyward, 1)
		clock.set(2 * HOUR)
		expect(await keyward.sweep({ retention: 0 })).toMatchObject({ expired: 1, purged: 0 })
		expect(await keyward.verify(issued?.key)).toMatchObject({ code: 'expired_key' })
		clock.set(2 * HOUR + 1)
		expect(await keyward.sweep({ retention: 0 })).toMatchObject({ expired: 0, purged: 1 })
		expect(await keyward.verify(issued?.key)).toEqual({ ok: false, code: 'unknown_key' })
	})

	it('sweep › without retention keeps every blacklisted key forever', async () => {
		const { clock, keyward } = setup()
		const [expired] = await issueExpiring(keyward, 1)
		const revoked = await keyward.issue({ ownerId: 'u1' })
		await keyward.revoke(revoked.record.id)
		clock.set(2 * HOUR)
		await keyward.sweep()
		clock.set(10_000 * DAY)
		expect((await keyward.sweep()).purged).toBe(0)
		expect(await keyward.verify(expired?.key)).toMatchObject({ code: 'expired_key' })
		expect(await keyward.verify(revoked.key)).toMatchObject({ code: 'revoked_key' })
	})
})

describe('sweep › abort', () => {
	it('sweep › a signal aborted before the start moves nothing and reports aborted', async () => {
		const { clock, counted, keyward } = setup()
		const issued = await issueExpiring(keyward, 3)
		await keyward.revoke((await keyward.issue({ ownerId: 'u1' })).record.id)
		clock.set(10 * DAY)
		counted.reset()
		const report = await keyward.sweep({ signal: AbortSignal.abort(), retention: '1d' })
		expect(report).toMatchObject({ expired: 0, purged: 0, aborted: true, dryRun: false })
		expect(counted.writes()).toBe(0)
		for (const { key } of issued) expect(await keyward.verify(key)).toMatchObject({ code: 'expired_key' })
		expect((await keyward.get(issued[0]?.record.id as string))?.blacklistedAt).toBeNull()
	})

	it('sweep › a dry run with an aborted signal counts nothing and reports aborted', async () => {
		const { clock, counted, keyward } = setup()
		await issueExpiring(keyward, 3)
		clock.set(10 * DAY)
		counted.reset()
		const report = await keyward.sweep({ dryRun: true, signal: AbortSignal.abort() })
		expect(report).toMatchObject({ expired: 0, purged: 0, aborted: true, dryRun: true })
		expect(counted.count('count')).toBe(0)
	})

	it('sweep › aborting from onProgress after the first batch gives a partial report; a second sweep finishes', async () => {
		const { clock, keyward } = setup()
		await issueExpiring(keyward, 10)
		clock.set(2 * HOUR)
		const controller = new AbortController()
		const first = await keyward.sweep({ batchSize: 3, signal: controller.signal, onProgress: () => controller.abort() })
		expect(first).toMatchObject({ expired: 3, aborted: true })
		expect(await keyward.list({ ownerId: 'u1' })).toHaveLength(7)
		const second = await keyward.sweep({ batchSize: 3 })
		expect(second).toMatchObject({ expired: 7, aborted: false })
		expect(await keyward.list({ ownerId: 'u1' })).toHaveLength(0)
	})

	it('sweep › aborting during the move phase skips the purge phase', async () => {
		const { clock, keyward } = setup()
		await issueExpiring(keyward, 4)
		await keyward.revoke((await keyward.issue({ ownerId: 'u1' })).record.id)
		clock.set(10 * DAY)
		const controller = new AbortController()
		const report = await keyward.sweep({
			batchSize: 2,
			retention: '1d',
			signal: controller.signal,
			onProgress: () => controller.abort(),
		})
		expect(report).toMatchObject({ expired: 2, purged: 0, aborted: true })
	})
})

describe('sweep › concurrency', () => {
	const stores: [string, () => KeyStore][] = [
		['one memory store', () => memoryStore()],
		['keyvStore(new Keyv())', () => keyvStore(new Keyv())],
	]
	it.each(stores)('sweep › five concurrent sweeps on %s move each expired key exactly once', async (_, create) => {
		const { clock, keyward } = setup(create())
		const expired = await issueExpiring(keyward, 23)
		await issueExpiring(keyward, 4, '2h') // not yet expired
		clock.set(HOUR)
		const reports = await Promise.all(Array.from({ length: 5 }, () => keyward.sweep({ batchSize: 2 })))
		expect(reports.reduce((sum, r) => sum + r.expired, 0)).toBe(23)
		for (const { record } of expired) {
			expect(await keyward.get(record.id)).toMatchObject({ reason: 'expired', blacklistedAt: at(HOUR) })
		}
		expect(await keyward.list({ ownerId: 'u1' })).toHaveLength(4)
	})
})

describe('sweep › bad input', () => {
	const bad: [string, unknown][] = [
		['batchSize 0', { batchSize: 0 }],
		['batchSize 1.5', { batchSize: 1.5 }],
		['batchSize 20000', { batchSize: 20_000 }],
		['batchSize -1', { batchSize: -1 }],
		["batchSize '10'", { batchSize: '10' }],
		["retention 'x'", { retention: 'x' }],
		['retention -1', { retention: -1 }],
		['an unknown option', { batchsize: 10 }],
		['a signal that is not an AbortSignal', { signal: { aborted: false } }],
		['onProgress not a function', { onProgress: 'log' }],
		['now not a Date', { now: 'now' }],
		['options not an object', 'fast'],
	]
	it.each(bad)('sweep › rejects %s with invalid_option and moves nothing', async (_, options) => {
		const { clock, counted, keyward } = setup()
		await issueExpiring(keyward, 2)
		clock.set(DAY)
		counted.reset()
		await keywardError(() => keyward.sweep(options as SweepOptions), 'invalid_option')
		await keywardError(() => sweep(memoryStore(), options as SweepOptions), 'invalid_option')
		expect(counted.writes()).toBe(0)
	})

	it('sweep › accepts the batchSize bounds 1 and 10000', async () => {
		const { keyward } = setup()
		await expect(keyward.sweep({ batchSize: 1 })).resolves.toMatchObject({ aborted: false })
		await expect(keyward.sweep({ batchSize: 10_000 })).resolves.toMatchObject({ aborted: false })
	})

	it('sweep › the standalone sweep() rejects something that is not a store with invalid_store', async () => {
		for (const store of [{}, null, undefined, 'memory', { ...memoryStore(), moveExpired: undefined }]) {
			await keywardError(() => sweep(store as unknown as KeyStore), 'invalid_store')
		}
	})

	it('sweep › the standalone sweep() works on a store with an explicit now', async () => {
		const store = memoryStore()
		const keyward = createKeyward({ store, clock: () => at(0) })
		await issueExpiring(keyward, 2)
		expect((await sweep(store, { now: at(HOUR - 1) })).expired).toBe(0)
		expect((await sweep(store, { now: at(HOUR) })).expired).toBe(2)
	})

	it('sweep › rejects with store_unavailable when the store fails, with the cause', async () => {
		const boom = new Error('disk on fire')
		const { keyward } = setup({
			...memoryStore(),
			moveExpired: async () => {
				throw boom
			},
		})
		expect((await keywardError(() => keyward.sweep(), 'store_unavailable')).cause).toBe(boom)
	})
})

/**
 * Clock and expiry boundaries on the memory, Redis and PostgreSQL stores: a key expiring exactly at
 * `now`, an `expiresAt` in the past at issue time (refused with `invalid_option`), the far future
 * (year 9999 and the largest `Date`), `null`, and a clock moved backwards between issue and sweep.
 */
import { createKeyward, isKeywardError, type KeyStore, type Keyward, memoryStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'
import { afterAll, describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace, wipeRedisNamespace } from '../helpers/servers.js'
import { deletePostgresNamespace, writeFigures } from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')
const TABLE = 'kwtest_reliability'

const T = new Date('2030-06-01T00:00:00.000Z')
const ms = (date: Date, delta: number) => new Date(date.getTime() + delta)
const YEAR_9999 = new Date('9999-12-31T23:59:59.999Z')
/** The largest instant a `Date` holds: 8.64e15 ms after the epoch, +275760-09-13. */
const MAX_DATE = new Date(8.64e15)

type Kind = 'memory' | 'redis' | 'postgres'
const TARGETS: { kind: Kind; enabled: boolean }[] = [
	{ kind: 'memory', enabled: true },
	{ kind: 'redis', enabled: Boolean(redisUrl) },
	{ kind: 'postgres', enabled: Boolean(databaseUrl) },
]

/** Which case passed on which store, for docs/reliability.md. */
const outcomes: Record<string, Record<Kind, 'passed' | 'failed'>> = {}
const TESTS_PER_STORE = 7

afterAll(() => {
	const results = Object.values(outcomes).flatMap((byStore) => Object.values(byStore))
	writeFigures('clock-boundaries', {
		title: 'Clock and expiry boundaries',
		claim:
			'On memory, Redis and PostgreSQL: a key is expired at exactly expiresAt and valid 1 ms before, and a sweep at that instant moves it; an expiresAt not after now is refused with invalid_option; year 9999, the largest Date and null round-trip exactly and are never swept early; a clock moved backwards moves nothing unexpired, and a later sweep moves it.',
		result:
			results.length === TARGETS.filter((t) => t.enabled).length * TESTS_PER_STORE &&
			results.every((r) => r === 'passed')
				? 'passed'
				: 'failed',
		figures: { stores: TARGETS.filter((t) => t.enabled).map((t) => t.kind), cases: outcomes },
	})
})

describe.each(TARGETS)('clock and expiry boundaries › $kind', ({ kind, enabled }) => {
	let now = T
	let keyward: Keyward

	/** Runs a case on a fresh, empty store (its own namespace), then deletes what it wrote, and records its outcome. */
	const test = (name: string, body: () => Promise<void>) =>
		it.skipIf(!enabled)(
			name,
			async () => {
				now = T
				const namespace = uniqueNamespace(`clock_${kind}`)
				const store: KeyStore =
					kind === 'memory'
						? memoryStore()
						: kind === 'redis'
							? redisStore({ url: redisUrl as string, namespace })
							: postgresStore({ url: databaseUrl as string, namespace, table: TABLE })
				keyward = createKeyward({ store, prefix: 'sk', clock: () => now })
				const outcome = outcomes[name] ?? ({} as Record<Kind, 'passed' | 'failed'>)
				outcomes[name] = outcome
				outcome[kind] = 'failed'
				try {
					await body()
					outcome[kind] = 'passed'
				} finally {
					await store.close?.()
					if (kind === 'redis') await wipeRedisNamespace(redisUrl as string, namespace)
					if (kind === 'postgres') await deletePostgresNamespace(databaseUrl as string, TABLE, namespace)
				}
			},
			30_000,
		)

	test('expiring exactly at now: expired at now, valid 1 ms before, swept at now and not before', async () => {
		const at = ms(T, 3_600_000)
		const { key, record } = await keyward.issue({ ownerId: 'boundary', expiresAt: at })
		expect((await keyward.verify(key, { now: ms(at, -1) })).ok).toBe(true)
		expect(await keyward.verify(key, { now: at })).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at })
		expect((await keyward.sweep({ now: ms(at, -1) })).expired).toBe(0)
		expect((await keyward.get(record.id))?.blacklistedAt).toBeNull()
		expect((await keyward.sweep({ now: at })).expired).toBe(1)
		expect(await keyward.get(record.id)).toMatchObject({ reason: 'expired', blacklistedAt: at, expiresAt: at })
		expect(await keyward.verify(key, { now: at })).toMatchObject({ code: 'expired_key', expiredAt: at })
	})

	test('expiresAt at or before now at issue time is refused with invalid_option, and nothing is stored', async () => {
		for (const expiresAt of [ms(T, -1), T, new Date(0), new Date(-8.64e15)]) {
			const error = await keyward.issue({ ownerId: 'past', expiresAt }).catch((e: unknown) => e)
			expect(isKeywardError(error, 'invalid_option'), String(error)).toBe(true)
		}
		expect(isKeywardError(await keyward.issue({ ownerId: 'past', expiresIn: 0 }).catch((e: unknown) => e))).toBe(true)
		expect(await keyward.list({ ownerId: 'past', includeBlacklisted: true })).toEqual([])
		// 1 ms after now is the first instant accepted.
		const { key } = await keyward.issue({ ownerId: 'past', expiresAt: ms(T, 1) })
		expect((await keyward.verify(key)).ok).toBe(true)
		expect((await keyward.verify(key, { now: ms(T, 1) })).ok).toBe(false)
	})

	test('year 9999 and the largest Date round-trip exactly, verify, and are swept only once reached', async () => {
		const far = await keyward.issue({ ownerId: 'far', expiresAt: YEAR_9999 })
		const max = await keyward.issue({ ownerId: 'far', expiresAt: MAX_DATE })
		expect((await keyward.get(far.record.id))?.expiresAt?.getTime()).toBe(YEAR_9999.getTime())
		expect((await keyward.get(max.record.id))?.expiresAt?.getTime()).toBe(MAX_DATE.getTime())
		expect((await keyward.verify(far.key)).ok).toBe(true)
		expect((await keyward.verify(max.key)).ok).toBe(true)
		expect((await keyward.verify(max.key, { now: ms(MAX_DATE, -1) })).ok).toBe(true)
		expect((await keyward.verify(far.key, { now: ms(YEAR_9999, 1) })).ok).toBe(false)
		expect((await keyward.sweep({ now: ms(T, 86_400_000 * 365 * 100) })).expired).toBe(0)
		expect((await keyward.sweep({ now: YEAR_9999 })).expired).toBe(1)
		expect((await keyward.get(max.record.id))?.blacklistedAt).toBeNull()
		expect((await keyward.sweep({ now: MAX_DATE })).expired).toBe(1)
		expect(await keyward.get(max.record.id)).toMatchObject({ reason: 'expired', blacklistedAt: MAX_DATE })
	})

	test('instants before year 1 (a clock set to 2 BC) round-trip exactly and expire on time', async () => {
		now = new Date('-000001-06-01T00:00:00.000Z')
		const expiresAt = new Date('0000-01-01T00:00:00.000Z')
		const { key, record } = await keyward.issue({ ownerId: 'ancient', expiresAt })
		expect(await keyward.get(record.id)).toEqual(record)
		expect((await keyward.verify(key)).ok).toBe(true)
		expect((await keyward.sweep({ now: ms(expiresAt, -1) })).expired).toBe(0)
		expect((await keyward.sweep({ now: expiresAt })).expired).toBe(1)
		expect(await keyward.get(record.id)).toMatchObject({ reason: 'expired', blacklistedAt: expiresAt })
	})

	test('durations past the largest Date: expiresIn is refused; grace periods, lifetimes and retention stop at the edge', async () => {
		const huge = '100000000d' // 8.64e15 ms: from any instant after 1970, past the largest Date
		const error = await keyward.issue({ ownerId: 'edge', expiresIn: huge }).catch((e: unknown) => e)
		expect(isKeywardError(error, 'invalid_option'), String(error)).toBe(true)
		expect(await keyward.list({ ownerId: 'edge', includeBlacklisted: true })).toEqual([])
		// A grace period longer than time itself: the old key stops at the largest Date.
		const forever = await keyward.issue({ ownerId: 'edge' })
		const successor = await keyward.rotate(forever.record.id, { gracePeriod: huge })
		expect((await keyward.get(forever.record.id))?.expiresAt?.getTime()).toBe(MAX_DATE.getTime())
		expect(successor.record.expiresAt).toBeNull()
		// A lifetime that, counted from a later now, would end past the largest Date ends at it.
		const longest = await keyward.issue({ ownerId: 'edge', expiresAt: MAX_DATE })
		now = ms(T, 86_400_000)
		const next = await keyward.rotate(longest.record.id)
		expect((await keyward.get(next.record.id))?.expiresAt?.getTime()).toBe(MAX_DATE.getTime())
		expect((await keyward.verify(next.key)).ok).toBe(true)
		// A retention reaching before the earliest Date purges nothing, and does not fail.
		await keyward.revoke(next.record.id)
		expect(await keyward.sweep({ retention: huge })).toMatchObject({ purged: 0 })
		expect(await keyward.sweep({ retention: '2500000d' })).toMatchObject({ purged: 0 }) // before 4714 BC: PostgreSQL's earliest
		expect((await keyward.get(next.record.id))?.reason).toBe('revoked')
	})

	test('expiresAt null never expires: valid at the largest Date, never swept', async () => {
		const { key, record } = await keyward.issue({ ownerId: 'forever', expiresAt: null })
		const plain = await keyward.issue({ ownerId: 'forever' })
		expect(record.expiresAt).toBeNull()
		expect(plain.record.expiresAt).toBeNull()
		expect((await keyward.verify(key, { now: MAX_DATE })).ok).toBe(true)
		await keyward.sweep({ now: MAX_DATE })
		expect((await keyward.get(record.id))?.blacklistedAt).toBeNull()
		expect((await keyward.get(plain.record.id))?.blacklistedAt).toBeNull()
		expect((await keyward.verify(plain.key, { now: MAX_DATE })).ok).toBe(true)
	})

	test('a clock moved backwards between issue and sweep moves nothing unexpired; a later sweep moves it', async () => {
		now = ms(T, 10 * 86_400_000) // issued while the clock ran 10 days ahead
		const ahead = await keyward.issue({ ownerId: 'clock', expiresIn: '1d' }) // expires T + 11 d
		now = T
		const normal = await keyward.issue({ ownerId: 'clock', expiresIn: '1h' }) // expires T + 1 h
		now = ms(T, -86_400_000) // the clock jumps back a day
		expect((await keyward.sweep()).expired).toBe(0)
		for (const issued of [ahead, normal]) {
			expect(await keyward.get(issued.record.id)).toEqual(issued.record)
			expect((await keyward.verify(issued.key)).ok).toBe(true)
		}
		now = ms(T, 2 * 3_600_000)
		expect((await keyward.sweep()).expired).toBe(1)
		expect((await keyward.get(normal.record.id))?.reason).toBe('expired')
		expect((await keyward.verify(ahead.key)).ok).toBe(true)
		now = ms(T, 11 * 86_400_000)
		expect((await keyward.sweep()).expired).toBe(1)
		expect((await keyward.get(ahead.record.id))?.reason).toBe('expired')
	})
})

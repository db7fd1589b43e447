/**
 * `keyward/cache`: an optional in-process verification cache on `lru-cache` (11.x), for stores
 * where a read costs a network round trip (Redis, PostgreSQL).
 *
 * @example
 * ```ts
 * import { createKeyward } from 'keyward'
 * import { verifyCache } from 'keyward/cache'
 * import { redisStore } from 'keyward/redis'
 *
 * const keyward = createKeyward({
 *   store: redisStore({ url: process.env.REDIS_URL as string }),
 *   cache: verifyCache({ max: 10_000, ttl: '10s' }), // a revocation elsewhere takes effect here within 10 s
 * })
 * ```
 * @packageDocumentation
 */
import { LRUCache } from 'lru-cache'
import type { VerifyCache } from '../src/cache.js'
import { type Duration, parseDuration, typeOf } from '../src/duration.js'
import { invalidOption } from '../src/errors.js'
import { checkKnown, wholeNumber } from '../src/options.js'
import type { KeyRecord } from '../src/record.js'

/** Options of {@link verifyCache}. */
export interface VerifyCacheOptions {
	/**
	 * How long a record stays cached after the store answered it, such as `'10s'`: 1 ms to 1 hour.
	 * Required, because it is the security trade-off: a key revoked (or rotated) by **another**
	 * process keeps passing on this one for up to `ttl`. Expiry is exact whatever the TTL.
	 */
	ttl: Duration
	/**
	 * The most records kept; the least recently used goes first. 1 to 1,000,000 (lru-cache allocates its index for `max` entries up front).
	 * About 1 KB of memory per cached record.
	 * @defaultValue `10_000`
	 */
	max?: number
	/**
	 * The clock the TTL is measured with. Inject the same clock as `createKeyward({ clock })` in tests.
	 * @defaultValue a monotonic clock (`performance.now()`), unaffected by changes of the system time
	 */
	clock?: () => Date
}

/** The cache {@link verifyCache} makes: a {@link VerifyCache} that also says how many records it holds. */
export interface LruVerifyCache extends VerifyCache {
	/** How many records are cached now (expired ones may count until they are next read or evicted). */
	readonly size: number
}

const KNOWN = { ttl: true, max: true, clock: true } satisfies Record<keyof VerifyCacheOptions, true>

/** The longest TTL accepted: a revocation elsewhere must not wait longer than this. */
const MAX_TTL_MS = 3_600_000

/**
 * Makes a bounded, short-lived cache of verified records for `createKeyward({ cache })`.
 *
 * With it, a key verified in the last `ttl` is answered without a store read. What stays exact and
 * what does not:
 * - Expiry is judged against the clock on every call, cached or not: a key stops working at its
 *   `expiresAt` to the millisecond.
 * - `revoke()`, `rotate()` and `sweep()` on the same keyward instance take effect at once.
 * - A revocation or rotation made by another process takes effect here within `ttl`.
 * - Unknown keys are never cached (a key issued elsewhere is found at once, and random guesses do not evict real entries).
 * - A store failure clears the cache: from then on every verify reads the store (and answers
 *   `store_unavailable` while it is down) until reads succeed again. Entries cached before an outage
 *   the instance has not noticed yet are served until they expire, within `ttl`.
 *
 * @param options - see {@link VerifyCacheOptions}; `ttl` is required
 * @returns a {@link LruVerifyCache}
 * @throws KeywardError `invalid_option` for an unknown option, a missing or out-of-range `ttl`, or a bad `max` or `clock`
 * @example
 * ```ts
 * import { createKeyward, memoryStore } from 'keyward'
 * import { verifyCache } from 'keyward/cache'
 *
 * const cache = verifyCache({ max: 10_000, ttl: '10s' })
 * const keyward = createKeyward({ store: memoryStore(), cache })
 * ```
 */
export function verifyCache(options: VerifyCacheOptions): LruVerifyCache {
	checkKnown(options, KNOWN, 'verifyCache()')
	if (options.ttl === undefined) {
		throw invalidOption(
			"verifyCache() needs a ttl, such as '10s': how late a revocation made by another process may take effect here",
		)
	}
	const ttl = parseDuration(options.ttl, 'ttl')
	if (ttl < 1 || ttl > MAX_TTL_MS) {
		throw invalidOption(`ttl must be from 1 ms to 1 hour, such as '10s' (got ${ttl} ms)`)
	}
	const max = wholeNumber(options.max ?? 10_000, 'max', 1, 1_000_000)
	const { clock } = options
	if (clock !== undefined && typeof clock !== 'function') {
		throw invalidOption(`clock must be a function that returns a Date (got ${typeOf(clock)})`)
	}

	const lru = new LRUCache<string, KeyRecord>({
		max,
		ttl,
		updateAgeOnGet: false, // a record's age counts from the store read, however often it is used
		allowStale: false,
		// An injected clock is read on every check (lru-cache otherwise reuses a reading for 1 ms).
		...(clock !== undefined && { perf: { now: () => clock().getTime() }, ttlResolution: 0 }),
	})

	return {
		get: (hash) => lru.get(hash),
		set: (hash, record) => {
			lru.set(hash, record)
		},
		delete: (hash) => {
			lru.delete(hash)
		},
		clear: () => lru.clear(),
		get size() {
			return lru.size
		},
	}
}

export type { VerifyCache } from '../src/cache.js'

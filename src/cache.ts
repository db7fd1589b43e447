import { typeOf } from './duration.js'
import { invalidOption } from './errors.js'
import type { KeyRecord } from './record.js'
import type { KeyStore } from './store.js'

/**
 * The seam for an optional in-process verification cache: records by key hash, so a repeated
 * `verify()` of the same key skips the store read. Pass one as `createKeyward({ cache })`;
 * `verifyCache()` from `keyward/cache` is the ready-made one (lru-cache, bounded size, TTL).
 *
 * keyward decides what goes in and when it comes out; a cache only has to keep what it is given,
 * for a bounded time and in bounded space, and forget it when told:
 * - `verify()` stores the record it read, and judges a cached record against the clock on every
 *   call, so expiry stays exact to the instant. Misses (`unknown_key`) are never stored.
 * - `revoke()`, `rotate()` and `sweep()` on the same keyward instance delete the records they change
 *   (a purge, or a store failure, clears the whole cache). Changes made by other processes reach
 *   this one only when the entry expires: a cache's TTL is how late a revocation elsewhere may take effect.
 * - Records handed to `set()` are deeply frozen; keep them as they are, and answer that very object
 *   from `get()` (keyward recognises its records: a copy, or a record whose dates were changed, is read again from the store).
 *
 * Every method is synchronous: the cache is read on every request, and an in-process cache needs no I/O.
 *
 * @example
 * ```ts
 * // A minimal cache (no size bound or TTL: for illustration only; use verifyCache() from keyward/cache).
 * const map = new Map<string, KeyRecord>()
 * const cache: VerifyCache = {
 *   get: (hash) => map.get(hash),
 *   set: (hash, record) => void map.set(hash, record),
 *   delete: (hash) => void map.delete(hash),
 *   clear: () => map.clear(),
 * }
 * ```
 */
export interface VerifyCache {
	/** The record cached for a key hash, or `undefined` when there is none (or it expired). */
	get(hash: string): KeyRecord | undefined
	/** Caches a record (found by `verify()`) under its key hash. */
	set(hash: string, record: KeyRecord): void
	/** Forgets one key hash. */
	delete(hash: string): void
	/** Forgets everything. */
	clear(): void
}

const METHODS = ['get', 'set', 'delete', 'clear'] as const satisfies readonly (keyof VerifyCache)[]

/**
 * A cache and the invalidation counter of the instances that use it. `epoch` changes around every
 * write; a verify whose store read overlapped a write does not cache what it read (it may predate the write).
 * @internal
 */
export interface CacheBinding {
	readonly cache: VerifyCache
	readonly state: { epoch: number }
}

/** One counter per cache object, so two instances sharing a cache also share its invalidation. */
const states = new WeakMap<VerifyCache, { epoch: number }>()

/**
 * Checks a `cache` option once, at construction.
 * @internal
 * @throws KeywardError `invalid_option` when it lacks a method of {@link VerifyCache}
 */
export function bindCache(cache: unknown): CacheBinding | null {
	if (cache === undefined) return null
	if (typeof cache !== 'object' || cache === null) {
		throw invalidOption(
			`cache must be a VerifyCache object, such as verifyCache({ max: 10_000, ttl: '10s' }) from keyward/cache (got ${typeOf(cache)})`,
		)
	}
	const missing = METHODS.filter((method) => typeof (cache as Record<string, unknown>)[method] !== 'function')
	if (missing.length > 0) {
		throw invalidOption(
			`cache is missing the VerifyCache method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; use verifyCache() from keyward/cache or see docs/cache.md`,
		)
	}
	const checked = cache as VerifyCache
	let state = states.get(checked)
	if (state === undefined) {
		state = { epoch: 0 }
		states.set(checked, state)
	}
	return Object.freeze({ cache: checked, state })
}

/**
 * Forgets everything after a store failure, so no record is served from the cache until a store
 * read succeeds again (fail closed), and moves the epoch so reads in flight do not refill it.
 * @internal
 */
export function dropAll(binding: CacheBinding): void {
	binding.state.epoch++
	binding.cache.clear()
}

/** The instants of each cached record as they were when it was cached (a `Date` cannot be frozen). */
const instants = new WeakMap<KeyRecord, string>()
const stamp = (record: KeyRecord) =>
	`${record.expiresAt?.getTime() ?? ''}/${record.blacklistedAt?.getTime() ?? ''}/${record.reason ?? ''}`

/**
 * Freezes a record deeply (scopes, metadata) before it is cached and shared between requests, and
 * notes its instants: `Object.freeze` cannot stop `expiresAt.setTime()`, so {@link isIntact} checks them.
 * @internal
 */
export function freezeRecord(record: KeyRecord): KeyRecord {
	deepFreeze(record)
	instants.set(record, stamp(record))
	return record
}

/**
 * Whether a cached record still has the instants it was cached with. A caller that changed a shared
 * record's `expiresAt` (with `setTime`) must not extend the key's life: such a record is read again.
 * @internal
 */
export function isIntact(record: KeyRecord): boolean {
	return instants.get(record) === stamp(record)
}

function deepFreeze(value: unknown): void {
	if (typeof value !== 'object' || value === null || value instanceof Date || Object.isFrozen(value)) return
	Object.freeze(value)
	for (const inner of Object.values(value)) deepFreeze(inner)
}

/**
 * The instance's store as its writing operations (`revoke`, `rotate`, `sweep`) see it: each write
 * that changes a record deletes that record's hash from the cache when it returns; a purge, or a
 * write that fails (it may have landed), clears the cache. Reads pass straight through.
 * @internal
 */
export function invalidatingStore(store: KeyStore, binding: CacheBinding): KeyStore {
	const { cache, state } = binding
	const write = async <T>(run: () => Promise<T>, forget: (result: T) => void): Promise<T> => {
		state.epoch++
		try {
			const result = await run()
			forget(result)
			return result
		} catch (error) {
			cache.clear()
			throw error
		} finally {
			state.epoch++
		}
	}
	return {
		name: store.name,
		capabilities: store.capabilities,
		insert: (record) => store.insert(record),
		getByHash: (hash) => store.getByHash(hash),
		getById: (id) => store.getById(id),
		listByOwner: (ownerId, options) => store.listByOwner(ownerId, options),
		listExpiring: (query) => store.listExpiring(query),
		count: (query) => store.count(query),
		update: (id, patch) =>
			write(
				() => store.update(id, patch),
				(record) => {
					if (record !== null) cache.delete(record.hash)
				},
			),
		blacklist: (id, entry) =>
			write(
				() => store.blacklist(id, entry),
				(outcome) => {
					if (outcome !== null) cache.delete(outcome.record.hash)
				},
			),
		moveExpired: (query) =>
			write(
				() => store.moveExpired(query),
				({ moved }) => {
					for (const record of moved) cache.delete(record.hash)
				},
			),
		// A purge answers a count, not the records: forget everything, so purged keys answer unknown_key at once.
		purgeBlacklisted: (query) =>
			write(
				() => store.purgeBlacklisted(query),
				({ purged }) => {
					if (purged > 0) cache.clear()
				},
			),
	}
}

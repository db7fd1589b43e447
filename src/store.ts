import { isKeywardError, KeywardError } from './errors.js'
import type { BlacklistReason, KeyRecord } from './record.js'

/**
 * What a store can do beyond the required contract. `sweep()` and the conformance suite read these;
 * they never change which methods are called.
 */
export interface StoreCapabilities {
	/**
	 * `moveExpired`, `listExpiring`, `count` and `purgeBlacklisted` use an index on expiry, so their
	 * cost grows with the records they return, not with all records.
	 */
	readonly expiryIndex: boolean
	/**
	 * Moves to the blacklist are atomic across processes: two processes moving the same record at
	 * once move it exactly once. (Every store must be atomic within one process.)
	 */
	readonly atomicMove: boolean
}

/** Changes `update()` may make to an active record. */
export interface KeyRecordPatch {
	/** A new expiry instant. */
	readonly expiresAt?: Date | null
	/** The id of the key that replaces this one. */
	readonly replacedBy?: string | null
}

/** What `blacklist()` answers for a record that exists. */
export interface BlacklistOutcome {
	/** The record as it now is on the blacklist. */
	readonly record: KeyRecord
	/** `true` when this call moved it; `false` when it was already blacklisted (left unchanged). */
	readonly moved: boolean
}

/**
 * The only seam between keyward and storage. Implement it to keep keys in any database; run
 * `storeConformance()` from `keyward/testing` to prove the implementation.
 *
 * Rules every store follows:
 * - Records go in and come out as {@link KeyRecord}s with `Date` instants; a returned record is
 *   never affected by later changes to the object that was passed in.
 * - A failure (connection lost, timeout, driver error) rejects. A store never turns a failure into
 *   "not found" (`null`, `[]`, `0`): that would let `verify()` answer `unknown_key` for a key it could not check.
 * - Each record is moved to the blacklist at most once, even when moves of the same record race
 *   in one process (and across processes when `capabilities.atomicMove` is `true`).
 * - A move is all or nothing: after a crash a record is active or blacklisted, never both or neither.
 */
export interface KeyStore {
	/** A short name for messages, such as `'memory'` or `'redis'`. Never a connection URL. */
	readonly name: string
	/** See {@link StoreCapabilities}. */
	readonly capabilities: StoreCapabilities

	/**
	 * Adds a new active record.
	 * @throws KeywardError `conflict` when a record with the same id or hash exists
	 */
	insert(record: KeyRecord): Promise<void>

	/** The record, active or blacklisted, whose key hashes to `hash`; `null` when there is none. Called once per `verify()`. */
	getByHash(hash: string): Promise<KeyRecord | null>

	/** The record, active or blacklisted, with this id; `null` when there is none. */
	getById(id: string): Promise<KeyRecord | null>

	/** An owner's records ordered by `createdAt` (oldest first): the active ones, plus blacklisted ones when asked. */
	listByOwner(ownerId: string, options: { readonly includeBlacklisted: boolean }): Promise<KeyRecord[]>

	/**
	 * Active records with an expiry in `(after, until]` (any expiry up to `until` when `after` is `null`),
	 * ordered by `expiresAt` (soonest first), at most `limit` of them.
	 */
	listExpiring(query: {
		readonly after: Date | null
		readonly until: Date
		readonly limit: number
	}): Promise<KeyRecord[]>

	/**
	 * Counts active records expired at `expiredBy` (`expiresAt <= expiredBy`), or blacklisted records
	 * with `blacklistedAt < blacklistedBefore`. Used by dry-run sweeps.
	 */
	count(query: { readonly expiredBy: Date } | { readonly blacklistedBefore: Date }): Promise<number>

	/** Changes an active record. Answers the updated record, or `null` when the id is unknown or blacklisted. */
	update(id: string, patch: KeyRecordPatch): Promise<KeyRecord | null>

	/**
	 * Moves an active record to the blacklist with `blacklistedAt = at`, `reason` and `note`.
	 * An already-blacklisted record is answered unchanged with `moved: false`; an unknown id with `null`.
	 */
	blacklist(
		id: string,
		entry: { readonly reason: BlacklistReason; readonly at: Date; readonly note: string | null },
	): Promise<BlacklistOutcome | null>

	/**
	 * Moves up to `limit` active records with `expiresAt <= now` to the blacklist (reason `expired`,
	 * `blacklistedAt = now`) and answers the records this call moved, plus how many records it examined.
	 * Concurrent calls never move the same record twice.
	 */
	moveExpired(query: { readonly now: Date; readonly limit: number }): Promise<{ moved: KeyRecord[]; scanned: number }>

	/**
	 * Deletes up to `limit` blacklisted records with `blacklistedAt < before`, and answers how many
	 * it deleted and examined. A deleted key is unknown afterwards.
	 */
	purgeBlacklisted(query: {
		readonly before: Date
		readonly limit: number
	}): Promise<{ purged: number; scanned: number }>

	/** Releases connections or handles the store opened itself. Optional. */
	close?(): Promise<void>
}

const REQUIRED = [
	'insert',
	'getByHash',
	'getById',
	'listByOwner',
	'listExpiring',
	'count',
	'update',
	'blacklist',
	'moveExpired',
	'purgeBlacklisted',
] as const satisfies readonly (keyof KeyStore)[]

/**
 * Checks, once, that a value looks like a {@link KeyStore}.
 * @internal
 * @throws KeywardError `invalid_store`
 */
export function checkStore(store: unknown): KeyStore {
	if (typeof store !== 'object' || store === null) {
		throw new KeywardError('invalid_store', 'store must be a KeyStore object, such as memoryStore() or keyvStore(keyv)')
	}
	const missing = REQUIRED.filter((method) => typeof (store as Record<string, unknown>)[method] !== 'function')
	if (missing.length > 0) {
		throw new KeywardError(
			'invalid_store',
			`store is missing the KeyStore method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; see docs/stores.md`,
		)
	}
	const { capabilities, name } = store as Partial<KeyStore>
	if (typeof name !== 'string' || typeof capabilities !== 'object' || capabilities === null) {
		throw new KeywardError(
			'invalid_store',
			'store must have a string "name" and a "capabilities" object; see docs/stores.md',
		)
	}
	return store as KeyStore
}

/**
 * Runs one store call and turns any failure into `store_unavailable` (a store's own
 * `KeywardError` passes through), so no failure is ever read as "not found".
 * @internal
 */
export async function callStore<T>(store: KeyStore, operation: string, call: () => Promise<T>): Promise<T> {
	try {
		return await call()
	} catch (error) {
		throw storeFailure(store, operation, error)
	}
}

/**
 * The synchronous twins of in-process stores' `getByHash` functions, keyed by that very function:
 * `verify()` calls the twin of `store.getByHash` when there is one, and answers without waiting for
 * a promise. Keyed by the function, not by the store, so a store whose `getByHash` was replaced or
 * wrapped (a spread `{ ...store, getByHash }`, a Proxy, `vi.spyOn`) is always read through its own.
 * @internal
 */
export const synchronousReads = new WeakMap<KeyStore['getByHash'], (hash: string) => KeyRecord | null>()

/**
 * {@link callStore} for a synchronous store call (see {@link synchronousReads}).
 * @internal
 */
export function callStoreSync<T>(store: KeyStore, operation: string, call: () => T): T {
	try {
		return call()
	} catch (error) {
		throw storeFailure(store, operation, error)
	}
}

/** What a store call's failure is rethrown as: a store's own `KeywardError` as it is, anything else as `store_unavailable`. */
function storeFailure(store: KeyStore, operation: string, error: unknown): unknown {
	if (isKeywardError(error)) return error
	return new KeywardError(
		'store_unavailable',
		`the ${store.name} key store failed during ${operation}; the operation did not complete, retry when the store is reachable`,
		{ cause: error },
	)
}

import { typeOf } from '../duration.js'
import { invalidOption, KeywardError } from '../errors.js'
import { checkKnown } from '../options.js'
import { type KeyRecord, type KeyRecordJSON, recordFromJSON, recordToJSON } from '../record.js'
import type { KeyStore } from '../store.js'

/**
 * The parts of a `Keyv` instance (keyv 5) that {@link keyvStore} uses. A real `Keyv` fits it;
 * keyward itself does not depend on keyv.
 */
export interface KeyvLike {
	get(key: string): Promise<unknown>
	set(key: string, value: unknown, ttl?: number): Promise<boolean>
	delete(key: string): Promise<boolean>
	/** Present when the backend can iterate (Map, Redis, PostgreSQL, SQLite, MySQL, MongoDB, etcd). */
	iterator?: ((namespace?: string) => AsyncIterable<[string, unknown]>) | undefined
	/** Must be `true` unless the backend is an in-process `Map`. */
	throwOnErrors?: boolean
	/** The backend adapter (a `Map`, a `KeyvRedis`, a `KeyvPostgres`…). */
	readonly store?: unknown
	/** Keyv's event emitter: keyvStore listens for `'error'`, which some adapters emit instead of throwing. */
	on?(event: 'error', listener: (error: unknown) => void): unknown
}

/** Options of {@link keyvStore}. */
export interface KeyvStoreOptions {
	/**
	 * Prefix of every entry keyward writes, inside the Keyv's own namespace, so keyward can share a
	 * Keyv with other data and several apps can share one backend. 1–64 of `A–Z a–z 0–9 _ . -`.
	 * @defaultValue `'keyward'`
	 */
	namespace?: string
}

/** How a record is kept in keyv: tagged, so iteration can tell keyward's records from other data. */
interface Entry {
	readonly keyward: 1
	readonly ns: string
	readonly record: KeyRecordJSON
}

const KNOWN = { namespace: true } satisfies Record<keyof KeyvStoreOptions, true>

/** The most hashes a sweep batch keeps from its scan for the next batches (about 0.5 MB). */
const CARRY_MAX = 10_000

/** One write lock per Keyv, shared by every keyvStore over it in this process. */
const locks = new WeakMap<object, { tail: Promise<unknown> }>()

/**
 * A {@link KeyStore} over any `Keyv` instance, for hosts that already run keyv.
 *
 * Each record is one keyv entry `<namespace>:h:<hash>` (plus an id index `<namespace>:i:<id>`), so
 * verifying a key is one `get`, and moving a record to the blacklist is one `set` of that entry:
 * never half-moved. Listing, `expiring()` and `sweep()` iterate over the Keyv's entries, so their
 * cost grows with all records, not just the expired ones.
 *
 * What a key-value interface cannot guarantee: keyv has no compare-and-set, so moves are atomic
 * only within one process. Two processes sweeping or revoking the same key at the same moment may
 * both write it (the record stays blacklisted, but sweep reports may count it twice, and a revoke
 * racing a sweep may be recorded as `expired`). For many processes, use `keyward/redis` or
 * `keyward/postgres`, which move records atomically.
 *
 * @param keyv - a `Keyv` whose backend can iterate. Unless the backend is an in-process `Map`, it must
 *   be created with `throwOnErrors: true` (and so must the adapter, where it has that option, such as
 *   `KeyvRedis`): by default keyv reports a failed read as a missing entry, which would turn "store
 *   down" into `unknown_key`.
 * @param options - see {@link KeyvStoreOptions}
 * @returns a {@link KeyStore}
 * @throws KeywardError `invalid_store` when the Keyv would hide errors or cannot iterate; `invalid_option`
 * @example
 * ```ts
 * import Keyv from 'keyv'
 * const store = keyvStore(new Keyv({ store: new KeyvRedis(url, { throwOnErrors: true }), throwOnErrors: true }))
 * ```
 */
export function keyvStore(keyv: KeyvLike, options: KeyvStoreOptions = {}): KeyStore {
	checkKeyv(keyv)
	checkKnown(options, KNOWN, 'keyvStore()')
	const ns = options.namespace ?? 'keyward'
	if (typeof ns !== 'string' || !/^[\w.-]{1,64}$/.test(ns)) {
		throw invalidOption(`namespace must be 1–64 of A–Z a–z 0–9 _ . - (got ${typeOf(ns)})`)
	}
	const iterate = keyv.iterator as (namespace?: string) => AsyncIterable<[string, unknown]>
	const lock = locks.get(keyv) ?? { tail: Promise.resolve() }
	locks.set(keyv, lock)
	/** Runs writes one after another, so in-process moves are atomic. */
	const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
		const run = lock.tail.then(work, work)
		lock.tail = run.catch(() => undefined)
		return run
	}

	const hashKey = (hash: string) => `${ns}:h:${hash}`
	const idKey = (id: string) => `${ns}:i:${id}`
	const isEntry = (value: unknown): value is Entry =>
		typeof value === 'object' &&
		value !== null &&
		(value as Entry).keyward === 1 &&
		(value as Entry).ns === ns &&
		typeof (value as Entry).record?.hash === 'string'

	const readData = async (hash: string): Promise<KeyRecordJSON | null> => {
		const value = await keyv.get(hashKey(hash))
		return isEntry(value) && value.record.hash === hash ? value.record : null
	}
	const readDataById = async (id: string): Promise<KeyRecordJSON | null> => {
		const hash = await keyv.get(idKey(id))
		if (typeof hash !== 'string') return null
		const data = await readData(hash)
		return data !== null && data.id === id ? data : null
	}
	const write = async (data: KeyRecordJSON): Promise<KeyRecord> => {
		const entry: Entry = { keyward: 1, ns, record: data }
		// ttl 0: no keyv expiry, whatever the Keyv's default ttl; retention is sweep()'s job.
		if ((await keyv.set(hashKey(data.hash), entry, 0)) === false) {
			throw new Error(`keyv refused to store record ${data.id}`)
		}
		return recordFromJSON(data)
	}
	// Some adapters report a failed iteration only as an 'error' event and then end it early
	// (@keyv/postgres 2.2 does): count errors so a cut-short iteration rejects instead of looking complete.
	const failures = { count: 0, last: undefined as unknown }
	keyv.on?.('error', (error) => {
		failures.count++
		failures.last = error
	})
	async function* all(): AsyncGenerator<KeyRecordJSON> {
		const before = failures.count
		const check = () => {
			if (failures.count !== before) {
				throw new Error('keyv reported an error while iterating over its entries', { cause: failures.last })
			}
		}
		for await (const [key, value] of iterate(undefined)) {
			check()
			// Keyv hands keys back without its own namespace; ours ends with h:<hash>.
			if (isEntry(value) && key.endsWith(`h:${value.record.hash}`)) yield value.record
		}
		check()
	}

	/**
	 * One batch of a sweep over a store without an index: up to `limit` records that match at `at`
	 * get `apply`. A full scan finds every match but a batch takes only `limit`, so the scan keeps the
	 * hashes beyond it (up to {@link CARRY_MAX}) for the next batches, which use them before scanning
	 * again: sweeping n keys costs about two scans instead of one per batch. Every hash is read again
	 * and matched before it is used, and a batch that ends short has scanned everything.
	 */
	const batches = <T>(
		matches: (data: KeyRecordJSON, at: number) => boolean,
		apply: (data: KeyRecordJSON, at: number) => Promise<T>,
	) => {
		let carry: string[] = []
		return async (at: number, limit: number): Promise<{ done: T[]; scanned: number }> => {
			const done: T[] = []
			let scanned = 0
			const attempt = async (hash: string) => {
				const data = await readData(hash) // re-read: the scan's copy may be older than the entry
				if (data !== null && matches(data, at)) done.push(await apply(data, at))
			}
			for (const hash of carry.splice(0, limit)) {
				scanned++
				await attempt(hash)
			}
			if (done.length < limit) {
				const found: string[] = []
				for await (const seen of all()) {
					scanned++
					if (!matches(seen, at)) continue
					if (done.length < limit) await attempt(seen.hash)
					else if (found.length < CARRY_MAX) found.push(seen.hash)
					else break
				}
				carry = found
			}
			return { done, scanned }
		}
	}
	const expiredBatch = batches(
		(data, at) => data.blacklistedAt === null && data.expiresAt !== null && data.expiresAt <= at,
		(data, at) => write({ ...data, blacklistedAt: at, reason: 'expired', note: null }),
	)
	const purgeBatch = batches(
		(data, before) => data.blacklistedAt !== null && data.blacklistedAt < before,
		async (data) => {
			await keyv.delete(hashKey(data.hash))
			await keyv.delete(idKey(data.id))
		},
	)

	return {
		name: 'keyv',
		capabilities: { expiryIndex: false, atomicMove: false },

		insert: (record) =>
			exclusive(async () => {
				if ((await keyv.get(idKey(record.id))) !== undefined || (await readData(record.hash)) !== null) {
					throw new KeywardError('conflict', `the keyv store already holds a key with id ${record.id} or the same hash`)
				}
				// The id index first: a crash in between leaves an index entry that leads nowhere, never a lost record.
				if ((await keyv.set(idKey(record.id), record.hash, 0)) === false) {
					throw new Error(`keyv refused to store the id index of record ${record.id}`)
				}
				await write(recordToJSON(record))
			}),

		async getByHash(hash) {
			const data = await readData(hash)
			return data === null ? null : recordFromJSON(data)
		},

		async getById(id) {
			const data = await readDataById(id)
			return data === null ? null : recordFromJSON(data)
		},

		async listByOwner(ownerId, { includeBlacklisted }) {
			const found: KeyRecordJSON[] = []
			for await (const data of all()) {
				if (data.ownerId === ownerId && (includeBlacklisted || data.blacklistedAt === null)) found.push(data)
			}
			return found.sort((a, b) => a.createdAt - b.createdAt).map(recordFromJSON)
		},

		async listExpiring({ after, until, limit }) {
			const from = after?.getTime() ?? Number.NEGATIVE_INFINITY
			const to = until.getTime()
			const found: KeyRecordJSON[] = []
			for await (const data of all()) {
				if (data.blacklistedAt === null && data.expiresAt !== null && data.expiresAt > from && data.expiresAt <= to) {
					found.push(data)
				}
			}
			return found
				.sort((a, b) => (a.expiresAt as number) - (b.expiresAt as number))
				.slice(0, limit)
				.map(recordFromJSON)
		},

		async count(query) {
			let n = 0
			if ('expiredBy' in query) {
				const by = query.expiredBy.getTime()
				for await (const data of all())
					if (data.blacklistedAt === null && data.expiresAt !== null && data.expiresAt <= by) n++
			} else {
				const before = query.blacklistedBefore.getTime()
				for await (const data of all()) if (data.blacklistedAt !== null && data.blacklistedAt < before) n++
			}
			return n
		},

		update: (id, patch) =>
			exclusive(async () => {
				const data = await readDataById(id)
				if (data === null || data.blacklistedAt !== null) return null
				return write({
					...data,
					...(patch.expiresAt !== undefined && { expiresAt: patch.expiresAt?.getTime() ?? null }),
					...(patch.replacedBy !== undefined && { replacedBy: patch.replacedBy }),
				})
			}),

		blacklist: (id, { reason, at, note }) =>
			exclusive(async () => {
				const data = await readDataById(id)
				if (data === null) return null
				if (data.blacklistedAt !== null) return { record: recordFromJSON(data), moved: false }
				return { record: await write({ ...data, blacklistedAt: at.getTime(), reason, note }), moved: true }
			}),

		moveExpired: ({ now, limit }) =>
			exclusive(async () => {
				const { done: moved, scanned } = await expiredBatch(now.getTime(), limit)
				return { moved, scanned }
			}),

		purgeBlacklisted: ({ before, limit }) =>
			exclusive(async () => {
				const { done, scanned } = await purgeBatch(before.getTime(), limit)
				return { purged: done.length, scanned }
			}),
	}
}

function checkKeyv(keyv: KeyvLike): void {
	if (
		typeof keyv !== 'object' ||
		keyv === null ||
		typeof keyv.get !== 'function' ||
		typeof keyv.set !== 'function' ||
		typeof keyv.delete !== 'function'
	) {
		throw new KeywardError(
			'invalid_store',
			'keyvStore() takes a Keyv instance, such as new Keyv({ throwOnErrors: true })',
		)
	}
	const backend = keyv.store
	if (!(backend instanceof Map)) {
		if (keyv.throwOnErrors !== true) {
			throw new KeywardError(
				'invalid_store',
				'create the Keyv with { throwOnErrors: true }: by default keyv reports a failed read as a missing entry, ' +
					'which keyward would answer as unknown_key instead of store_unavailable',
			)
		}
		if (
			typeof backend === 'object' &&
			backend !== null &&
			(backend as { throwOnErrors?: unknown }).throwOnErrors === false
		) {
			throw new KeywardError(
				'invalid_store',
				'create the keyv adapter with { throwOnErrors: true } too (for @keyv/redis: new KeyvRedis(url, { throwOnErrors: true })): ' +
					'otherwise it hides backend failures from keyv',
			)
		}
	}
	if (typeof keyv.iterator !== 'function') {
		throw new KeywardError(
			'invalid_store',
			'this Keyv cannot iterate over its entries, which keyvStore() needs for list(), expiring() and sweep(); ' +
				'use a backend that can (Map, @keyv/redis, @keyv/postgres, @keyv/sqlite, @keyv/mysql, @keyv/mongo) or write a KeyStore',
		)
	}
}

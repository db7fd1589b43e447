import { KeywardError } from '../errors.js'
import { type KeyRecord, type KeyRecordJSON, recordFromJSON, recordToJSON } from '../record.js'
import { type KeyStore, synchronousReads } from '../store.js'

/**
 * The embedded default store: records in this process's memory, lost when it exits.
 *
 * Right for development, tests, demos and a single-process app that can afford to lose its keys on
 * restart; for several processes use a server store (`keyward/redis`, `keyward/postgres`). `verify()`
 * reads it synchronously, so an HTTP middleware on it answers without waiting for a promise.
 * Every operation is atomic within the process. Records are kept as frozen copies, so nothing a
 * caller does to a record it passed in or got back changes what is stored.
 *
 * Two binary heaps index active records by `expiresAt` and blacklisted records by `blacklistedAt`
 * (`capabilities.expiryIndex`): a sweep costs in proportion to the keys it moves or purges, not to all
 * keys, and `count()` and `listExpiring()` visit only the records up to their bound. A revoke, rotation
 * or update leaves the old heap entry in place; it is skipped when reached (lazy deletion), and the
 * heap is rebuilt without such entries once they outnumber the live ones.
 *
 * @returns a new, empty {@link KeyStore}
 * @example
 * ```ts
 * const keyward = createKeyward({ store: memoryStore() })
 * ```
 */
export function memoryStore(): KeyStore {
	const byHash = new Map<string, Readonly<KeyRecordJSON>>()
	const hashById = new Map<string, string>()
	/** Active records by id; the blacklist is the rest of `byHash`. */
	const active = new Map<string, Readonly<KeyRecordJSON>>()
	/** Active records by `expiresAt`; an entry is live while `active` still holds its very object. */
	const expiry = new Heap()
	/** Blacklisted records by `blacklistedAt`; an entry is live while `byHash` still holds its very object. */
	const blacklisted = new Heap()
	const liveExpiry = (data: Readonly<KeyRecordJSON>) => active.get(data.id) === data
	const liveBlacklisted = (data: Readonly<KeyRecordJSON>) => byHash.get(data.hash) === data

	const byId = (id: string) => {
		const hash = hashById.get(id)
		return hash === undefined ? undefined : byHash.get(hash)
	}
	const put = (data: KeyRecordJSON): KeyRecord => {
		Object.freeze(data)
		byHash.set(data.hash, data)
		if (data.blacklistedAt === null) {
			active.set(data.id, data)
			if (data.expiresAt !== null) expiry.push(data.expiresAt, data)
		} else {
			active.delete(data.id)
			blacklisted.push(data.blacklistedAt, data)
		}
		// Dead entries (from updates, revokes) are dropped in one pass once they outnumber the live ones.
		if (expiry.size > 2 * active.size + 1024) expiry.retain(liveExpiry)
		return recordFromJSON(data)
	}
	const read = (data: Readonly<KeyRecordJSON> | undefined) => (data === undefined ? null : recordFromJSON(data))
	const readNow = (hash: string) => read(byHash.get(hash))
	const getByHash = async (hash: string) => readNow(hash)
	synchronousReads.set(getByHash, readNow) // verify() reads this store without a promise

	return {
		name: 'memory',
		capabilities: { expiryIndex: true, atomicMove: true },

		async insert(record) {
			if (hashById.has(record.id) || byHash.has(record.hash)) {
				throw new KeywardError('conflict', `the memory store already holds a key with id ${record.id} or the same hash`)
			}
			const data = recordToJSON(record)
			Object.freeze(data.scopes)
			deepFreeze(data.metadata)
			hashById.set(data.id, data.hash)
			put(data)
		},

		getByHash,

		async getById(id) {
			return read(byId(id))
		},

		async listByOwner(ownerId, { includeBlacklisted }) {
			const found: KeyRecordJSON[] = []
			for (const data of includeBlacklisted ? byHash.values() : active.values()) {
				if (data.ownerId === ownerId) found.push(data)
			}
			return found.sort((a, b) => a.createdAt - b.createdAt).map(recordFromJSON)
		},

		async listExpiring({ after, until, limit }) {
			const from = after?.getTime() ?? Number.NEGATIVE_INFINITY
			const found: KeyRecordJSON[] = []
			expiry.visitUpTo(until.getTime(), (at, data) => {
				if (at > from && liveExpiry(data)) found.push(data)
			})
			return found
				.sort((a, b) => (a.expiresAt as number) - (b.expiresAt as number))
				.slice(0, limit)
				.map(recordFromJSON)
		},

		async count(query) {
			let n = 0
			if ('expiredBy' in query) {
				expiry.visitUpTo(query.expiredBy.getTime(), (_, data) => {
					if (liveExpiry(data)) n++
				})
			} else {
				// blacklistedAt is a whole number of ms: `< before` is `<= before - 1`.
				blacklisted.visitUpTo(query.blacklistedBefore.getTime() - 1, (_, data) => {
					if (liveBlacklisted(data)) n++
				})
			}
			return n
		},

		async update(id, patch) {
			const data = active.get(id)
			if (data === undefined) return null
			return put({
				...data,
				...(patch.expiresAt !== undefined && { expiresAt: patch.expiresAt?.getTime() ?? null }),
				...(patch.replacedBy !== undefined && { replacedBy: patch.replacedBy }),
			})
		},

		async blacklist(id, { reason, at, note }) {
			const data = byId(id)
			if (data === undefined) return null
			if (data.blacklistedAt !== null) return { record: recordFromJSON(data), moved: false }
			return { record: put({ ...data, blacklistedAt: at.getTime(), reason, note }), moved: true }
		},

		async moveExpired({ now, limit }) {
			const moved: KeyRecord[] = []
			let scanned = 0
			const at = now.getTime()
			while (moved.length < limit) {
				const data = expiry.popUpTo(at)
				if (data === undefined) break
				if (!liveExpiry(data)) continue // revoked, updated or moved since it was indexed
				scanned++
				moved.push(put({ ...data, blacklistedAt: at, reason: 'expired', note: null }))
			}
			return { moved, scanned }
		},

		async purgeBlacklisted({ before, limit }) {
			let purged = 0
			let scanned = 0
			const at = before.getTime()
			while (purged < limit) {
				const data = blacklisted.popUpTo(at - 1)
				if (data === undefined) break
				if (!liveBlacklisted(data)) continue
				scanned++
				byHash.delete(data.hash)
				hashById.delete(data.id)
				purged++
			}
			return { purged, scanned }
		},
	}
}

/**
 * A binary min-heap of records by an instant (epoch ms), in two parallel arrays. Entries are never
 * removed from the middle: callers skip dead ones when they reach them, and `retain` drops them in bulk.
 */
class Heap {
	private keys: number[] = []
	private values: Readonly<KeyRecordJSON>[] = []

	get size(): number {
		return this.keys.length
	}

	push(key: number, value: Readonly<KeyRecordJSON>): void {
		const { keys, values } = this
		let i = keys.length
		keys.push(key)
		values.push(value)
		while (i > 0) {
			const parent = (i - 1) >> 1
			const parentKey = keys[parent] as number
			if (parentKey <= key) break
			keys[i] = parentKey
			values[i] = values[parent] as Readonly<KeyRecordJSON>
			i = parent
		}
		keys[i] = key
		values[i] = value
	}

	/** Removes and answers the entry with the smallest key if that key is `<= max`; otherwise `undefined`. */
	popUpTo(max: number): Readonly<KeyRecordJSON> | undefined {
		const { keys, values } = this
		if (keys.length === 0 || (keys[0] as number) > max) return undefined
		const top = values[0]
		const lastKey = keys.pop() as number
		const lastValue = values.pop() as Readonly<KeyRecordJSON>
		if (keys.length > 0) this.siftDown(0, lastKey, lastValue)
		return top
	}

	/** Calls `visit` for every entry with a key `<= max`, in no particular order; visits no other entry's subtree. */
	visitUpTo(max: number, visit: (key: number, value: Readonly<KeyRecordJSON>) => void): void {
		const { keys, values } = this
		if (keys.length === 0 || (keys[0] as number) > max) return
		const stack = [0]
		for (let i = stack.pop(); i !== undefined; i = stack.pop()) {
			visit(keys[i] as number, values[i] as Readonly<KeyRecordJSON>)
			for (const child of [2 * i + 1, 2 * i + 2]) {
				if (child < keys.length && (keys[child] as number) <= max) stack.push(child)
			}
		}
	}

	/** Keeps only the entries `keep` accepts, and restores the heap order in linear time. */
	retain(keep: (value: Readonly<KeyRecordJSON>) => boolean): void {
		const keys: number[] = []
		const values: Readonly<KeyRecordJSON>[] = []
		for (let i = 0; i < this.keys.length; i++) {
			const value = this.values[i] as Readonly<KeyRecordJSON>
			if (keep(value)) {
				keys.push(this.keys[i] as number)
				values.push(value)
			}
		}
		this.keys = keys
		this.values = values
		for (let i = (keys.length >> 1) - 1; i >= 0; i--) {
			this.siftDown(i, keys[i] as number, values[i] as Readonly<KeyRecordJSON>)
		}
	}

	/** Places `key`/`value` at `i` or below, moving smaller children up. */
	private siftDown(start: number, key: number, value: Readonly<KeyRecordJSON>): void {
		const { keys, values } = this
		const n = keys.length
		let i = start
		for (;;) {
			let child = 2 * i + 1
			if (child >= n) break
			const right = child + 1
			if (right < n && (keys[right] as number) < (keys[child] as number)) child = right
			const childKey = keys[child] as number
			if (childKey >= key) break
			keys[i] = childKey
			values[i] = values[child] as Readonly<KeyRecordJSON>
			i = child
		}
		keys[i] = key
		values[i] = value
	}
}

function deepFreeze(value: unknown): void {
	if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
	Object.freeze(value)
	for (const inner of Object.values(value)) deepFreeze(inner)
}

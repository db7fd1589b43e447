import { KeywardError } from '../errors.js'
import { type KeyRecord, type KeyRecordJSON, recordFromJSON, recordToJSON } from '../record.js'
import type { KeyStore } from '../store.js'

/**
 * The embedded default store: records in this process's memory, lost when it exits.
 *
 * Right for development, tests, demos and a single-process app that can afford to lose its keys on
 * restart; for several processes use a server store (`keyward/redis`, `keyward/postgres`).
 * Every operation is atomic within the process. Records are kept as frozen copies, so nothing a
 * caller does to a record it passed in or got back changes what is stored.
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

	const byId = (id: string) => {
		const hash = hashById.get(id)
		return hash === undefined ? undefined : byHash.get(hash)
	}
	const put = (data: KeyRecordJSON): KeyRecord => {
		Object.freeze(data)
		byHash.set(data.hash, data)
		if (data.blacklistedAt === null) active.set(data.id, data)
		else active.delete(data.id)
		return recordFromJSON(data)
	}
	const read = (data: Readonly<KeyRecordJSON> | undefined) => (data === undefined ? null : recordFromJSON(data))

	return {
		name: 'memory',
		capabilities: { expiryIndex: false, atomicMove: true },

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

		async getByHash(hash) {
			return read(byHash.get(hash))
		},

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
			const to = until.getTime()
			const found: KeyRecordJSON[] = []
			for (const data of active.values()) {
				if (data.expiresAt !== null && data.expiresAt > from && data.expiresAt <= to) found.push(data)
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
				for (const data of active.values()) if (data.expiresAt !== null && data.expiresAt <= by) n++
			} else {
				const before = query.blacklistedBefore.getTime()
				for (const data of byHash.values()) if (data.blacklistedAt !== null && data.blacklistedAt < before) n++
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
			for (const data of active.values()) {
				if (moved.length >= limit) break
				scanned++
				if (data.expiresAt !== null && data.expiresAt <= at) {
					moved.push(put({ ...data, blacklistedAt: at, reason: 'expired', note: null }))
				}
			}
			return { moved, scanned }
		},

		async purgeBlacklisted({ before, limit }) {
			let purged = 0
			let scanned = 0
			const at = before.getTime()
			for (const data of byHash.values()) {
				if (purged >= limit) break
				scanned++
				if (data.blacklistedAt !== null && data.blacklistedAt < at) {
					byHash.delete(data.hash)
					hashById.delete(data.id)
					purged++
				}
			}
			return { purged, scanned }
		},
	}
}

function deepFreeze(value: unknown): void {
	if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
	Object.freeze(value)
	for (const inner of Object.values(value)) deepFreeze(inner)
}

/**
 * `keyward/redis`: a {@link KeyStore} on Redis, built on `@keyv/redis`.
 *
 * @example
 * ```ts
 * import { createKeyward } from 'keyward'
 * import { redisStore } from 'keyward/redis'
 *
 * const store = redisStore({ url: process.env.REDIS_URL, namespace: 'billing-api' })
 * const keyward = createKeyward({ store })
 * ```
 * @packageDocumentation
 */
import KeyvRedis, { type RedisClientType } from '@keyv/redis'
import Keyv from 'keyv'
import { type Duration, parseDuration, typeOf } from '../src/duration.js'
import { invalidOption, KeywardError } from '../src/errors.js'
import { checkKnown } from '../src/options.js'
import { type KeyRecord, type KeyRecordJSON, recordFromJSON, recordToJSON } from '../src/record.js'
import type { KeyRecordPatch, KeyStore } from '../src/store.js'
import { deadlines } from '../src/timeout.js'

/** Options of {@link redisStore}: one of `url`, `client` or `keyv`, plus the shared options. */
export type RedisStoreOptions = (
	| {
			/** A Redis URL (`redis://user:password@host:6379/0`); the store opens and closes its own connection. */
			url: string
			client?: never
			keyv?: never
	  }
	| {
			/** Your node-redis client (`createClient()`); connected on first use if it is not yet, never closed by the store. */
			client: unknown
			url?: never
			keyv?: never
	  }
	| {
			/** Your `Keyv` over `@keyv/redis`; its namespace becomes the store's. Never closed by the store. */
			keyv: Keyv
			url?: never
			client?: never
	  }
) & {
	/**
	 * Separates apps or test runs sharing one Redis: every key the store writes starts with it.
	 * 1–64 of `A–Z a–z 0–9 _ . -`. Ignored with `keyv` (its namespace is used).
	 * @defaultValue `'keyward'`
	 */
	namespace?: string
	/**
	 * How long one store call may take (connecting included) before it rejects with `store_unavailable`.
	 * @defaultValue `'2s'`
	 */
	timeout?: Duration
}

/** A Redis store: a {@link KeyStore} with `close()`. */
export interface RedisKeyStore extends KeyStore {
	/** The namespace every key of this store starts with. */
	readonly namespace: string
	/** Closes the connection the store opened (not one you passed in). */
	close(): Promise<void>
}

const KNOWN: Record<string, true> = { url: true, client: true, keyv: true, namespace: true, timeout: true }

// Each script is atomic: a record and its indexes change together or not at all.

/**
 * KEYS: record, id, expiry index, owner index, blacklist index.
 * ARGV: value, hash, createdAt ms, expiresAt ms or '', blacklistedAt ms or '' (an imported blacklisted record).
 */
const INSERT = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[5], ARGV[5], ARGV[2])
elseif ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) end
return 1`

/**
 * Compare-and-set of several records. KEYS: expiry index, blacklist index, then one record key each.
 * ARGV per record: expected value, new value, hash, new expiresAt ms or '', blacklistedAt ms or ''.
 * A record is written only if it still holds the expected value; answers a 1/0 flag per record.
 */
const SWAP = `
local done = {}
for i = 3, #KEYS do
  local a = (i - 3) * 5
  if redis.call('GET', KEYS[i]) == ARGV[a + 1] then
    redis.call('SET', KEYS[i], ARGV[a + 2])
    if ARGV[a + 5] ~= '' then
      redis.call('ZREM', KEYS[1], ARGV[a + 3])
      redis.call('ZADD', KEYS[2], ARGV[a + 5], ARGV[a + 3])
    elseif ARGV[a + 4] ~= '' then
      redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a + 3])
    else
      redis.call('ZREM', KEYS[1], ARGV[a + 3])
    end
    done[#done + 1] = 1
  else
    done[#done + 1] = 0
  end
end
return done`

/**
 * Compare-and-delete of blacklisted records. KEYS: blacklist index, then per record its record key,
 * id key and owner index. ARGV per record: expected value, hash.
 */
const PURGE = `
local n = 0
for i = 2, #KEYS, 3 do
  local a = (i - 2) / 3 * 2
  if redis.call('GET', KEYS[i]) == ARGV[a + 1] then
    redis.call('DEL', KEYS[i], KEYS[i + 1])
    redis.call('ZREM', KEYS[i + 2], ARGV[a + 2])
    redis.call('ZREM', KEYS[1], ARGV[a + 2])
    n = n + 1
  end
end
return n`

interface Entry {
	readonly keyward: 1
	readonly ns: string
	readonly record: KeyRecordJSON
}

/** How many times a read-modify-write is retried when another writer changed the record in between. */
const CAS_ATTEMPTS = 16

/**
 * A {@link KeyStore} on Redis for deployments with several app instances.
 *
 * - Records are keyv entries (`<namespace>::h:<hash>`, readable with `keyv.get('h:<hash>')` on a
 *   Keyv over `@keyv/redis` with the same namespace); verifying a key is one `GET`.
 * - Sorted sets index expiry, the blacklist and each owner's keys, so sweeps, `expiring()` and
 *   purges cost in proportion to the keys they touch, not to all keys.
 * - Every write is a Lua script that checks the record it read is unchanged and updates the record
 *   and its indexes together: concurrent sweeps and revokes across processes move each key once,
 *   and a crash never leaves a key half-moved.
 * - Every call is bounded by `timeout`; with Redis down, calls reject with `store_unavailable` at
 *   once (no offline queue) and work again when it returns, without recreating the store.
 *
 * Not for Redis Cluster: a script touches keys that may live in different slots.
 *
 * @param options - see {@link RedisStoreOptions}
 * @returns a {@link RedisKeyStore}
 * @throws KeywardError `invalid_option` for bad options (nothing connects until the first call)
 */
export function redisStore(options: RedisStoreOptions): RedisKeyStore {
	checkKnown(options, KNOWN, 'redisStore()')
	const given = [options.url, options.client, options.keyv].filter((value) => value !== undefined).length
	if (given !== 1) throw invalidOption('redisStore() needs exactly one of url, client or keyv')
	const url: unknown = options.url
	if (url !== undefined && typeof url !== 'string') {
		throw invalidOption(`url must be a redis:// URL string (got ${typeOf(url)})`)
	}
	const timeoutMs = parseDuration(options.timeout ?? '2s', 'timeout')
	if (timeoutMs === 0) throw invalidOption('timeout must be longer than 0 ms')

	let keyv: Keyv
	let adapter: KeyvRedis<unknown>
	let owned: boolean
	if (options.keyv !== undefined) {
		keyv = options.keyv
		if (!(keyv.store instanceof KeyvRedis)) {
			throw invalidOption('keyv must be a Keyv over @keyv/redis (new Keyv({ store: new KeyvRedis(...) }))')
		}
		adapter = keyv.store
		owned = false
	} else {
		const namespace = options.namespace ?? 'keyward'
		if (typeof namespace !== 'string' || !/^[\w.-]{1,64}$/.test(namespace)) {
			throw invalidOption(`namespace must be 1–64 of A–Z a–z 0–9 _ . - (got ${typeOf(namespace)})`)
		}
		adapter =
			options.url !== undefined
				? new KeyvRedis(
						{ url: options.url, disableOfflineQueue: true, socket: { connectTimeout: timeoutMs } },
						{ namespace, throwOnErrors: true, throwOnConnectError: true },
					)
				: new KeyvRedis(options.client as RedisClientType, {
						namespace,
						throwOnErrors: true,
						throwOnConnectError: true,
					})
		keyv = new Keyv({ store: adapter, namespace, useKeyPrefix: false, throwOnErrors: true })
		owned = options.url !== undefined
	}
	// Connection errors are reported by rejecting calls; keep keyv's 'error' events from going unheard.
	keyv.on('error', () => {})
	const ns = adapter.namespace ?? 'keyv'
	const key = (name: string) => adapter.createKeyPrefix(name, ns)
	const recordKey = (hash: string) => key(`h:${hash}`)
	const idKey = (id: string) => key(`i:${id}`)
	const expiryIndex = `${ns}:__expiry`
	const blacklistIndex = `${ns}:__blacklist`
	const ownerIndex = (ownerId: string) => `${ns}:__owner:${ownerId}`

	/**
	 * One connection attempt shared by concurrent callers, so none runs a command on a half-open client.
	 * It fails with the driver's first error (a refused connection, an unknown host): node-redis keeps
	 * retrying the connect in the background, and the callers would otherwise wait out their timeout.
	 */
	let connecting: Promise<void> | undefined
	const connected = async (): Promise<RedisClientType> => {
		const client = adapter.client as RedisClientType
		if (client.isOpen && !connecting) return client // ready, or reconnecting: then commands fail fast (no offline queue)
		connecting ??= new Promise<void>((resolve, reject) => {
			let settled = false // the error event and getClient() may both answer: only the first counts
			const settle = (error?: unknown) => {
				if (settled) return
				settled = true
				client.off('error', settle)
				connecting = undefined
				if (error === undefined) resolve()
				else reject(error)
			}
			client.on('error', settle)
			adapter.getClient().then(() => settle(), settle)
		})
		await connecting
		return adapter.client as RedisClientType
	}
	/** Runs one call on a connected client, bounded by the timeout. */
	const bounded = deadlines(timeoutMs, 'the redis key store')
	const run = <T>(work: (client: RedisClientType) => Promise<T>): Promise<T> =>
		bounded((async () => work(await connected()))())

	const serialize = async (data: KeyRecordJSON): Promise<string> => {
		const entry: Entry = { keyward: 1, ns, record: data }
		return (await keyv.serialize?.({ value: entry })) ?? JSON.stringify({ value: entry })
	}
	const deserialize = async (raw: string | null): Promise<KeyRecordJSON | null> => {
		if (raw === null) return null
		const data = (await keyv.deserialize?.(raw)) ?? JSON.parse(raw)
		const entry = (data as { value?: Entry } | undefined)?.value
		return entry?.keyward === 1 && typeof entry.record?.hash === 'string' ? entry.record : null
	}
	/** Reads records by hash in one MGET, keeping each raw value for compare-and-set. */
	const readMany = async (client: RedisClientType, hashes: readonly string[]) => {
		if (hashes.length === 0) return []
		const raws = await client.mGet(hashes.map(recordKey))
		const found: { raw: string; data: KeyRecordJSON }[] = []
		for (const raw of raws) {
			const data = await deserialize(raw)
			if (data !== null && raw !== null) found.push({ raw, data })
		}
		return found
	}
	const readById = async (client: RedisClientType, id: string) => {
		const hash = await client.get(idKey(id))
		if (hash === null) return null
		const [found] = await readMany(client, [hash])
		return found !== undefined && found.data.id === id ? found : null
	}
	/** Writes new versions of records read earlier, each only if unchanged since; answers a flag per record. */
	const swap = async (client: RedisClientType, changes: { raw: string; next: KeyRecordJSON }[]): Promise<boolean[]> => {
		if (changes.length === 0) return []
		const args: string[] = []
		for (const { raw, next } of changes) {
			args.push(
				raw,
				await serialize(next),
				next.hash,
				next.expiresAt === null ? '' : String(next.expiresAt),
				next.blacklistedAt === null ? '' : String(next.blacklistedAt),
			)
		}
		const flags = (await client.eval(SWAP, {
			keys: [expiryIndex, blacklistIndex, ...changes.map(({ next }) => recordKey(next.hash))],
			arguments: args,
		})) as number[]
		return flags.map((flag) => flag === 1)
	}
	/** Read by id, change, compare-and-set; retried when another writer got there in between. */
	const modify = async (
		id: string,
		change: (data: KeyRecordJSON) => KeyRecordJSON | 'skip',
	): Promise<{ data: KeyRecordJSON; changed: boolean } | null> =>
		run(async (client) => {
			for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
				const found = await readById(client, id)
				if (found === null) return null
				const next = change(found.data)
				if (next === 'skip') return { data: found.data, changed: false }
				const [ok] = await swap(client, [{ raw: found.raw, next }])
				if (ok) return { data: next, changed: true }
			}
			throw new Error(`record ${id} kept changing under concurrent writes; retry`)
		})
	const many = async (client: RedisClientType, hashes: string[]) =>
		(await readMany(client, hashes)).map(({ data }) => recordFromJSON(data))

	return {
		name: 'redis',
		namespace: ns,
		capabilities: { expiryIndex: true, atomicMove: true },

		insert: (record) =>
			run(async (client) => {
				const data = recordToJSON(record)
				const inserted = await client.eval(INSERT, {
					keys: [recordKey(data.hash), idKey(data.id), expiryIndex, ownerIndex(data.ownerId), blacklistIndex],
					arguments: [
						await serialize(data),
						data.hash,
						String(data.createdAt),
						data.expiresAt === null ? '' : String(data.expiresAt),
						data.blacklistedAt === null ? '' : String(data.blacklistedAt),
					],
				})
				if (inserted !== 1) {
					throw new KeywardError(
						'conflict',
						`the redis store already holds a key with id ${record.id} or the same hash`,
					)
				}
			}),

		getByHash: (hash) =>
			run(async (client) => {
				const data = await deserialize(await client.get(recordKey(hash)))
				return data === null ? null : recordFromJSON(data)
			}),

		getById: (id) =>
			run(async (client) => {
				const found = await readById(client, id)
				return found === null ? null : recordFromJSON(found.data)
			}),

		listByOwner: (ownerId, { includeBlacklisted }) =>
			run(async (client) => {
				const records = await many(client, await client.zRange(ownerIndex(ownerId), 0, -1))
				return records
					.filter((record) => record.ownerId === ownerId && (includeBlacklisted || record.blacklistedAt === null))
					.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
			}),

		listExpiring: ({ after, until, limit }) =>
			run(async (client) => {
				const min = after === null ? '-inf' : `(${after.getTime()}`
				const hashes = await client.zRangeByScore(expiryIndex, min, until.getTime(), {
					LIMIT: { offset: 0, count: limit },
				})
				return (await many(client, hashes)).filter((record) => record.blacklistedAt === null)
			}),

		count: (query) =>
			run((client) =>
				'expiredBy' in query
					? client.zCount(expiryIndex, '-inf', query.expiredBy.getTime())
					: client.zCount(blacklistIndex, '-inf', `(${query.blacklistedBefore.getTime()}`),
			),

		async update(id, patch: KeyRecordPatch) {
			const outcome = await modify(id, (data) =>
				data.blacklistedAt !== null
					? 'skip'
					: {
							...data,
							...(patch.expiresAt !== undefined && { expiresAt: patch.expiresAt?.getTime() ?? null }),
							...(patch.replacedBy !== undefined && { replacedBy: patch.replacedBy }),
						},
			)
			return outcome === null || !outcome.changed ? null : recordFromJSON(outcome.data)
		},

		async blacklist(id, { reason, at, note }) {
			const outcome = await modify(id, (data) =>
				data.blacklistedAt !== null ? 'skip' : { ...data, blacklistedAt: at.getTime(), reason, note },
			)
			return outcome === null ? null : { record: recordFromJSON(outcome.data), moved: outcome.changed }
		},

		moveExpired: ({ now, limit }) =>
			run(async (client) => {
				const at = now.getTime()
				const moved: KeyRecord[] = []
				let scanned = 0
				// Candidates another sweep moves first fail the compare-and-set and are skipped; ask again for more.
				for (let round = 0; moved.length < limit && round < CAS_ATTEMPTS; round++) {
					const wanted = limit - moved.length
					const hashes = await client.zRangeByScore(expiryIndex, '-inf', at, { LIMIT: { offset: 0, count: wanted } })
					if (hashes.length === 0) break
					const read = await readMany(client, hashes)
					const found = read.filter(
						({ data }) => data.blacklistedAt === null && data.expiresAt !== null && data.expiresAt <= at,
					)
					// An index entry whose record is gone or blacklisted leads nowhere: drop it, or it would
					// fill every later batch.
					const active = new Set(read.filter(({ data }) => data.blacklistedAt === null).map(({ data }) => data.hash))
					const stale = hashes.filter((hash) => !active.has(hash))
					if (stale.length > 0) await client.zRem(expiryIndex, stale)
					scanned += hashes.length
					const changes = found.map(({ raw, data }) => ({
						raw,
						next: { ...data, blacklistedAt: at, reason: 'expired' as const, note: null },
					}))
					const flags = await swap(client, changes)
					flags.forEach((ok, i) => {
						if (ok) moved.push(recordFromJSON((changes[i] as (typeof changes)[number]).next))
					})
					if (hashes.length < wanted && flags.every(Boolean)) break
				}
				return { moved, scanned }
			}),

		purgeBlacklisted: ({ before, limit }) =>
			run(async (client) => {
				const hashes = await client.zRangeByScore(blacklistIndex, '-inf', `(${before.getTime()}`, {
					LIMIT: { offset: 0, count: limit },
				})
				const found = (await readMany(client, hashes)).filter(
					({ data }) => data.blacklistedAt !== null && data.blacklistedAt < before.getTime(),
				)
				if (found.length === 0) return { purged: 0, scanned: hashes.length }
				const purged = (await client.eval(PURGE, {
					keys: [
						blacklistIndex,
						...found.flatMap(({ data }) => [recordKey(data.hash), idKey(data.id), ownerIndex(data.ownerId)]),
					],
					arguments: found.flatMap(({ raw, data }) => [raw, data.hash]),
				})) as number
				return { purged, scanned: hashes.length }
			}),

		async close() {
			if (owned) await keyv.disconnect().catch(() => undefined)
		},
	}
}

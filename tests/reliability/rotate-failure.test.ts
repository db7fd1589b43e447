/**
 * A store that fails between the two writes of `rotate()` (the successor inserted, the old key not
 * yet pointed at it): the call rejects with `store_unavailable` and leaves no usable key that nobody
 * was given. The failure is injected (a wrapper whose `update` rejects once) because a real server
 * cannot be made to fail exactly between two calls; the stores underneath are real.
 */
import { createKeyward, isKeywardError, type KeyStore, memoryStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'
import { describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace, wipeRedisNamespace } from '../helpers/servers.js'
import { deletePostgresNamespace } from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')
const TABLE = 'kwtest_reliability'

const TARGETS = [
	{ kind: 'memory', enabled: true },
	{ kind: 'redis', enabled: Boolean(redisUrl) },
	{ kind: 'postgres', enabled: Boolean(databaseUrl) },
] as const

/** The store, with `update` failing the first `failures` times, as a dropped connection would. */
function failingUpdates(inner: KeyStore, failures: number): KeyStore {
	let left = failures
	return new Proxy(inner, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver)
			if (property === 'update' && typeof value === 'function') {
				return (...args: unknown[]) =>
					left-- > 0 ? Promise.reject(new Error('connection reset')) : value.apply(target, args)
			}
			return typeof value === 'function' ? value.bind(target) : value
		},
	})
}

describe.each(TARGETS)('rotate() when the store fails between its writes › $kind', ({ kind, enabled }) => {
	it.skipIf(!enabled)(
		'rejects with store_unavailable, keeps the old key as it was, and revokes the successor nobody was given',
		async () => {
			const namespace = uniqueNamespace(`rotfail_${kind}`)
			const inner: KeyStore =
				kind === 'memory'
					? memoryStore()
					: kind === 'redis'
						? redisStore({ url: redisUrl as string, namespace })
						: postgresStore({ url: databaseUrl as string, namespace, table: TABLE })
			try {
				const keyward = createKeyward({ store: failingUpdates(inner, 1), prefix: 'sk' })
				const old = await keyward.issue({ ownerId: 'owner', expiresIn: '30d' })
				const error = await keyward.rotate(old.record.id, { gracePeriod: '1h' }).catch((e: unknown) => e)
				expect(isKeywardError(error, 'store_unavailable'), String(error)).toBe(true)
				const records = await keyward.list({ ownerId: 'owner', includeBlacklisted: true })
				expect(records).toHaveLength(2)
				const [kept, successor] = records[0]?.id === old.record.id ? records : [records[1], records[0]]
				expect(kept).toEqual(old.record) // untouched: still valid, not replaced
				expect(successor).toMatchObject({ reason: 'revoked', note: `rotation of ${old.record.id} aborted` })
				expect(await keyward.list({ ownerId: 'owner' })).toEqual([old.record])
				expect((await keyward.verify(old.key)).ok).toBe(true)
				// Once the store works again, rotating works.
				const next = await keyward.rotate(old.record.id)
				expect((await keyward.verify(next.key)).ok).toBe(true)
			} finally {
				await inner.close?.()
				if (kind === 'redis') await wipeRedisNamespace(redisUrl as string, namespace)
				if (kind === 'postgres') await deletePostgresNamespace(databaseUrl as string, TABLE, namespace)
			}
		},
		30_000,
	)
})

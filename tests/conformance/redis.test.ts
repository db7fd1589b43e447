import { type RedisKeyStore, redisStore } from 'keyward/redis'
import { storeConformance } from 'keyward/testing'
import { describe, it } from 'vitest'
import { serverUrl, uniqueNamespace, wipeRedisNamespace } from '../helpers/servers.js'

const url = serverUrl('REDIS_URL')

/** Deletes every key of a namespace, then closes the store. */
async function cleanUp(store: RedisKeyStore, target: string): Promise<void> {
	await wipeRedisNamespace(target, store.namespace)
	await store.close()
}

describe.skipIf(!url)('redisStore (real server)', () => {
	const target = url as string
	storeConformance({
		it,
		createStore: () => {
			const store = redisStore({ url: target, namespace: uniqueNamespace('redis') })
			return { ...store, close: () => cleanUp(store, target) }
		},
		openPeer: (store) => redisStore({ url: target, namespace: (store as RedisKeyStore).namespace }),
		createUnavailableStore: () => redisStore({ url: 'redis://127.0.0.1:1', timeout: '500ms' }),
	})
})

import KeyvRedis from '@keyv/redis'
import Keyv from 'keyv'
import { type KeyStore, keyvStore } from 'keyward'
import { storeConformance } from 'keyward/testing'
import { describe, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'

const url = serverUrl('REDIS_URL')

function redisKeyv(target: string, namespace: string): Keyv {
	const adapter = new KeyvRedis(
		{ url: target, disableOfflineQueue: true, socket: { connectTimeout: 1000, reconnectStrategy: false } },
		{ namespace, throwOnErrors: true },
	)
	return new Keyv({ store: adapter, namespace, useKeyPrefix: false, throwOnErrors: true })
}

function open(target: string, namespace: string): KeyStore {
	const keyv = redisKeyv(target, namespace)
	const store = keyvStore(keyv)
	return {
		...store,
		async close() {
			await keyv.clear().catch(() => undefined)
			await keyv.disconnect().catch(() => undefined)
		},
	}
}

describe.skipIf(!url)('keyvStore over @keyv/redis (real server)', () => {
	storeConformance({
		it,
		createStore: () => open(url as string, uniqueNamespace('keyv_redis')),
		createUnavailableStore: () => open('redis://127.0.0.1:1', uniqueNamespace('down')),
	})
})

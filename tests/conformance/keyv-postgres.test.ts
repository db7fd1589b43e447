import KeyvPostgres from '@keyv/postgres'
import Keyv from 'keyv'
import { type KeyStore, keyvStore } from 'keyward'
import { storeConformance } from 'keyward/testing'
import { describe, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'

const url = serverUrl('DATABASE_URL')

function open(uri: string, namespace: string): KeyStore {
	const keyv = new Keyv({
		store: new KeyvPostgres({ uri, table: 'keyward_keyv_test', connectionTimeoutMillis: 1000, iterationLimit: 500 }),
		namespace,
		throwOnErrors: true,
	})
	const store = keyvStore(keyv)
	return {
		...store,
		async close() {
			await keyv.clear().catch(() => undefined)
		},
	}
}

// @keyv/postgres keeps one pool per process (a module global) and disconnect() ends it for every
// instance, so stores here share that pool and do not disconnect it; the process ends it.
describe.skipIf(!url)('keyvStore over @keyv/postgres (real server)', () => {
	storeConformance({
		it,
		createStore: () => open(url as string, uniqueNamespace('keyv_pg')),
		createUnavailableStore: () => open('postgres://root@127.0.0.1:1/test', uniqueNamespace('down')),
	})
})

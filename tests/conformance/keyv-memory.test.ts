import Keyv from 'keyv'
import { keyvStore } from 'keyward'
import { storeConformance } from 'keyward/testing'
import { describe, it } from 'vitest'

describe('keyvStore(new Keyv())', () => {
	storeConformance({ it, createStore: () => keyvStore(new Keyv()) })
})

describe('keyvStore over a Keyv shared with other data and another namespace', () => {
	storeConformance({
		it,
		createStore: async () => {
			const keyv = new Keyv({ namespace: 'app' })
			await keyv.set('unrelated', { keyward: 1, ns: 'keyward', record: 'not a record' })
			await keyvStore(keyv, { namespace: 'other' }).insert((await import('keyward/testing')).testRecord())
			return keyvStore(keyv, { namespace: 'keyward' })
		},
		openPeer: (store) => store,
	})
})

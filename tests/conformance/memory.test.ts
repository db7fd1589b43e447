import { memoryStore } from 'keyward'
import { storeConformance } from 'keyward/testing'
import { describe, it } from 'vitest'

describe('memoryStore', () => {
	storeConformance({ it, createStore: () => memoryStore() })
})

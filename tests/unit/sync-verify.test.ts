/**
 * verify() reads the memory store synchronously (no promise to wait for), and every other store
 * through `getByHash`. Both paths must answer the same, and a store whose `getByHash` was replaced
 * or wrapped must always be read through its own function.
 */
import fc from 'fast-check'
import { createKeyward, type KeyStore, memoryStore } from 'keyward'
import { describe, expect, it, vi } from 'vitest'
import { synchronousReads } from '../../src/store.js'
import { fastVerify } from '../../src/verify.js'
import { at, DAY, HOUR, keywardError, manualClock } from './support.js'

/** The same records, read through a promise: a spread store with its own `getByHash`. */
function throughPromise(store: KeyStore): KeyStore {
	return { ...store, getByHash: async (hash) => store.getByHash(hash) }
}

/** The adapters' verify for an instance: what `createCheck()` calls per request. */
function checkOf(keyward: ReturnType<typeof createKeyward>) {
	const verify = fastVerify.get(keyward.verify)
	if (verify === undefined) throw new Error('no fast verify registered for this instance')
	return verify
}

describe('verify › the synchronous read of the memory store', () => {
	it('answers at once on the memory store, and through a promise on a store read by getByHash', async () => {
		const store = memoryStore()
		const direct = createKeyward({ store })
		const wrapped = createKeyward({ store: throughPromise(store) })
		const { key } = await direct.issue({ ownerId: 'u1' })
		expect(checkOf(direct)(key)).not.toBeInstanceOf(Promise)
		expect(checkOf(direct)('kw_garbage')).not.toBeInstanceOf(Promise)
		const pending = checkOf(wrapped)(key)
		expect(pending).toBeInstanceOf(Promise)
		expect(await pending).toEqual(checkOf(direct)(key))
		// The public verify() still answers a promise, whatever the store.
		expect(direct.verify(key)).toBeInstanceOf(Promise)
		expect(direct.verify('kw_garbage')).toBeInstanceOf(Promise)
	})

	it('answers exactly what the promise path answers, for any key, state and instant', async () => {
		const store = memoryStore()
		const clock = manualClock()
		const direct = createKeyward({ store, clock: clock.read })
		const wrapped = createKeyward({ store: throughPromise(store), clock: clock.read })
		const keys: string[] = ['', 'kw_garbage', (await createKeyward().issue({ ownerId: 'elsewhere' })).key]
		for (const expiresIn of ['1h', '1d', '30d', null] as const) {
			const issued = await direct.issue({ ownerId: 'u1', ...(expiresIn && { expiresIn }) })
			keys.push(issued.key)
		}
		const revoked = await direct.issue({ ownerId: 'u1', expiresIn: '2d' })
		await direct.revoke(revoked.record.id)
		keys.push(revoked.key)
		clock.set(DAY + 1)
		await direct.sweep() // the 1h and 1d keys move to the blacklist as expired
		keys.push((await direct.rotate((await direct.list({ ownerId: 'u1' }))[0]?.id as string, { gracePeriod: '1h' })).key)

		await fc.assert(
			fc.asyncProperty(fc.constantFrom(...keys), fc.integer({ min: -HOUR, max: 40 * DAY }), async (key, ms) => {
				const now = at(ms)
				const once = checkOf(direct)(key)
				expect(once).not.toBeInstanceOf(Promise)
				expect(await direct.verify(key, { now })).toEqual(await wrapped.verify(key, { now }))
			}),
			{ seed: 20261203, numRuns: 400 },
		)
	})

	it('reads a store through its own getByHash when it was replaced, wrapped or spied on', async () => {
		const store = memoryStore()
		const { key } = await createKeyward({ store }).issue({ ownerId: 'u1' })

		const replaced = vi.fn(async () => null)
		expect(await createKeyward({ store: { ...store, getByHash: replaced } }).verify(key)).toEqual({
			ok: false,
			code: 'unknown_key',
		})
		expect(replaced).toHaveBeenCalledTimes(1)

		const proxied = new Proxy(store, {
			get: (target, property) => (property === 'getByHash' ? async () => null : Reflect.get(target, property, target)),
		})
		expect((await createKeyward({ store: proxied }).verify(key)).ok).toBe(false)

		const spied = memoryStore()
		const { key: spiedKey } = await createKeyward({ store: spied }).issue({ ownerId: 'u1' })
		const spy = vi.spyOn(spied, 'getByHash')
		expect((await createKeyward({ store: spied }).verify(spiedKey)).ok).toBe(true)
		expect(spy).toHaveBeenCalledTimes(1)
	})

	it('turns a synchronous read that throws into store_unavailable, never a pass or unknown_key', async () => {
		const boom = new Error('memory corrupted')
		const getByHash: KeyStore['getByHash'] = async () => {
			throw boom
		}
		synchronousReads.set(getByHash, () => {
			throw boom
		})
		const store = memoryStore()
		const keyward = createKeyward({ store: { ...store, getByHash } })
		const { key } = await keyward.issue({ ownerId: 'u1' })
		const error = await keywardError(() => keyward.verify(key), 'store_unavailable')
		expect(error.cause).toBe(boom)
		expect(error.message).not.toContain(key)
		expect(() => checkOf(keyward)(key)).toThrow(expect.objectContaining({ code: 'store_unavailable' }))
	})

	it('keeps answering at once behind a verification cache hit, on any store', async () => {
		const store = memoryStore()
		const map = new Map()
		const cache = {
			get: (hash: string) => map.get(hash),
			set: (hash: string, record: unknown) => void map.set(hash, record),
			delete: (hash: string) => void map.delete(hash),
			clear: () => map.clear(),
		}
		const keyward = createKeyward({ store: throughPromise(store), cache })
		const { key, record } = await keyward.issue({ ownerId: 'u1' })
		expect(checkOf(keyward)(key)).toBeInstanceOf(Promise) // a miss reads the store
		expect(await checkOf(keyward)(key)).toEqual({ ok: true, record })
		expect(checkOf(keyward)(key)).toEqual({ ok: true, record }) // a hit answers at once
		await keyward.revoke(record.id)
		const after = checkOf(keyward)(key)
		expect(after).toBeInstanceOf(Promise) // the revoke dropped the entry
		expect(await after).toMatchObject({ ok: false, code: 'revoked_key' })
	})
})

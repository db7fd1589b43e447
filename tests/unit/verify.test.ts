import { createKeyward, type KeyStore, memoryStore } from 'keyward'
import { describe, expect, it } from 'vitest'
import { at, caught, countingStore, DAY, HOUR, keywardError, manualClock, WRITE_METHODS } from './support.js'

function setup(store?: KeyStore) {
	const clock = manualClock()
	const counted = countingStore(store)
	const keyward = createKeyward({ store: counted.store, clock: clock.read })
	return { clock, counted, keyward }
}

describe('verify › expiry boundaries', () => {
	it('verify › returns ok 1 ms before expiresAt', async () => {
		const { clock, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		clock.set(HOUR - 1)
		const result = await keyward.verify(key)
		expect(result).toEqual({ ok: true, record })
		expect(await keyward.verify(key, { now: at(HOUR - 1) })).toEqual({ ok: true, record })
	})

	it('verify › returns expired_key when now equals expiresAt, with expiredAt and the record', async () => {
		const { clock, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		clock.set(HOUR)
		const result = await keyward.verify(key)
		expect(result).toEqual({ ok: false, code: 'expired_key', record, expiredAt: at(HOUR) })
		expect(!result.ok && result.code === 'expired_key' && result.expiredAt.getTime()).toBe(record.expiresAt?.getTime())
	})

	it('verify › returns expired_key after expiresAt, with expiredAt still equal to expiresAt', async () => {
		const { keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresAt: at(HOUR) })
		for (const now of [at(HOUR + 1), at(2 * HOUR), at(365 * DAY)]) {
			expect(await keyward.verify(key, { now })).toEqual({
				ok: false,
				code: 'expired_key',
				record,
				expiredAt: at(HOUR),
			})
		}
	})

	it('verify › the per-call now wins over the clock, in both directions', async () => {
		const { clock, keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		expect((await keyward.verify(key, { now: at(HOUR) })).ok).toBe(false)
		clock.set(2 * HOUR)
		expect((await keyward.verify(key)).ok).toBe(false)
		expect((await keyward.verify(key, { now: at(HOUR - 1) })).ok).toBe(true)
	})

	it('verify › a key that never expires stays valid in the far future', async () => {
		const { clock, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1' })
		expect(record.expiresAt).toBeNull()
		clock.set(1000 * 365 * DAY)
		expect((await keyward.verify(key)).ok).toBe(true)
		expect((await keyward.verify(key, { now: new Date(8.64e15) })).ok).toBe(true) // the last valid Date
	})

	it('verify › a swept key still answers expired_key with expiredAt equal to expiresAt', async () => {
		const { clock, keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		clock.set(2 * HOUR)
		expect((await keyward.sweep()).expired).toBe(1)
		const result = await keyward.verify(key)
		expect(result).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at(HOUR) })
		expect(!result.ok && 'record' in result && result.record.blacklistedAt).toEqual(at(2 * HOUR))
	})
})

describe('verify › other outcomes', () => {
	it('verify › returns revoked_key with the record for a revoked key', async () => {
		const { keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		const revoked = await keyward.revoke(record.id, { note: 'leaked' })
		expect(await keyward.verify(key)).toEqual({ ok: false, code: 'revoked_key', record: revoked })
	})

	it('verify › returns revoked_key, not expired_key, for a revoked key past its expiry', async () => {
		const { keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		await keyward.revoke(record.id)
		expect(await keyward.verify(key, { now: at(2 * HOUR) })).toMatchObject({ ok: false, code: 'revoked_key' })
	})

	it('verify › returns unknown_key for a well-formed key that was never issued', async () => {
		const { keyward } = setup()
		const { key } = await createKeyward().issue({ ownerId: 'u1' }) // another store, same prefix
		expect(await keyward.verify(key)).toEqual({ ok: false, code: 'unknown_key' })
	})
})

describe('verify › store calls', () => {
	it('verify › makes exactly one getByHash call for a well-formed key, whatever the outcome', async () => {
		const { counted, keyward } = setup()
		const valid = await keyward.issue({ ownerId: 'u1' })
		const expiring = await keyward.issue({ ownerId: 'u1', expiresIn: '1s' })
		const revoked = await keyward.issue({ ownerId: 'u1' })
		await keyward.revoke(revoked.record.id)
		const unknown = await createKeyward().issue({ ownerId: 'u1' })
		for (const [key, code] of [
			[valid.key, 'ok'],
			[expiring.key, 'expired_key'],
			[revoked.key, 'revoked_key'],
			[unknown.key, 'unknown_key'],
		] as const) {
			counted.reset()
			const result = await keyward.verify(key, { now: at(DAY) })
			expect(result.ok ? 'ok' : result.code).toBe(code)
			expect(counted.count('getByHash')).toBe(1)
			expect(counted.count('getById')).toBe(0)
		}
	})

	it('verify › does no writes across many verifies of every kind of key', async () => {
		const { clock, counted, keyward } = setup()
		const valid = await keyward.issue({ ownerId: 'u1' })
		const expiring = await keyward.issue({ ownerId: 'u1', expiresIn: '1s' })
		const revoked = await keyward.issue({ ownerId: 'u1' })
		await keyward.revoke(revoked.record.id)
		counted.reset()
		for (let i = 0; i < 20; i++) {
			clock.set(i * HOUR)
			for (const input of [valid.key, expiring.key, revoked.key, 'kw_nope', undefined]) await keyward.verify(input)
		}
		for (const method of WRITE_METHODS) expect(counted.count(method), method).toBe(0)
		expect((await keyward.get(expiring.record.id))?.blacklistedAt).toBeNull() // not swept by verify
		expect((await keyward.get(valid.record.id))?.lastUsedAt).toBeNull()
	})
})

describe('verify › failures', () => {
	it('verify › rejects with store_unavailable when getByHash rejects, with the cause and no key in the message', async () => {
		const boom = new Error('connection refused')
		const inner = memoryStore()
		const { keyward } = setup({
			...inner,
			getByHash: async () => {
				throw boom
			},
		})
		const { key, record } = await keyward.issue({ ownerId: 'u1' })
		const error = await keywardError(() => keyward.verify(key), 'store_unavailable')
		expect(error.cause).toBe(boom)
		expect(error.message).not.toContain(key)
		expect(error.message).not.toContain(key.slice(7))
		expect(error.message).not.toContain(record.hash)
	})

	it('verify › rejects with store_unavailable when getByHash throws synchronously', async () => {
		const boom = new TypeError('driver bug')
		const { keyward } = setup({
			...memoryStore(),
			getByHash: () => {
				throw boom
			},
		})
		const { key } = await keyward.issue({ ownerId: 'u1' })
		expect((await keywardError(() => keyward.verify(key), 'store_unavailable')).cause).toBe(boom)
	})

	it('verify › a failing store never turns a malformed key into an error (no store call is made)', async () => {
		const { keyward } = setup({
			...memoryStore(),
			getByHash: async () => {
				throw new Error('down')
			},
		})
		expect(await keyward.verify('kw_garbage')).toEqual({ ok: false, code: 'malformed_key' })
		expect(await keyward.verify('')).toEqual({ ok: false, code: 'missing_key' })
	})

	it('verify › throws invalid_option when now is not a valid Date', async () => {
		const { keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		// biome-ignore lint/suspicious/noExplicitAny: misuse on purpose
		for (const now of ['x', Date.now(), new Date(Number.NaN), {}] as any[]) {
			const error = await keywardError(() => keyward.verify(key, { now }), 'invalid_option')
			expect(error.message).toContain('now')
			expect(error.message).not.toContain(key)
		}
	})

	it('verify › rejects misuse of its options even for a malformed key: a bad now, an unknown option', async () => {
		const { keyward } = setup()
		// biome-ignore lint/suspicious/noExplicitAny: misuse on purpose
		await keywardError(() => keyward.verify('garbage', { now: 'x' } as any), 'invalid_option')
		// biome-ignore lint/suspicious/noExplicitAny: misuse on purpose
		const error = await keywardError(() => keyward.verify('garbage', { at: new Date() } as any), 'invalid_option')
		expect(error.message).toContain('"at"')
	})

	it('verify › a key store error passes through unchanged when it already is a KeywardError', async () => {
		const { keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		const other = createKeyward({
			store: {
				...keyward.store,
				getByHash: async () => {
					throw await caught(() => keyward.revoke('missing-id'))
				},
			},
		})
		await keywardError(() => other.verify(key), 'not_found')
	})
})

import fc from 'fast-check'
import { ALPHABET, BODY_LENGTH, CHECKSUM_LENGTH, createKeyward, hashKey, parseKey } from 'keyward'
import { beforeAll, describe, expect, it } from 'vitest'
import { countingStore, keyShape } from './support.js'

const prefixArb = fc.stringMatching(/^[a-z]{2,8}$/)
/** One character to substitute or insert: base58 digits, look-alikes, separators, and any code point. */
const charArb = fc.oneof(
	fc.constantFrom(...ALPHABET, '0', 'O', 'I', 'l', '_', '-', ' ', 'k', 'w'),
	fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
)

/** A memory store that counts reads, a 'kw' instance over it, and a few issued keys. */
function fixture() {
	const counted = countingStore()
	const keyward = createKeyward({ store: counted.store })
	return { counted, keyward }
}

describe('key format › issued keys', () => {
	it('key format › an issued key is <prefix>_ + 26 base58 body chars + 6 base58 checksum chars', async () => {
		await fc.assert(
			fc.asyncProperty(prefixArb, async (prefix) => {
				const { key, record } = await createKeyward({ prefix }).issue({ ownerId: 'u1' })
				expect(key).toMatch(keyShape(prefix))
				expect(key).toHaveLength(prefix.length + 1 + BODY_LENGTH + CHECKSUM_LENGTH)
				expect(record.prefix).toBe(prefix)
			}),
			{ numRuns: 100 },
		)
	})

	it('key format › the hint is the prefix, the underscore and the first 4 body chars', async () => {
		await fc.assert(
			fc.asyncProperty(prefixArb, async (prefix) => {
				const { key, record } = await createKeyward({ prefix }).issue({ ownerId: 'u1' })
				const body = key.slice(prefix.length + 1)
				expect(record.hint).toBe(`${prefix}_${body.slice(0, 4)}`)
			}),
			{ numRuns: 50 },
		)
	})

	it('key format › the record holds the SHA-256 hash and never the plaintext key or its secret body', async () => {
		await fc.assert(
			fc.asyncProperty(prefixArb, async (prefix) => {
				const keyward = createKeyward({ prefix })
				const { key, record } = await keyward.issue({ ownerId: 'u1', name: 'n', metadata: { a: 1 } })
				const secret = key.slice(prefix.length + 1 + 4) // the body after the hint, and the checksum
				expect(record.hash).toBe(hashKey(key))
				for (const json of [JSON.stringify(record), JSON.stringify(await keyward.get(record.id))]) {
					expect(json).not.toContain(key)
					expect(json).not.toContain(secret)
				}
			}),
			{ numRuns: 50 },
		)
	})

	it('key format › every issued key verifies ok', async () => {
		await fc.assert(
			fc.asyncProperty(prefixArb, async (prefix) => {
				const keyward = createKeyward({ prefix })
				const { key, record } = await keyward.issue({ ownerId: 'u1' })
				expect(parseKey(key, prefix)).toEqual({ ok: true, key })
				const result = await keyward.verify(key)
				expect(result.ok).toBe(true)
				expect(result.ok && result.record.id).toBe(record.id)
			}),
			{ numRuns: 200 },
		)
	})

	it('key format › two issued keys never share a body', async () => {
		const keyward = createKeyward()
		const bodies = new Set<string>()
		for (let i = 0; i < 500; i++) bodies.add((await keyward.issue({ ownerId: 'u1' })).key.slice(3, 3 + BODY_LENGTH))
		expect(bodies.size).toBe(500)
	})
})

describe('key format › one-character changes', () => {
	const { counted, keyward } = fixture()
	const keys: string[] = []
	beforeAll(async () => {
		for (let i = 0; i < 16; i++) keys.push((await keyward.issue({ ownerId: 'u1' })).key)
	})
	const keyIndex = fc.nat({ max: 15 })

	/** Verifies a changed key: never ok, and no store read unless the checksum still matched. */
	async function rejects(original: string, changed: string, strictlyMalformed: boolean) {
		if (changed === original) return // e.g. a substitution with the same character
		counted.reset()
		const result = await keyward.verify(changed)
		expect(result.ok).toBe(false)
		expect(['malformed_key', 'unknown_key']).toContain(result.ok ? 'ok' : result.code)
		if (strictlyMalformed) expect(result).toEqual({ ok: false, code: 'malformed_key' })
		if (!result.ok && result.code === 'malformed_key') expect(counted.count('getByHash')).toBe(0)
	}

	it('key format › every one-character substitution is malformed_key (the checksum catches it before the store)', async () => {
		await fc.assert(
			fc.asyncProperty(keyIndex, fc.nat({ max: 34 }), charArb, async (k, position, char) => {
				const key = keys[k] as string
				await rejects(key, key.slice(0, position) + char + key.slice(position + 1), true)
			}),
			{ numRuns: 2000 },
		)
	})

	it('key format › every substitution of a body character by another base58 character is malformed_key', async () => {
		// exhaustive for one key: every body and checksum position, every other alphabet character
		const key = keys[0] as string
		for (let position = 3; position < key.length; position++) {
			for (const char of ALPHABET) {
				if (char === key[position]) continue
				expect(parseKey(key.slice(0, position) + char + key.slice(position + 1), 'kw').ok).toBe(false)
			}
		}
	})

	it('key format › every one-character deletion is malformed_key', async () => {
		await fc.assert(
			fc.asyncProperty(keyIndex, fc.nat({ max: 34 }), async (k, position) => {
				const key = keys[k] as string
				await rejects(key, key.slice(0, position) + key.slice(position + 1), true)
			}),
			{ numRuns: 500 },
		)
	})

	it('key format › every one-character insertion is malformed_key', async () => {
		await fc.assert(
			fc.asyncProperty(keyIndex, fc.nat({ max: 35 }), charArb, async (k, position, char) => {
				const key = keys[k] as string
				await rejects(key, key.slice(0, position) + char + key.slice(position), true)
			}),
			{ numRuns: 1000 },
		)
	})

	it('key format › every transposition of adjacent characters is rejected, never ok', async () => {
		await fc.assert(
			fc.asyncProperty(keyIndex, fc.nat({ max: 33 }), async (k, position) => {
				const key = keys[k] as string
				const changed = key.slice(0, position) + key[position + 1] + key[position] + key.slice(position + 2)
				await rejects(key, changed, false)
			}),
			{ numRuns: 1000 },
		)
	})

	it('key format › the original keys still verify after all the changes above', async () => {
		for (const key of keys) expect((await keyward.verify(key)).ok).toBe(true)
	})
})

describe('key format › arbitrary input', () => {
	/** parseKey and verify on `input`: neither throws, malformed input makes no store call. */
	async function neverThrowsNorReadsStore(input: unknown) {
		const { counted, keyward } = fixture()
		const parsed = parseKey(input, 'kw')
		const result = await keyward.verify(input)
		if (!parsed.ok) {
			expect(result).toEqual(parsed)
			expect(counted.count('getByHash')).toBe(0)
		}
		expect(counted.writes()).toBe(0)
	}

	it('key format › random values of any type never throw and never reach the store', async () => {
		await fc.assert(fc.asyncProperty(fc.anything(), neverThrowsNorReadsStore), { numRuns: 1000 })
	})

	it('key format › random strings never throw and never reach the store', async () => {
		await fc.assert(fc.asyncProperty(fc.string(), neverThrowsNorReadsStore), { numRuns: 1000 })
	})

	it('key format › random full-unicode strings never throw and never reach the store', async () => {
		await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 80 }), neverThrowsNorReadsStore), {
			numRuns: 1000,
		})
	})

	it('key format › key-shaped strings with a random checksum are malformed and never reach the store', async () => {
		const body = fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 32, maxLength: 32 })
		await fc.assert(
			fc.asyncProperty(body, async (chars) => {
				const { counted, keyward } = fixture()
				const result = await keyward.verify(`kw_${chars}`)
				// a random 6-character checksum matches the CRC with probability 2^-32
				expect(result.ok).toBe(false)
				if (!result.ok && result.code === 'malformed_key') expect(counted.count('getByHash')).toBe(0)
			}),
			{ numRuns: 1000 },
		)
	})

	it('key format › a 10 MB string never throws and never reaches the store', async () => {
		const { counted, keyward } = fixture()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		counted.reset()
		const huge = `kw_${'a'.repeat(10 * 1024 * 1024)}`
		for (const input of [huge, key + huge, huge + key]) {
			expect(parseKey(input, 'kw')).toEqual({ ok: false, code: 'malformed_key' })
			expect(await keyward.verify(input)).toEqual({ ok: false, code: 'malformed_key' })
		}
		expect(counted.count('getByHash')).toBe(0)
	})

	it('key format › hostile values (throwing toString, revoked Proxy, boxed key string) are malformed_key', async () => {
		const { counted, keyward } = fixture()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		counted.reset()
		const revocable = Proxy.revocable({}, {})
		revocable.revoke()
		const hostile: unknown[] = [
			{
				toString() {
					throw new Error('no')
				},
			},
			{ [Symbol.toPrimitive]: () => key },
			new Proxy(
				{},
				{
					get() {
						throw new Error('trap')
					},
				},
			),
			revocable.proxy,
			new String(key),
			[key],
			{ key },
			Symbol('kw'),
			10n,
			() => key,
		]
		for (const input of hostile) {
			expect(parseKey(input, 'kw')).toEqual({ ok: false, code: 'malformed_key' })
			expect(await keyward.verify(input)).toEqual({ ok: false, code: 'malformed_key' })
		}
		expect(counted.count('getByHash')).toBe(0)
	})

	it('key format › undefined, null and the empty string are missing_key, without a store read', async () => {
		const { counted, keyward } = fixture()
		for (const input of [undefined, null, '']) {
			expect(parseKey(input, 'kw')).toEqual({ ok: false, code: 'missing_key' })
			expect(await keyward.verify(input)).toEqual({ ok: false, code: 'missing_key' })
		}
		expect(await keyward.verify(undefined, {})).toEqual({ ok: false, code: 'missing_key' })
		expect(counted.count('getByHash')).toBe(0)
	})

	it('key format › non-string, non-empty values are malformed_key', async () => {
		const { counted, keyward } = fixture()
		for (const input of [0, 1, false, true, Number.NaN, [], {}, new Date(), ' ', 'kw', 'kw_']) {
			expect(parseKey(input, 'kw')).toEqual({ ok: false, code: 'malformed_key' })
			expect(await keyward.verify(input)).toEqual({ ok: false, code: 'malformed_key' })
		}
		expect(counted.count('getByHash')).toBe(0)
	})

	it('key format › a well-formed key of another prefix is malformed_key and never reaches the store', async () => {
		const { counted, keyward } = fixture()
		await fc.assert(
			fc.asyncProperty(
				prefixArb.filter((p) => p !== 'kw'),
				async (prefix) => {
					const { key } = await createKeyward({ prefix }).issue({ ownerId: 'u1' })
					expect(parseKey(key, prefix).ok).toBe(true)
					expect(parseKey(key, 'kw')).toEqual({ ok: false, code: 'malformed_key' })
					expect(await keyward.verify(key)).toEqual({ ok: false, code: 'malformed_key' })
				},
			),
			{ numRuns: 100 },
		)
		expect(counted.count('getByHash')).toBe(0)
	})

	it('key format › a key with surrounding whitespace or changed case is malformed_key', async () => {
		const { keyward } = fixture()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		for (const input of [` ${key}`, `${key}\n`, `Bearer ${key}`, key.toUpperCase(), `KW${key.slice(2)}`]) {
			expect(await keyward.verify(input)).toEqual({ ok: false, code: 'malformed_key' })
		}
	})
})

/**
 * Hostile input at volume, beyond tests/http/hostile-input.test.ts (which checks the header grammar
 * over raw sockets): at least 100,000 generated inputs, counted. Most go to `verify()` in process —
 * any JavaScript value, random strings and bytes, real keys with Cyrillic, Greek and fullwidth
 * look-alikes, zero-width and combining characters, keys of other prefixes and keys with a valid
 * checksum but a body no one issued. The rest go over keep-alive HTTP to real Express, Fastify and
 * Koa servers, with many-line and huge headers. Each answer is checked against a model written
 * without keyward's parser (the checksum comes from `zlib.crc32`): never a throw, never a 500, never a
 * 200 without a valid key, exactly one store read (of the key's SHA-256) for a well-formed key and
 * none for a malformed one.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import { inspect } from 'node:util'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { ALPHABET, BODY_LENGTH, createKeyward, type Keyward, memoryStore } from 'keyward'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatKey } from '../../src/key-format.js'
import { FRAMEWORKS, type Framework, type RunningApp, startApp } from '../http/apps.js'
import { countingStore, writeFigures } from './support.js'

const PREFIX = 'sk'
const NOW = new Date('2030-01-01T00:00:00.000Z')
/** Generated inputs per in-process property (5 properties) and per framework over HTTP (3 frameworks). */
const IN_PROCESS_RUNS = 25_000
const HTTP_RUNS = 1_200
const SEED = 7_000_007

// ---- the model: what keyward should answer, written without keyward's parser ---------------------

const WELL_FORMED = new RegExp(`^${PREFIX}_[${ALPHABET}]{${BODY_LENGTH + 6}}$`)

/** Whether a value is a key keyward issues: the prefix, 32 base58 characters, the last 6 a CRC-32 of the rest. */
function wellFormed(value: unknown): value is string {
	if (typeof value !== 'string' || !WELL_FORMED.test(value)) return false
	let checksum = 0
	for (const char of value.slice(-6)) checksum = checksum * 58 + ALPHABET.indexOf(char)
	return checksum === crc32(value.slice(0, -6))
}

const sha256 = (key: string) => createHash('sha256').update(key).digest('base64url')

// ---- generators ---------------------------------------------------------------------------------

const ZERO_WIDTH = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e']
const COMBINING = ['\u0301', '\u0308', '\u0327', '\u20dd']
const CONFUSABLE: Record<string, string> = {
	a: 'аα',
	c: 'с',
	e: 'е',
	o: 'оο',
	p: 'р',
	x: 'х',
	y: 'у',
	A: 'АΑ',
	B: 'ВΒ',
	E: 'ЕΕ',
	H: 'НΗ',
	K: 'КΚ',
	M: 'МΜ',
	P: 'РΡ',
	T: 'ТΤ',
	X: 'ХΧ',
	k: 'к',
	s: 'ѕ',
	_: '＿‗',
	'1': 'Ӏ１',
}

/** A different look for one character: a Cyrillic or Greek twin, its fullwidth form, or a zero-width/combining addition. */
function disguise(char: string, pick: number): string {
	const fullwidth = char >= '!' && char <= '~' ? String.fromCharCode(char.charCodeAt(0) + 0xfee0) : ''
	const options = [
		...(CONFUSABLE[char] ?? ''),
		fullwidth,
		...ZERO_WIDTH.map((z) => char + z),
		char + COMBINING[pick % 4],
	]
	return options.filter(Boolean)[pick % options.filter(Boolean).length] as string
}

function generators(stored: readonly string[]) {
	const storedKey = fc.constantFrom(...stored)
	const body = fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: BODY_LENGTH, maxLength: BODY_LENGTH })
	/** A valid checksum on a body no one issued. */
	const unknownKey = body.map((b) => formatKey(PREFIX, b))
	/** A valid checksum under another prefix (`s`, `skk`, `pk`, `SK`…). */
	const otherPrefix = fc
		.tuple(fc.constantFrom('pk', 'kw', 'skk', 'ks', 'sl', 'rk', 'test', 'live', 'sks'), body)
		.map(([prefix, b]) => formatKey(prefix, b))
	const upperPrefix = body.map((b) => formatKey(PREFIX, b).replace(/^sk/, 'SK'))
	/** One to four characters disguised. */
	const disguised = fc
		.tuple(storedKey, fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }))
		.map(([key, picks]) => {
			const chars = [...key]
			for (const [at, pick] of picks) {
				const i = at % chars.length
				chars[i] = disguise(key[i] as string, pick)
			}
			return chars.join('')
		})
	/** The whole key in fullwidth, or NFKC-equivalent forms that a normalising layer would fold back to the key. */
	const fullwidthKey = storedKey.map((key) =>
		[...key].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
	)
	const zeroWidthAround = fc
		.tuple(storedKey, fc.constantFrom(...ZERO_WIDTH), fc.boolean())
		.map(([key, z, before]) => (before ? z + key : key + z))
	const oneCharChanged = fc.tuple(storedKey, fc.nat(), fc.constantFrom(...ALPHABET)).map(([key, at, char]) => {
		const i = 3 + (at % (key.length - 3))
		return key.slice(0, i) + (key[i] === char ? (char === 'x' ? 'y' : 'x') : char) + key.slice(i + 1)
	})
	const transposed = fc.tuple(storedKey, fc.nat()).map(([key, at]) => {
		const i = 3 + (at % (key.length - 4))
		return key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2)
	})
	const reshaped = fc
		.tuple(storedKey, fc.nat())
		.chain(([key, n]) =>
			fc.constantFrom(
				key.slice(0, n % key.length),
				key.slice(1),
				`${key}x`,
				key.toLowerCase(),
				key.toUpperCase(),
				key.normalize('NFD'),
				`${key}\u0000`,
				`\u0000${key}`,
				` ${key}`,
				`${key}\n`,
				key.replace('_', '-'),
				key.replace('_', ''),
				`${key.slice(0, 3)}${key.slice(3).split('').reverse().join('')}`,
			),
		)
	/** Random bytes, as the latin1 and the UTF-8 decoding of them. */
	const bytes = fc
		.tuple(fc.uint8Array({ maxLength: 80 }), fc.boolean())
		.map(([b, latin1]) => Buffer.from(b).toString(latin1 ? 'latin1' : 'utf8'))
	/** Right length, random characters from the whole of Unicode. */
	const rightLength = fc.string({ unit: 'binary', minLength: 35, maxLength: 35 })
	const rightLengthAscii = fc
		.string({ unit: fc.constantFrom(...ALPHABET, '0', 'O', 'I', 'l', '_', '-'), minLength: 32, maxLength: 32 })
		.map((s) => `${PREFIX}_${s}`)
	return {
		storedKey,
		unknownKey,
		otherPrefix,
		upperPrefix,
		disguised,
		fullwidthKey,
		zeroWidthAround,
		oneCharChanged,
		transposed,
		reshaped,
		bytes,
		rightLength,
		rightLengthAscii,
	}
}

// ---- the suite ----------------------------------------------------------------------------------

const counts = {
	inProcess: 0,
	http: {} as Record<string, number>,
	wellFormed: 0,
	storeReads: 0,
	malformedStoreReads: 0,
}
const httpStatuses: Record<string, number> = {}
let passedProperties = 0
const PROPERTIES = 5 + FRAMEWORKS.length

describe('hostile input at volume', () => {
	let keyward: Keyward
	let counting: ReturnType<typeof countingStore>
	/** What each stored key answers. */
	const known = new Map<string, 'valid' | 'expired_key' | 'revoked_key'>()
	let validKey: string
	let arbs: ReturnType<typeof generators>

	beforeAll(async () => {
		counting = countingStore(memoryStore())
		let now = NOW
		keyward = createKeyward({ store: counting.store, prefix: PREFIX, clock: () => now })
		const valid = await keyward.issue({ ownerId: 'user-1' })
		const expired = await keyward.issue({ ownerId: 'user-1', expiresAt: new Date(NOW.getTime() + 1000) })
		const revoked = await keyward.issue({ ownerId: 'user-1' })
		await keyward.revoke(revoked.record.id)
		now = new Date(NOW.getTime() + 60_000)
		validKey = valid.key
		known.set(valid.key, 'valid').set(expired.key, 'expired_key').set(revoked.key, 'revoked_key')
		arbs = generators([...known.keys()])
	}, 30_000)

	afterAll(() => {
		const total = counts.inProcess + Object.values(counts.http).reduce((a, b) => a + b, 0)
		writeFigures('hostile-input', {
			title: 'Hostile input',
			claim:
				'Generated inputs to verify() in process and to real Express, Fastify and Koa servers over HTTP: never a throw, never a 500, never a 200 without a valid key, one store read (of the SHA-256) per well-formed key and none for a malformed one.',
			result: passedProperties === PROPERTIES && total >= 100_000 ? 'passed' : 'failed',
			figures: {
				totalInputs: total,
				inProcess: counts.inProcess,
				overHttp: counts.http,
				wellFormedInputs: counts.wellFormed,
				storeReads: counts.storeReads,
				storeReadsForMalformedInputs: counts.malformedStoreReads,
				httpByStatus: httpStatuses,
				seed: SEED,
			},
		})
	})

	/** Runs verify() on one input and checks it against the model. */
	async function check(input: unknown) {
		counts.inProcess++
		const before = counting.hashes.length
		let result: Awaited<ReturnType<Keyward['verify']>>
		try {
			result = await keyward.verify(input)
		} catch (error) {
			throw new Error(`verify threw for ${typeof input}: ${String(error)}`)
		}
		const reads = counting.hashes.slice(before)
		counts.storeReads += reads.length
		// Plain comparisons rather than expect(): this runs about 100,000 times.
		const got = JSON.stringify({ reads, ok: result.ok, code: result.ok ? null : result.code })
		let want: string
		if (!wellFormed(input)) {
			counts.malformedStoreReads += reads.length
			const missing = input === undefined || input === null || input === ''
			want = JSON.stringify({ reads: [], ok: false, code: missing ? 'missing_key' : 'malformed_key' })
		} else {
			counts.wellFormed++
			const kind = known.get(input)
			// One read, of the hash, never the key.
			want = JSON.stringify({
				reads: [sha256(input)],
				ok: kind === 'valid',
				code: kind === 'valid' ? null : (kind ?? 'unknown_key'),
			})
		}
		if (got !== want) expect(got, `verify(${inspect(input).slice(0, 200)})`).toBe(want)
	}

	const options = (runs: number) => ({ numRuns: runs, seed: SEED })

	it('any JavaScript value: never throws, never reaches the store', async () => {
		const exotic = fc.constantFrom<unknown>(
			Symbol('k'),
			() => validKey,
			10n ** 40n,
			new Proxy({}, { get: () => validKey }),
			{ toString: () => validKey },
			[validKey],
			Buffer.from(validKey),
			new String(validKey),
			Object.create(null),
			Number.NaN,
		)
		await fc.assert(
			fc.asyncProperty(fc.oneof(fc.anything(), exotic), (value) => check(value)),
			options(IN_PROCESS_RUNS),
		)
		passedProperties++
	}, 120_000)

	it('random strings and bytes, of any and of the right length', async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.oneof(arbs.bytes, arbs.rightLength, arbs.rightLengthAscii, fc.string({ unit: 'grapheme' })),
				(value) => check(value),
			),
			options(IN_PROCESS_RUNS),
		)
		passedProperties++
	}, 120_000)

	it('look-alikes of real keys: Cyrillic, Greek, fullwidth, zero-width and combining characters', async () => {
		await fc.assert(
			fc.asyncProperty(fc.oneof(arbs.disguised, arbs.fullwidthKey, arbs.zeroWidthAround), (value) => check(value)),
			options(IN_PROCESS_RUNS),
		)
		passedProperties++
	}, 120_000)

	it('real keys with one character changed, two swapped, or reshaped', async () => {
		await fc.assert(
			fc.asyncProperty(fc.oneof(arbs.oneCharChanged, arbs.transposed, arbs.reshaped, arbs.storedKey), (value) =>
				check(value),
			),
			options(IN_PROCESS_RUNS),
		)
		passedProperties++
	}, 120_000)

	it('valid checksums on bodies no one issued, and on other prefixes', async () => {
		await fc.assert(
			fc.asyncProperty(fc.oneof(arbs.unknownKey, arbs.unknownKey, arbs.otherPrefix, arbs.upperPrefix), (value) =>
				check(value),
			),
			options(IN_PROCESS_RUNS),
		)
		passedProperties++
	}, 120_000)

	describe.each(FRAMEWORKS)('over HTTP › %s', (framework: Framework) => {
		let app: RunningApp
		const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
		beforeAll(async () => {
			app = await startApp(framework, keyward)
		}, 30_000)
		afterAll(async () => {
			agent.destroy()
			await app?.close()
		}, 30_000)

		/** Sends one request on the keep-alive connection; answers status, body and the store reads it caused. */
		function send(headers: Record<string, string | string[]>, fresh = false) {
			const before = counting.hashes.length
			return new Promise<{ status: number; body: string; type: string; reads: string[] }>((resolve, reject) => {
				// A head Node may refuse (431) goes on its own connection: the server closes it after refusing.
				const request = http.get(`${app.url}/me`, { agent: fresh ? false : agent, headers }, (response) => {
					let body = ''
					response.setEncoding('latin1')
					response.on('data', (chunk: string) => {
						body += chunk
					})
					response.on('end', () =>
						resolve({
							status: response.statusCode as number,
							body,
							type: String(response.headers['content-type'] ?? ''),
							reads: counting.hashes.slice(before),
						}),
					)
				})
				request.on('error', reject)
				request.setTimeout(10_000, () => request.destroy(new Error('no answer within 10 s')))
			})
		}

		/** A header value as bytes on the wire: UTF-8, one latin1 character per byte, without the bytes Node's client refuses. */
		const wire = (text: string) =>
			[...Buffer.from(text, 'utf8').toString('latin1')]
				.filter((char) => char === '\t' || (char >= ' ' && char !== '\x7f'))
				.join('')

		it(`${HTTP_RUNS} generated requests: look-alikes, zero-width, unknown bodies, other prefixes, many and huge headers`, async () => {
			const candidate = fc.oneof(
				arbs.storedKey,
				arbs.disguised,
				arbs.fullwidthKey,
				arbs.zeroWidthAround,
				arbs.unknownKey,
				arbs.otherPrefix,
				arbs.oneCharChanged,
				arbs.reshaped,
				arbs.bytes,
			)
			const request = fc.record({
				key: candidate,
				header: fc.constantFrom('authorization', 'x-api-key'),
				/** Unrelated header lines: none, a few, or hundreds (a huge head). */
				junk: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 400 })),
				junkSize: fc.integer({ min: 1, max: 120 }),
			})
			await fc.assert(
				fc.asyncProperty(request, async ({ key, header, junk, junkSize }) => {
					counts.http[framework] = (counts.http[framework] ?? 0) + 1
					const value = wire(key)
					const headers: Record<string, string> = {
						[header]: header === 'authorization' ? `Bearer ${value}` : value,
					}
					for (let i = 0; i < junk; i++) headers[`x-junk-${i}`] = 'j'.repeat(junkSize)
					const headSize = Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 100)
					const before = counting.hashes.length
					const response = await send(headers, headSize > 15_000).catch((error: NodeJS.ErrnoException) => {
						// A server refusing a huge head may close the connection while the client still writes it.
						if (headSize > 16_000 && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) return null
						throw error
					})
					if (response === null) {
						httpStatuses.reset = (httpStatuses.reset ?? 0) + 1
						expect(counting.hashes.length).toBe(before)
						return
					}
					httpStatuses[response.status] = (httpStatuses[response.status] ?? 0) + 1
					counts.storeReads += response.reads.length
					// What keyward receives: Node decodes header bytes as latin1 and trims spaces and tabs.
					const received = value.replace(/^[ \t]+|[ \t]+$/g, '')
					expect(response.status).not.toBe(500)
					if (response.status === 431) {
						expect(headSize).toBeGreaterThan(16_000)
						expect(response.reads).toEqual([])
						return
					}
					if (!wellFormed(received)) {
						counts.malformedStoreReads += response.reads.length
						expect(response.reads).toEqual([])
						expect(response.status).toBe(401)
						expect(response.type).toBe('application/problem+json')
						const code = (JSON.parse(response.body) as { code: string }).code
						expect(['malformed_key', 'missing_key']).toContain(code)
						return
					}
					counts.wellFormed++
					expect(response.reads).toEqual([sha256(received)])
					const kind = known.get(received)
					if (kind === 'valid') {
						expect(response.status).toBe(200)
					} else {
						expect(response.status).toBe(401)
						expect((JSON.parse(response.body) as { code: string }).code).toBe(kind ?? 'unknown_key')
					}
				}),
				options(HTTP_RUNS),
			)
			// Still up, and still lets the valid key through.
			expect((await send({ authorization: `Bearer ${validKey}` })).status).toBe(200)
			passedProperties++
		}, 180_000)
	})

	it('sent at least 100,000 generated inputs in all', () => {
		const total = counts.inProcess + Object.values(counts.http).reduce((a, b) => a + b, 0)
		expect(total).toBeGreaterThanOrEqual(100_000)
		expect(counts.malformedStoreReads).toBe(0)
	}, 5_000)
})

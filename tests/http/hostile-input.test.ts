/**
 * Hostile input, property-based: random Authorization and X-API-Key bytes sent over raw TCP to real
 * Express, Fastify and Koa servers. Each answer is checked against a model of the HTTP contract
 * (Node's header parsing, then "Bearer <key>, else X-API-Key", then `parseKey`), and against
 * invariants that need no model: never 200 for anything but a valid key, never 5xx, a keyward body
 * is a well-formed problem, and input `parseKey` rejects never reaches the store.
 */
import fc from 'fast-check'
import { ALPHABET, createKeyward, parseKey } from 'keyward'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, type RunningApp, startApp } from './apps.js'
import {
	bearer,
	type HeaderLine,
	type RawResponse,
	rawRequest,
	requestHead,
	type TestStore,
	testStore,
} from './support.js'

const PREFIX = 'sk'
const NOW = new Date('2030-01-01T00:00:00.000Z')
const CONTRACT_CODES = new Set([
	'missing_key',
	'malformed_key',
	'unknown_key',
	'expired_key',
	'revoked_key',
	'insufficient_scope',
	'store_unavailable',
])
/** Node answers 431 above about 16 KB of head (16,412 bytes here, leading spaces not counted); near the limit either may answer. */
const HEAD_SURELY_FITS = 16_200
const HEAD_SURELY_TOO_BIG = 16_600
/** Generated requests per property and framework: 3 properties × 3 frameworks × these ≥ 3 × 1,000. */
const RUNS = { authorization: 800, apiKey: 800, mixed: 600 }

interface Keys {
	valid: string
	admin: string
	expired: string
	revoked: string
	/** Well formed, valid checksum, prefix `sk`, but issued by another instance: never stored here. */
	unknown: readonly string[]
	otherPrefix: string
}

/** What keyward should answer for a known key on /me. */
type Known = Map<string, 'valid' | 'admin' | 'expired_key' | 'revoked_key'>

// ---- byte strings -------------------------------------------------------------------------------

/** A string as UTF-8 bytes, one character per byte (what goes on the wire and Node decodes as latin1). */
const utf8 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1')

const range = (from: number, to: number) =>
	Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i))

/**
 * Header-value bytes Node accepts: HTAB, printable ASCII, and 0x80–0xFF (including the C1 controls
 * 0x80–0x9F, and 0xA0, a latin1 no-break space, which keyward must not trim).
 */
const ACCEPTED_BYTES = ['\t', ...range(0x20, 0x7e), ...range(0x80, 0xff)]
/** Control bytes Node's parser refuses in a header value (CR and LF left out: they end the line). */
const REFUSED_BYTES = [...range(0x00, 0x08), '\x0b', '\x0c', ...range(0x0e, 0x1f), '\x7f']
const REFUSED = new Set(REFUSED_BYTES)
/** ASCII controls, which a header value cannot hold as such (CR and LF would end the line). */
const isAsciiControl = (char: string) => char < ' ' || char === '\x7f'
const PRINTABLE = range(0x21, 0x7e)

/** Look-alikes of key characters: Cyrillic and Greek letters, ASCII confusables; fullwidth forms are added per character. */
const CONFUSABLES: Record<string, string> = {
	a: 'аα',
	c: 'сϲ',
	e: 'еε',
	i: 'іι',
	j: 'ј',
	k: 'кκ',
	o: 'оο0',
	p: 'рρ',
	s: 'ѕ',
	u: 'υ',
	v: 'ν',
	x: 'хχ',
	y: 'уγ',
	A: 'АΑ',
	B: 'ВΒ',
	C: 'С',
	E: 'ЕΕ',
	H: 'НΗ',
	K: 'КΚ',
	M: 'МΜ',
	N: 'Ν',
	P: 'РΡ',
	T: 'ТΤ',
	X: 'ХΧ',
	Y: 'ҮΥ',
	Z: 'Ζ',
	'1': 'lI|',
	_: '‗＿-',
}

function lookalikes(char: string): string[] {
	const code = char.charCodeAt(0)
	const fullwidth = code >= 0x21 && code <= 0x7e ? [String.fromCharCode(code + 0xfee0)] : []
	return [...(CONFUSABLES[char] ?? ''), ...fullwidth]
}

// ---- arbitraries --------------------------------------------------------------------------------

function arbitraries(keys: Keys) {
	const ows = fc.constantFrom('', '', ' ', '\t', '  ', ' \t ', '\t\t')
	const someKey = fc.constantFrom(keys.valid, keys.admin, keys.expired, keys.revoked, ...keys.unknown, keys.otherPrefix)
	const storedKey = fc.constantFrom(keys.valid, keys.admin, keys.expired, keys.revoked)

	/** One character changed (never to itself). */
	const oneCharChanged = fc
		.tuple(storedKey, fc.nat(), fc.constantFrom(...ALPHABET, ...PRINTABLE))
		.map(([key, at, char]) => {
			const i = at % key.length
			const replacement = char === key[i] ? (char === 'x' ? 'y' : 'x') : char
			return key.slice(0, i) + replacement + key.slice(i + 1)
		})

	/** One to three characters replaced by Cyrillic, Greek, fullwidth or ASCII look-alikes. */
	const lookalike = fc
		.tuple(storedKey, fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 }))
		.map(([key, picks]) => {
			const chars = [...key]
			for (const [at, which] of picks) {
				const i = at % chars.length
				const options = lookalikes(key[i] as string)
				if (options.length > 0) chars[i] = options[which % options.length] as string
			}
			return utf8(chars.join(''))
		})

	/** Cut short, grown, prefix changed, case changed, separator changed. */
	const reshaped = fc
		.tuple(storedKey, fc.nat(), fc.constantFrom(...ALPHABET))
		.chain(([key, n, char]) =>
			fc.constantFrom(
				key.slice(0, n % key.length),
				key + char,
				char + key,
				key + key,
				`pk${key.slice(2)}`,
				key.toUpperCase(),
				`${PREFIX}-${key.slice(3)}`,
				`${key.slice(0, 10)} ${key.slice(10)}`,
				`${key},${key}`,
			),
		)

	const bytes = (maxLength: number) => fc.string({ unit: fc.constantFrom(...ACCEPTED_BYTES), maxLength })
	/** Any Unicode, as UTF-8, without the ASCII controls (CR and LF would end the header line). */
	const unicode = fc
		.string({ unit: 'grapheme', maxLength: 40 })
		.map((text) => utf8([...text].filter((char) => !isAsciiControl(char)).join('')))
	const whitespaceOnly = fc.string({ unit: fc.constantFrom(' ', '\t'), minLength: 1, maxLength: 30 })
	/** 1 KB to 17 KB: below, around and above Node's header limit. */
	const huge = fc
		.tuple(fc.integer({ min: 1_000, max: 17_000 }), fc.constantFrom('a', 'A', '1', ' ', '_', '\x85', '\xff'), someKey)
		.chain(([length, char, key]) =>
			fc.constantFrom(char.repeat(length), key.repeat(Math.ceil(length / key.length)), char.repeat(length) + key),
		)
	/** A value holding a control byte Node refuses: Node answers 400 before any framework runs. */
	const refused = fc
		.tuple(fc.oneof(someKey, bytes(10)), fc.constantFrom(...REFUSED_BYTES), fc.nat())
		.map(([value, ctl, at]) => {
			const i = at % (value.length + 1)
			return value.slice(0, i) + ctl + value.slice(i)
		})

	/** A candidate key: the interesting kinds often, random bytes sometimes. */
	const core = fc.oneof(
		{ arbitrary: someKey, weight: 4 },
		{ arbitrary: oneCharChanged, weight: 4 },
		{ arbitrary: lookalike, weight: 3 },
		{ arbitrary: reshaped, weight: 3 },
		{ arbitrary: bytes(60), weight: 2 },
		{ arbitrary: unicode, weight: 2 },
		{ arbitrary: fc.constant(''), weight: 1 },
		{ arbitrary: whitespaceOnly, weight: 1 },
		{ arbitrary: fc.tuple(someKey, fc.constantFrom(...range(0x80, 0x9f))).map(([k, c1]) => k + c1), weight: 1 },
		{ arbitrary: huge, weight: 1 },
		{ arbitrary: refused, weight: 1 },
	)

	const scheme = fc.oneof(
		{ arbitrary: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'BeArEr'), weight: 3 },
		{
			arbitrary: fc.constantFrom(
				'Basic',
				'Token',
				'ApiKey',
				'Bearer:',
				'Bearer,',
				'Bearerr',
				'Bear',
				utf8('Веarer'), // Cyrillic В
				utf8('Ｂearer'), // fullwidth Ｂ
				'',
			),
			weight: 2,
		},
	)
	const separator = fc.constantFrom('', ' ', ' ', '\t', '  ', ' \t ', '\t\t', ',', '=', '\x85')
	const authorizationValue = fc
		.tuple(ows, scheme, separator, core, ows)
		.map(([before, s, sep, key, after]) => before + s + sep + key + after)
	const apiKeyValue = fc.tuple(ows, core, ows).map(([before, key, after]) => before + key + after)

	const authorizationName = fc.constantFrom('Authorization', 'authorization', 'AUTHORIZATION')
	const apiKeyName = fc.constantFrom('X-API-Key', 'x-api-key', 'X-Api-Key', 'X-API-KEY')
	const authorizationLine = fc.record({ name: authorizationName, value: authorizationValue })
	const apiKeyLine = fc.record({ name: apiKeyName, value: apiKeyValue })
	/** Headers keyward must not read: a key there is no key. */
	const otherLine = fc.record({
		name: fc.constantFrom('X-Api-Token', 'Proxy-Authorization', 'Cookie', 'X-Forwarded-Authorization'),
		value: fc.oneof(
			someKey,
			someKey.map((k) => `Bearer ${k}`),
		),
	})
	/** `/me` or `/admin`, sometimes with a key in the query string, which is off by default. */
	const path = fc
		.tuple(fc.constantFrom('/me', '/me', '/admin'), fc.constantFrom('', '', `?api_key=${keys.valid}`, '?x=1'))
		.map(([p, q]) => p + q)

	return {
		path,
		authorization: fc.tuple(authorizationLine).map((lines): HeaderLine[] => lines),
		apiKey: fc.tuple(apiKeyLine).map((lines): HeaderLine[] => lines),
		/** Zero to five lines in any order: repeated Authorization and X-API-Key lines, mixed with others. */
		mixed: fc.array(fc.oneof(authorizationLine, apiKeyLine, otherLine), { maxLength: 5 }),
	}
}

// ---- the model ----------------------------------------------------------------------------------

/** What Node hands the framework for a header value: latin1, with spaces and tabs trimmed (HTTP's OWS). */
const trimOws = (value: string) => value.replace(/^[ \t]+|[ \t]+$/g, '')

type Expected =
	| { readonly by: 'node'; readonly statuses: readonly number[] }
	| {
			readonly by: 'keyward' | 'either'
			readonly status: number
			readonly code: string | null
			readonly storeReads: 0 | 1
	  }

/**
 * The contract, written independently of `readKey`: Node keeps the first Authorization line and joins
 * repeated X-API-Key lines with ", "; keyward reads `Bearer <key>` from Authorization (another scheme
 * is no key), else X-API-Key, and never the query string unless asked.
 */
function expected(url: string, path: string, lines: readonly HeaderLine[], known: Known): Expected {
	// The spaces and tabs that open a header value do not count toward Node's limit.
	const size = lines.reduce(
		(total, line) => total - (line.value.length - line.value.replace(/^[ \t]+/, '').length),
		requestHead(url, path, lines).length,
	)
	const refused = lines.some((line) => [...line.value].some((char) => REFUSED.has(char)))
	if (size >= HEAD_SURELY_TOO_BIG) return { by: 'node', statuses: [400, 431] }
	if (refused) return { by: 'node', statuses: size > HEAD_SURELY_FITS ? [400, 431] : [400] }

	const authorization = lines.find((line) => line.name.toLowerCase() === 'authorization')
	const apiKeys = lines.filter((line) => line.name.toLowerCase() === 'x-api-key')
	let candidate: string | undefined
	let emptyBearer = false
	const value = authorization && trimOws(authorization.value)
	const scheme = value === undefined ? null : /^bearer(?:[ \t]+|$)/i.exec(value)
	if (value !== undefined && scheme) {
		candidate = trimOws(value.slice(scheme[0].length))
		emptyBearer = candidate === ''
	} else if (apiKeys.length > 0) {
		candidate = trimOws(apiKeys.map((line) => trimOws(line.value)).join(', '))
	}

	const by = size > HEAD_SURELY_FITS ? 'either' : 'keyward'
	const parsed = emptyBearer ? ({ ok: false, code: 'malformed_key' } as const) : parseKey(candidate, PREFIX)
	if (!parsed.ok) return { by, status: 401, code: parsed.code, storeReads: 0 }
	const kind = known.get(parsed.key)
	const admin = path.startsWith('/admin')
	if (kind === 'valid')
		return admin
			? { by, status: 403, code: 'insufficient_scope', storeReads: 1 }
			: { by, status: 200, code: null, storeReads: 1 }
	if (kind === 'admin') return { by, status: 200, code: null, storeReads: 1 }
	return { by, status: 401, code: kind ?? 'unknown_key', storeReads: 1 }
}

// ---- checks -------------------------------------------------------------------------------------

function fromKeyward(response: RawResponse): boolean {
	return response.headers['content-type'] === 'application/problem+json'
}

/** Invariants that need no model. */
function checkInvariants(response: RawResponse, storeReads: number, validKeys: readonly string[], sent: string[]) {
	expect([200, 400, 401, 403, 431]).toContain(response.status)
	if (fromKeyward(response)) {
		const body = JSON.parse(response.body) as { code?: unknown; status?: unknown }
		expect(CONTRACT_CODES.has(body.code as string), `code ${String(body.code)}`).toBe(true)
		expect(body.status).toBe(response.status)
		expect([401, 403]).toContain(response.status)
		if (body.code === 'missing_key' || body.code === 'malformed_key') expect(storeReads).toBe(0)
	} else if (response.status === 400 || response.status === 431) {
		// Node (or Fastify's client-error handler) refused the request before keyward saw it.
		expect(response.body).not.toMatch(/"code":"[a-z_]+_(key|scope|unavailable)"/)
		expect(storeReads).toBe(0)
	} else {
		expect(response.status).toBe(200)
		expect(response.headers['content-type']).toMatch(/^application\/json/)
		expect(storeReads).toBe(1)
	}
	if (response.status === 200) {
		// Without a model: only a request with a valid key in some header can get through (the model
		// below checks it was exactly the key keyward should read).
		const carried = sent.some((value) => validKeys.some((key) => value.includes(key)))
		expect(carried).toBe(true)
	}
	for (const key of validKeys) expect(response.raw).not.toContain(key)
}

function checkModel(response: RawResponse, storeReads: number, model: Expected) {
	const node = !fromKeyward(response) && (response.status === 400 || response.status === 431)
	if (model.by === 'node') {
		expect(node, `Node should refuse this request, got ${response.status}`).toBe(true)
		expect(model.statuses).toContain(response.status)
		return
	}
	if (model.by === 'either' && node) return
	expect({ status: response.status, code: codeOf(response), storeReads }).toEqual({
		status: model.status,
		code: model.code,
		storeReads: model.storeReads,
	})
}

function codeOf(response: RawResponse): string | null {
	return fromKeyward(response) ? ((JSON.parse(response.body) as { code: string }).code ?? null) : null
}

// ---- the suite ----------------------------------------------------------------------------------

describe.each(FRAMEWORKS)('hostile input › %s', (framework) => {
	let app: RunningApp
	let store: TestStore
	let keys: Keys
	let known: Known
	let arbs: ReturnType<typeof arbitraries>
	let sent = 0

	beforeAll(async () => {
		store = testStore()
		let now = NOW
		const keyward = createKeyward({ store: store.store, prefix: PREFIX, clock: () => now })
		const valid = await keyward.issue({ ownerId: 'user-1', scopes: ['read'] })
		const admin = await keyward.issue({ ownerId: 'admin-1', scopes: ['read', 'admin'] })
		const expired = await keyward.issue({ ownerId: 'user-1', expiresAt: new Date(NOW.getTime() + 1000) })
		const revoked = await keyward.issue({ ownerId: 'user-1' })
		await keyward.revoke(revoked.record.id)
		now = new Date(NOW.getTime() + 60_000)
		const elsewhere = createKeyward({ prefix: PREFIX })
		const unknown = await Promise.all([1, 2, 3].map(() => elsewhere.issue({ ownerId: 'elsewhere' })))
		const otherPrefix = await createKeyward({ prefix: 'pk' }).issue({ ownerId: 'elsewhere' })
		keys = {
			valid: valid.key,
			admin: admin.key,
			expired: expired.key,
			revoked: revoked.key,
			unknown: unknown.map((issued) => issued.key),
			otherPrefix: otherPrefix.key,
		}
		known = new Map([
			[keys.valid, 'valid'],
			[keys.admin, 'admin'],
			[keys.expired, 'expired_key'],
			[keys.revoked, 'revoked_key'],
		])
		arbs = arbitraries(keys)
		app = await startApp(framework, keyward)
	})
	afterAll(() => app?.close())

	/** Sends one generated request and checks it. */
	async function check(path: string, lines: readonly HeaderLine[]) {
		sent++
		const before = store.calls.getByHash ?? 0
		const response = await rawRequest(app.url, path, lines)
		const reads = (store.calls.getByHash ?? 0) - before
		checkInvariants(
			response,
			reads,
			[keys.valid, keys.admin],
			lines.map((line) => line.value),
		)
		checkModel(response, reads, expected(app.url, path, lines, known))
	}

	/** The server is still up and still lets a valid key through. */
	async function stillServes() {
		const response = await rawRequest(app.url, '/me', [bearer(keys.valid)])
		expect(response.status).toBe(200)
		expect(JSON.parse(response.body)).toMatchObject({ ownerId: 'user-1' })
	}

	it('Authorization: random schemes, separators and keys never pass, crash, or reach the store when malformed', async () => {
		await fc.assert(
			fc.asyncProperty(arbs.path, arbs.authorization, (path, lines) => check(path, lines)),
			{
				numRuns: RUNS.authorization,
				examples: [
					['/me', [{ name: 'Authorization', value: 'Bearer' }]],
					['/me', [{ name: 'Authorization', value: 'Bearer \t ' }]],
					['/me', [{ name: 'Authorization', value: 'Bearer\t\t \t' }]],
					['/me', [{ name: 'Authorization', value: '' }]],
					['/me', [{ name: 'Authorization', value: `Basic ${keys.valid}` }]],
					['/me', [{ name: 'Authorization', value: `Bearer\t${keys.valid}\t` }]],
					['/me', [{ name: 'Authorization', value: `Bearer ${keys.valid.slice(0, -1)}` }]],
					['/me', [{ name: 'Authorization', value: `${utf8('Веarer')} ${keys.valid}` }]],
				],
			},
		)
		await stillServes()
	})

	it('X-API-Key: random, huge, empty, look-alike and control-character values never pass or crash', async () => {
		await fc.assert(
			fc.asyncProperty(arbs.path, arbs.apiKey, (path, lines) => check(path, lines)),
			{
				numRuns: RUNS.apiKey,
				examples: [
					['/me', [{ name: 'X-API-Key', value: '' }]],
					['/me', [{ name: 'X-API-Key', value: ' \t \t ' }]],
					['/me', [{ name: 'X-API-Key', value: 'a'.repeat(16_000) }]],
					['/me', [{ name: 'X-API-Key', value: 'a'.repeat(17_000) }]],
					['/me', [{ name: 'X-API-Key', value: `${keys.valid}\x01` }]],
					['/me', [{ name: 'X-API-Key', value: `${keys.valid}\x85` }]],
					['/me', [{ name: 'X-API-Key', value: utf8(keys.valid.replace(/1/g, '１')) }]],
					['/me', [{ name: 'X-API-Key', value: keys.unknown[0] as string }]],
				],
			},
		)
		await stillServes()
	})

	it('repeated and mixed header lines follow "Bearer, else X-API-Key" and never pass a bad key', async () => {
		await fc.assert(
			fc.asyncProperty(arbs.path, arbs.mixed, (path, lines) => check(path, lines)),
			{
				numRuns: RUNS.mixed,
				examples: [
					[
						'/me',
						[
							{ name: 'X-API-Key', value: keys.valid },
							{ name: 'X-API-Key', value: keys.valid },
						],
					],
					[
						'/me',
						[
							{ name: 'X-API-Key', value: 'garbage' },
							{ name: 'X-API-Key', value: keys.valid },
						],
					],
					['/me', [{ name: 'Authorization', value: 'Bearer garbage' }, bearer(keys.valid)]],
					['/me', [bearer(keys.valid), { name: 'Authorization', value: 'Bearer garbage' }]],
					[
						'/me',
						[
							{ name: 'Authorization', value: 'Bearer' },
							{ name: 'X-API-Key', value: keys.valid },
						],
					],
					[
						'/me',
						[
							{ name: 'Authorization', value: `Basic ${keys.valid}` },
							{ name: 'X-API-Key', value: keys.valid },
						],
					],
					['/me', [{ name: 'Proxy-Authorization', value: `Bearer ${keys.valid}` }]],
				],
			},
		)
		await stillServes()
	})

	it('sent at least 1,000 generated requests, and still answers a valid key', async () => {
		expect(sent).toBeGreaterThanOrEqual(1000)
		await stillServes()
	})

	// Node trims only spaces and tabs (HTTP's OWS) from header values. A latin1 no-break space (byte 0xA0)
	// next to a key is part of the value, so the value is not exactly a valid key.
	it.each([
		['X-API-Key', (key: string) => `${key}\xa0`],
		['X-API-Key', (key: string) => `\xa0${key}`],
		['Authorization', (key: string) => `Bearer ${key}\xa0`],
		['Authorization', (key: string) => `Bearer \xa0${key}`],
	])('a valid key with a no-break space byte (0xA0) in %s is malformed, not valid (#%#)', async (name, value) => {
		const before = store.calls.getByHash ?? 0
		const response = await rawRequest(app.url, '/me', [{ name, value: value(keys.valid) }])
		expect({ status: response.status, code: codeOf(response) }).toEqual({ status: 401, code: 'malformed_key' })
		expect((store.calls.getByHash ?? 0) - before).toBe(0)
	})
})

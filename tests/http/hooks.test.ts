/**
 * The adapter options and hooks, on real Express, Fastify and Koa servers: `onResult`, `respond`,
 * `header`, `extract`, `allowQuery`, unknown options, the reuse of one verification by a second
 * keyward check in the same request, and Fastify's route-level `config.apiKey`.
 */
import type { IncomingHttpHeaders } from 'node:http'
import Router from '@koa/router'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { createKeyward, type HttpProblemResponse, type HttpResultEvent, isKeywardError, type Keyward } from 'keyward'
import { requireApiKey as expressKey } from 'keyward/express'
import { keywardPlugin } from 'keyward/fastify'
import { requireApiKey as koaKey } from 'keyward/koa'
import Koa from 'koa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRAMEWORKS, type Framework, type RunningApp, startApp } from './apps.js'
import {
	bearer,
	type HeaderLine,
	listening,
	type RawResponse,
	rawRequest,
	type StoreMode,
	type TestStore,
	testStore,
	typo,
} from './support.js'

const T0 = new Date('2030-01-01T00:00:00.000Z')
const EXPIRES = new Date('2030-01-01T00:00:01.000Z')

type KeyName = 'valid' | 'admin' | 'expired' | 'revoked' | 'unknown'
type Keys = Record<KeyName, string>

interface Setup {
	keyward: Keyward
	control: TestStore
	keys: Keys
	/** Record ids of the stored keys. */
	ids: Record<Exclude<KeyName, 'unknown'>, string>
}

async function setup(): Promise<Setup> {
	const control = testStore()
	let now = T0
	const keyward = createKeyward({ store: control.store, prefix: 'sk', clock: () => now })
	const valid = await keyward.issue({ ownerId: 'user-1', scopes: ['read'] })
	const admin = await keyward.issue({ ownerId: 'admin-1', scopes: ['read', 'admin'] })
	const expired = await keyward.issue({ ownerId: 'user-1', expiresAt: EXPIRES })
	const revoked = await keyward.issue({ ownerId: 'user-1' })
	await keyward.revoke(revoked.record.id)
	const unknown = await createKeyward({ prefix: 'sk' }).issue({ ownerId: 'elsewhere' })
	now = new Date(EXPIRES.getTime() + 60_000)
	return {
		keyward,
		control,
		keys: { valid: valid.key, admin: admin.key, expired: expired.key, revoked: revoked.key, unknown: unknown.key },
		ids: { valid: valid.record.id, admin: admin.record.id, expired: expired.record.id, revoked: revoked.record.id },
	}
}

/** The framework's own request object, as `onResult`, `respond` and `extract` receive it. */
function isFrameworkRequest(framework: Framework, request: unknown): boolean {
	if (typeof request !== 'object' || request === null) return false
	switch (framework) {
		case 'express':
			return 'originalUrl' in request && 'res' in request
		case 'fastify':
			return 'routeOptions' in request && 'raw' in request
		case 'koa':
			return 'state' in request && 'request' in request && 'response' in request
	}
}

/** The event as JSON without the request, errors spelled out (message, stack, cause). */
function eventText(event: HttpResultEvent): string {
	return JSON.stringify({ ...event, request: undefined }, (_, value) =>
		value instanceof Error
			? { name: value.name, message: value.message, stack: value.stack, cause: value.cause }
			: value,
	)
}

function problemCode(response: RawResponse): string | undefined {
	return response.headers['content-type'] === 'application/problem+json'
		? (JSON.parse(response.body) as { code: string }).code
		: undefined
}

/** Status and keyward code of a response, for one readable comparison. */
function outcome(response: RawResponse): { status: number; code: string | undefined } {
	return { status: response.status, code: problemCode(response) }
}

/** Whatever a bad option makes surface: what construction threw or `register`/`ready` rejected with, and any exception that escaped Fastify. */
async function constructionError(
	framework: Framework,
	keyward: Keyward,
	options: Record<string, unknown>,
): Promise<{ thrown: unknown; escaped: unknown[] }> {
	if (framework === 'express' || framework === 'koa') {
		try {
			;(framework === 'express' ? expressKey : koaKey)(keyward, options as never)
		} catch (error) {
			return { thrown: error, escaped: [] }
		}
		return { thrown: undefined, escaped: [] }
	}
	return fastifyStartupError((app) => app.register(keywardPlugin, { keyward, ...options } as never))
}

/**
 * Builds a Fastify app and answers what `build`/`ready()` rejected with. An exception Fastify does not
 * catch (a plugin that throws instead of calling `done(err)`) is captured into `escaped` rather than
 * left to crash the test worker, and `pluginTimeout` keeps the resulting hang short.
 */
async function fastifyStartupError(
	build: (app: FastifyInstance) => unknown,
): Promise<{ thrown: unknown; escaped: unknown[] }> {
	const escaped: unknown[] = []
	const app = Fastify({ pluginTimeout: 250 })
	let thrown: unknown
	process.setUncaughtExceptionCaptureCallback((error) => escaped.push(error))
	try {
		await build(app)
		await app.ready()
	} catch (error) {
		thrown = error
	} finally {
		process.setUncaughtExceptionCaptureCallback(null)
		await app.close().catch(() => {})
	}
	return { thrown, escaped }
}

/** A short, comparable name for an error: its code, else its message. */
const errorCode = (error: unknown): unknown =>
	error === undefined ? undefined : ((error as { code?: unknown }).code ?? String(error))

describe.each(FRAMEWORKS)('hooks › %s', (framework) => {
	let s: Setup
	beforeAll(async () => {
		s = await setup()
	})
	afterEach(() => {
		s.control.mode = 'ok'
	})

	describe('onResult', () => {
		let app: RunningApp
		const events: HttpResultEvent[] = []
		beforeAll(async () => {
			app = await startApp(framework, s.keyward, { onResult: (event) => events.push(event) })
		})
		beforeEach(() => {
			events.length = 0
		})
		afterAll(() => app?.close())

		interface Case {
			name: string
			path: '/me' | '/admin'
			send?: KeyName | 'typo'
			mode?: StoreMode
			code: string
			status: number
			record: Exclude<KeyName, 'unknown'> | null
		}
		const cases: Case[] = [
			{ name: 'a valid key', path: '/me', send: 'valid', code: 'valid', status: 200, record: 'valid' },
			{ name: 'no key', path: '/me', code: 'missing_key', status: 401, record: null },
			{ name: 'a malformed key', path: '/me', send: 'typo', code: 'malformed_key', status: 401, record: null },
			{ name: 'an unknown key', path: '/me', send: 'unknown', code: 'unknown_key', status: 401, record: null },
			{ name: 'an expired key', path: '/me', send: 'expired', code: 'expired_key', status: 401, record: 'expired' },
			{ name: 'a revoked key', path: '/me', send: 'revoked', code: 'revoked_key', status: 401, record: 'revoked' },
			{
				name: 'a failing store',
				path: '/me',
				send: 'valid',
				mode: 'fail',
				code: 'store_unavailable',
				status: 503,
				record: null,
			},
			{
				name: 'a key lacking the route scope (/admin)',
				path: '/admin',
				send: 'valid',
				code: 'insufficient_scope',
				status: 403,
				record: 'valid',
			},
			{
				name: 'a key with the route scope (/admin)',
				path: '/admin',
				send: 'admin',
				code: 'valid',
				status: 200,
				record: 'admin',
			},
		]

		it.each(cases)('is called once for $name: $code, $status, with the record', async (c) => {
			const key = c.send === undefined ? undefined : c.send === 'typo' ? typo(s.keys.valid) : s.keys[c.send]
			s.control.mode = c.mode ?? 'ok'
			const response = await rawRequest(app.url, c.path, key === undefined ? [] : [bearer(key)])
			expect(response.status).toBe(c.status)
			// One event per request, naming the outcome the client got.
			expect(events.map((event) => ({ code: event.code, status: event.status }))).toEqual([
				{ code: c.code, status: c.status },
			])
			const [event] = events as [HttpResultEvent]
			expect(event.record?.id ?? null).toBe(c.record === null ? null : s.ids[c.record])
			expect(isFrameworkRequest(framework, event.request)).toBe(true)
			if (c.code === 'store_unavailable') expect(isKeywardError(event.error, 'store_unavailable')).toBe(true)
			else expect(event.error).toBeUndefined()
			const text = eventText(event)
			for (const sent of [...Object.values(s.keys), typo(s.keys.valid)]) expect(text).not.toContain(sent)
		})
	})

	describe('respond', () => {
		let app: RunningApp
		const calls: { problem: HttpProblemResponse; code: string; request: unknown }[] = []
		beforeAll(async () => {
			app = await startApp(framework, s.keyward, {
				respond: (problem, event): HttpProblemResponse | undefined => {
					calls.push({ problem, code: event.code, request: event.request })
					if (event.code === 'missing_key' || event.code === 'unknown_key') {
						return { status: 401, headers: { 'x-legacy': 'yes' }, body: { error: 'unauthorized' } }
					}
					if (event.code === 'revoked_key') {
						return {
							status: 410,
							headers: { 'content-type': 'application/vnd.legacy+json', 'x-legacy': 'gone' },
							body: { error: 'gone' },
						}
					}
					return undefined
				},
			})
		})
		beforeEach(() => {
			calls.length = 0
		})
		afterAll(() => app?.close())

		it('replaces the response with a legacy body, status and headers', async () => {
			for (const lines of [[], [bearer(s.keys.unknown)]]) {
				const response = await rawRequest(app.url, '/me', lines)
				expect(response.status).toBe(401)
				expect(JSON.parse(response.body)).toEqual({ error: 'unauthorized' })
				expect(response.headers['x-legacy']).toBe('yes')
				expect(response.headers['content-type']).toMatch(/^application\/json\b/)
				expect(response.headers['www-authenticate']).toBeUndefined()
			}
			const revoked = await rawRequest(app.url, '/me', [bearer(s.keys.revoked)])
			expect(revoked.status).toBe(410)
			expect(revoked.headers['content-type']).toBe('application/vnd.legacy+json')
			expect(revoked.headers['x-legacy']).toBe('gone')
			expect(JSON.parse(revoked.body)).toEqual({ error: 'gone' })
		})

		it("receives keyward's response and the outcome", async () => {
			await rawRequest(app.url, '/me', [])
			expect(calls).toHaveLength(1)
			const [call] = calls as [(typeof calls)[number]]
			expect(call.code).toBe('missing_key')
			expect(call.problem.status).toBe(401)
			expect(call.problem.headers).toMatchObject({
				'content-type': 'application/problem+json',
				'www-authenticate': 'Bearer realm="api"',
			})
			expect(call.problem.body).toMatchObject({ code: 'missing_key', status: 401 })
			expect(isFrameworkRequest(framework, call.request)).toBe(true)
		})

		it("keeps keyward's response when it returns undefined, and is not called for a valid key", async () => {
			const malformed = await rawRequest(app.url, '/me', [bearer(typo(s.keys.valid))])
			expect(outcome(malformed)).toEqual({ status: 401, code: 'malformed_key' })
			expect(malformed.headers['www-authenticate']).toMatch(/error="invalid_token"/)
			const scope = await rawRequest(app.url, '/admin', [bearer(s.keys.valid)])
			expect(outcome(scope)).toEqual({ status: 403, code: 'insufficient_scope' })
			expect(calls.map((call) => call.code)).toEqual(['malformed_key', 'insufficient_scope'])
			calls.length = 0
			expect((await rawRequest(app.url, '/me', [bearer(s.keys.valid)])).status).toBe(200)
			expect(calls).toEqual([])
		})
	})

	describe('respond with a header Node refuses', () => {
		let app: RunningApp
		beforeAll(async () => {
			app = await startApp(framework, s.keyward, {
				respond: (problem) => ({ ...problem, headers: { ...problem.headers, 'x-broken': 'line\nbreak' } }),
			})
		})
		afterAll(() => app?.close())

		it("goes to the framework's error handling, whether the key was refused at once or after a store read, and the server keeps serving", async () => {
			// A malformed key is refused without a store read; an unknown one after a read through a promise.
			for (const key of [typo(s.keys.valid), s.keys.unknown]) {
				const response = await rawRequest(app.url, '/me', [bearer(key)])
				expect(response.status).toBeGreaterThanOrEqual(400)
				expect(response.headers['x-broken']).toBeUndefined()
			}
			expect((await rawRequest(app.url, '/me', [bearer(s.keys.valid)])).status).toBe(200)
		})
	})

	describe("header: 'x-token'", () => {
		let app: RunningApp
		beforeAll(async () => {
			app = await startApp(framework, s.keyward, { header: 'x-token' })
		})
		afterAll(() => app?.close())

		it('reads the bare key from X-Token, and only from there', async () => {
			const send = (lines: HeaderLine[]) => rawRequest(app.url, '/me', lines).then(outcome)
			expect(await send([{ name: 'X-Token', value: s.keys.valid }])).toEqual({ status: 200, code: undefined })
			expect(await send([{ name: 'x-token', value: ` ${s.keys.valid}\t` }])).toEqual({ status: 200, code: undefined })
			expect(await send([bearer(s.keys.valid)])).toEqual({ status: 401, code: 'missing_key' })
			expect(await send([{ name: 'X-API-Key', value: s.keys.valid }])).toEqual({ status: 401, code: 'missing_key' })
			expect(await send([{ name: 'X-Token', value: `Bearer ${s.keys.valid}` }])).toEqual({
				status: 401,
				code: 'malformed_key',
			})
			const missing = await rawRequest(app.url, '/me', [])
			expect(JSON.parse(missing.body).detail).toContain('x-token')
		})
	})

	describe('extract', () => {
		let app: RunningApp
		const seen: unknown[] = []
		beforeAll(async () => {
			app = await startApp(framework, s.keyward, {
				extract: (request: { headers: IncomingHttpHeaders }) => {
					seen.push(request)
					return /(?:^|;\s*)api_key=([^;]*)/.exec(request.headers.cookie ?? '')?.[1]
				},
			})
		})
		afterAll(() => app?.close())

		it('reads the key where the app says (a cookie here), instead of the headers', async () => {
			const send = (lines: HeaderLine[]) => rawRequest(app.url, '/me', lines).then(outcome)
			const cookie = (value: string): HeaderLine => ({ name: 'Cookie', value: `theme=dark; api_key=${value}` })
			expect(await send([cookie(s.keys.valid)])).toEqual({ status: 200, code: undefined })
			expect(await send([bearer(s.keys.valid)])).toEqual({ status: 401, code: 'missing_key' })
			expect(await send([{ name: 'X-API-Key', value: s.keys.valid }])).toEqual({ status: 401, code: 'missing_key' })
			expect(await send([cookie(typo(s.keys.valid))])).toEqual({ status: 401, code: 'malformed_key' })
			expect(await send([cookie(s.keys.expired)])).toEqual({ status: 401, code: 'expired_key' })
			expect(seen.length).toBeGreaterThan(0)
			for (const request of seen) expect(isFrameworkRequest(framework, request)).toBe(true)
		})
	})

	describe('allowQuery', () => {
		const apps: RunningApp[] = []
		afterAll(() => Promise.all(apps.map((app) => app.close())))
		const start = async (allowQuery: boolean | string) => {
			const app = await startApp(framework, s.keyward, { allowQuery })
			apps.push(app)
			return (path: string, lines: HeaderLine[] = []) => rawRequest(app.url, path, lines).then(outcome)
		}

		it('true accepts ?api_key= when no header holds a key', async () => {
			const send = await start(true)
			const k = s.keys
			expect(await send(`/me?api_key=${k.valid}`)).toEqual({ status: 200, code: undefined })
			expect(await send(`/me?x=1&api_key=${k.valid}&y=2`)).toEqual({ status: 200, code: undefined })
			expect(await send(`/admin?api_key=${k.admin}`)).toEqual({ status: 200, code: undefined })
			expect(await send(`/me?key=${k.valid}`)).toEqual({ status: 401, code: 'missing_key' })
			expect(await send(`/me?api_key=${typo(k.valid)}`)).toEqual({ status: 401, code: 'malformed_key' })
			// A header that holds a key wins, good or bad; another scheme is no key.
			expect(await send(`/me?api_key=${k.valid}`, [bearer(typo(k.valid))])).toEqual({
				status: 401,
				code: 'malformed_key',
			})
			expect(await send(`/me?api_key=${k.valid}`, [{ name: 'X-API-Key', value: k.unknown }])).toEqual({
				status: 401,
				code: 'unknown_key',
			})
			expect(await send('/me?api_key=garbage', [bearer(k.valid)])).toEqual({ status: 200, code: undefined })
			expect(await send(`/me?api_key=${k.valid}`, [{ name: 'Authorization', value: 'Basic dXNlcg==' }])).toEqual({
				status: 200,
				code: undefined,
			})
		})

		it("'key' names the query parameter", async () => {
			const send = await start('key')
			expect(await send(`/me?key=${s.keys.valid}`)).toEqual({ status: 200, code: undefined })
			expect(await send(`/me?api_key=${s.keys.valid}`)).toEqual({ status: 401, code: 'missing_key' })
			expect(await send(`/me?key=${s.keys.valid}`, [bearer(s.keys.revoked)])).toEqual({
				status: 401,
				code: 'revoked_key',
			})
		})
	})

	describe('options are checked at construction', () => {
		it.each<[string, Record<string, unknown>]>([
			['an unknown name (scope for scopes)', { scope: ['x'] }],
			['an unknown name (headers for header)', { headers: ['x-token'] }],
			['scopes that are not an array', { scopes: 'admin' }],
			['an empty header list', { header: [] }],
			['a header name that is not a token', { header: 'x token' }],
			['a zero timeout', { timeout: 0 }],
			['a query parameter name with spaces', { allowQuery: 'api key' }],
			['onResult that is not a function', { onResult: 'log' }],
			['a realm with a quote', { realm: 'a"b' }],
		])('%s throws invalid_option', async (_, options) => {
			const { thrown, escaped } = await constructionError(framework, s.keyward, options)
			// Fastify: the error must come out of register()/ready(), not escape as an uncaught exception.
			expect({ thrown: errorCode(thrown), escaped: escaped.map(errorCode) }).toEqual({
				thrown: 'invalid_option',
				escaped: [],
			})
		})
	})

	describe('a second keyward check in the same request', () => {
		let app: RunningApp
		beforeAll(async () => {
			app = await startApp(framework, s.keyward)
		})
		afterAll(() => app?.close())

		it('reuses the first verification: one store read per request on /admin', async () => {
			for (const [lines, status] of [
				[[bearer(s.keys.admin)], 200],
				[[bearer(s.keys.valid)], 403],
				[[bearer(s.keys.unknown)], 401],
				[[bearer(s.keys.expired)], 401],
			] as const) {
				const before = s.control.calls.getByHash ?? 0
				const response = await rawRequest(app.url, '/admin', lines)
				expect(response.status).toBe(status)
				expect((s.control.calls.getByHash ?? 0) - before).toBe(1)
			}
			const before = s.control.calls.getByHash ?? 0
			await rawRequest(app.url, '/admin', [bearer(typo(s.keys.admin))])
			expect(s.control.calls.getByHash ?? 0).toBe(before)
		})
	})
})

/**
 * The documented Express and Koa shape: one app-wide check with `onResult`, and a route-level check
 * that only adds a scope. The event must name what the client got.
 */
describe.each(['express', 'koa'] as const)('hooks › %s › onResult with a route-level scope check', (framework) => {
	let s: Setup
	let app: RunningApp
	const events: HttpResultEvent[] = []

	beforeAll(async () => {
		s = await setup()
		const options = { onResult: (event: HttpResultEvent) => events.push(event) }
		if (framework === 'express') {
			const server = express()
			server.use(expressKey(s.keyward, options))
			server.get('/admin', expressKey(s.keyward, { scopes: ['admin'] }), (_req, res) => {
				res.json({ ok: true })
			})
			app = await listening(server.listen(0, '127.0.0.1'))
		} else {
			const server = new Koa()
			const router = new Router()
			router.get('/admin', koaKey(s.keyward, { scopes: ['admin'] }), (ctx) => {
				ctx.body = { ok: true }
			})
			server.use(koaKey(s.keyward, options))
			server.use(router.routes())
			app = await listening(server.listen(0, '127.0.0.1'))
		}
	})
	beforeEach(() => {
		events.length = 0
	})
	afterAll(() => app?.close())

	it('reports a 403 from the route scope as insufficient_scope, once', async () => {
		const response = await rawRequest(app.url, '/admin', [bearer(s.keys.valid)])
		expect(response.status).toBe(403)
		expect(events.map((event) => ({ code: event.code, status: event.status }))).toEqual([
			{ code: 'insufficient_scope', status: 403 },
		])
	})

	it('reports a request that passes both checks once, as valid', async () => {
		expect((await rawRequest(app.url, '/admin', [bearer(s.keys.admin)])).status).toBe(200)
		expect(events.map((event) => event.code)).toEqual(['valid'])
	})
})

describe('hooks › fastify › route config.apiKey', () => {
	let s: Setup
	beforeAll(async () => {
		s = await setup()
	})

	it('false lifts the check on that route only', async () => {
		const app = Fastify()
		await app.register(keywardPlugin, { keyward: s.keyward })
		app.get('/health', { config: { apiKey: false } }, (request) => ({ ok: true, apiKey: request.apiKey }))
		app.get('/me', (request) => ({ ownerId: request.apiKey.ownerId }))
		await app.listen({ port: 0, host: '127.0.0.1' })
		try {
			const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
			const before = { ...s.control.calls }
			for (const lines of [[], [bearer(typo(s.keys.valid))], [bearer(s.keys.valid)]]) {
				const response = await rawRequest(url, '/health', lines)
				expect(response.status).toBe(200)
				expect(JSON.parse(response.body)).toEqual({ ok: true, apiKey: null })
			}
			expect(s.control.calls).toEqual(before)
			expect(outcome(await rawRequest(url, '/me', []))).toEqual({ status: 401, code: 'missing_key' })
			expect((await rawRequest(url, '/me', [bearer(s.keys.valid)])).status).toBe(200)
		} finally {
			await app.close()
		}
	})

	it.each<[string, unknown]>([
		["'yes'", 'yes'],
		['true', true],
		['null', null],
		['{ scopes: "admin" }', { scopes: 'admin' }],
		['{ scopes: ["has space"] }', { scopes: ['has space'] }],
		['{ scope: ["admin"] } (a typo: the route would lose its scope check)', { scope: ['admin'] }],
	])('config.apiKey = %s fails at startup with invalid_option', async (_, apiKey) => {
		const { thrown, escaped } = await fastifyStartupError(async (app) => {
			await app.register(keywardPlugin, { keyward: s.keyward })
			app.get('/x', { config: { apiKey } as never }, () => 'x')
		})
		expect({ thrown: errorCode(thrown), escaped: escaped.map(errorCode) }).toEqual({
			thrown: 'invalid_option',
			escaped: [],
		})
	})
})

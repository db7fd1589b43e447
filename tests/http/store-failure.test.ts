/**
 * A key store that fails or hangs, behind real Express, Fastify and Koa servers: every request it
 * would decide answers 503 `store_unavailable` (never 200, never 500), within the timeout; input that
 * needs no store still gets its 401; and the app recovers by itself when the store does.
 */
import { createKeyward, type HttpResultEvent, isKeywardError } from 'keyward'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, type RunningApp, startApp } from './apps.js'
import {
	bearer,
	type HeaderLine,
	type RawResponse,
	rawRequest,
	type StoreMode,
	type TestStore,
	testStore,
	typo,
} from './support.js'

/** A behaviour bound for a 200 ms timeout (generous for a loaded CI machine), not a benchmark. */
const ANSWERED_WITHIN_MS = 1500
const DOWN: readonly Exclude<StoreMode, 'ok'>[] = ['fail', 'hang']

describe.each(FRAMEWORKS)('store failure › %s', (framework) => {
	let app: RunningApp
	let control: TestStore
	let keys: { valid: string; admin: string; unknown: string }
	const events: HttpResultEvent[] = []

	beforeAll(async () => {
		control = testStore()
		const keyward = createKeyward({ store: control.store, prefix: 'sk' })
		const valid = await keyward.issue({ ownerId: 'user-1', scopes: ['read'] })
		const admin = await keyward.issue({ ownerId: 'admin-1', scopes: ['read', 'admin'] })
		const unknown = await createKeyward({ prefix: 'sk' }).issue({ ownerId: 'elsewhere' })
		keys = { valid: valid.key, admin: admin.key, unknown: unknown.key }
		app = await startApp(framework, keyward, {
			timeout: '200ms',
			retryAfter: '7s',
			onResult: (event) => events.push(event),
		})
	})
	afterEach(() => {
		control.mode = 'ok'
		events.length = 0
	})
	afterAll(() => app?.close())

	/** Sends a request and measures how long the answer took. */
	async function timed(path: string, lines: readonly HeaderLine[]): Promise<{ response: RawResponse; ms: number }> {
		const start = performance.now()
		const response = await rawRequest(app.url, path, lines)
		return { response, ms: performance.now() - start }
	}

	function expectUnavailable(response: RawResponse) {
		expect(response.status).toBe(503)
		expect(response.headers['content-type']).toBe('application/problem+json')
		expect(response.headers['retry-after']).toBe('7')
		expect(response.headers['cache-control']).toBe('no-store')
		expect(JSON.parse(response.body)).toEqual({
			type: 'urn:keyward:problem:store_unavailable',
			title: expect.any(String),
			status: 503,
			detail: expect.any(String),
			code: 'store_unavailable',
		})
		// Nothing about the request's key or the store's own error reaches the client.
		for (const key of Object.values(keys)) expect(response.raw).not.toContain(key)
		expect(response.raw).not.toMatch(/connection refused|did not answer/i)
	}

	describe.each(DOWN)('store mode %s', (mode) => {
		it('answers 503 store_unavailable with Retry-After and a problem body, never 200 or 500, within the timeout', async () => {
			control.mode = mode
			for (const [path, key] of [
				['/me', keys.valid],
				['/admin', keys.admin],
				['/admin', keys.valid],
				['/me', keys.unknown],
			] as const) {
				for (const lines of [[bearer(key)], [{ name: 'X-API-Key', value: key }]]) {
					const { response, ms } = await timed(path, lines)
					expectUnavailable(response)
					expect(ms).toBeLessThan(ANSWERED_WITHIN_MS)
				}
			}
		})

		it('answers concurrent requests 503 within the timeout too', async () => {
			control.mode = mode
			const start = performance.now()
			const answers = await Promise.all(
				Array.from({ length: 8 }, () => rawRequest(app.url, '/me', [bearer(keys.valid)])),
			)
			expect(performance.now() - start).toBeLessThan(ANSWERED_WITHIN_MS)
			for (const response of answers) expectUnavailable(response)
		})

		it('answers the next valid key 200 once the store is back, without restarting the app', async () => {
			control.mode = mode
			expectUnavailable((await timed('/me', [bearer(keys.valid)])).response)
			control.mode = 'ok'
			const response = await rawRequest(app.url, '/me', [bearer(keys.valid)])
			expect(response.status).toBe(200)
			expect(JSON.parse(response.body)).toMatchObject({ ownerId: 'user-1' })
			const admin = await rawRequest(app.url, '/admin', [bearer(keys.admin)])
			expect(admin.status).toBe(200)
		})

		it('still answers malformed and missing keys 401 without calling the store', async () => {
			control.mode = mode
			const before = { ...control.calls }
			const cases: [readonly HeaderLine[], string][] = [
				[[bearer(typo(keys.valid))], 'malformed_key'],
				[[{ name: 'X-API-Key', value: keys.valid.slice(0, -2) }], 'malformed_key'],
				[[{ name: 'Authorization', value: 'Bearer' }], 'malformed_key'],
				[[bearer(`pk_${keys.valid.slice(3)}`)], 'malformed_key'],
				[[], 'missing_key'],
			]
			for (const [lines, code] of cases) {
				const { response, ms } = await timed('/me', lines)
				expect(response.status).toBe(401)
				expect(JSON.parse(response.body)).toMatchObject({ code, status: 401 })
				expect(ms).toBeLessThan(ANSWERED_WITHIN_MS)
			}
			expect(control.calls).toEqual(before)
		})

		it('reports the store error to onResult, and neither the error nor the event holds the key', async () => {
			control.mode = mode
			await rawRequest(app.url, '/me', [bearer(keys.valid)])
			expect(events).toHaveLength(1)
			const [event] = events
			expect(event).toMatchObject({ code: 'store_unavailable', status: 503, record: null })
			const error = event?.error
			expect(isKeywardError(error, 'store_unavailable')).toBe(true)
			if (mode === 'fail') expect((error as Error).cause).toEqual(new Error('connection refused'))
			else expect((error as Error).message).toMatch(/did not answer within 200 ms/)
			const text = [
				(error as Error).message,
				(error as Error).stack,
				String((error as Error).cause),
				JSON.stringify({ ...event, request: undefined }),
			].join('\n')
			for (const key of Object.values(keys)) expect(text).not.toContain(key)
		})
	})
})

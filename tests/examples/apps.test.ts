/**
 * The three example apps (examples/express-app.ts, fastify-app.ts, koa-app.ts), each started on a free
 * port through its factory and driven over real HTTP: every route, the admin API's bad input, the
 * app's own scheduled sweep, and a clean shutdown.
 */
import { createKeyward, type IssuedKey, type Keyward } from 'keyward'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExpressExample, startExpressExample } from '../../examples/express-app.js'
import { createFastifyExample, startFastifyExample } from '../../examples/fastify-app.js'
import { createKoaExample, startKoaExample } from '../../examples/koa-app.js'
import type { RunningExample } from '../../examples/support.js'

type Factory = typeof createExpressExample

const EXAMPLES: { name: string; create: Factory; start: Factory }[] = [
	{ name: 'express', create: createExpressExample, start: startExpressExample },
	{ name: 'fastify', create: createFastifyExample, start: startFastifyExample },
	{ name: 'koa', create: createKoaExample, start: startKoaExample },
]

const KEY_SHAPED = /sk_[1-9A-HJ-NP-Za-km-z]{32}/g
const HOUR = 3_600_000

interface Answer {
	status: number
	headers: Headers
	// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field
	body: any
}

interface CallOptions {
	key?: string
	json?: unknown
	body?: string
	headers?: Record<string, string>
}

async function call(app: RunningExample, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
	const headers: Record<string, string> = { ...options.headers }
	if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`
	let body = options.body
	if (options.json !== undefined) {
		body = JSON.stringify(options.json)
		headers['content-type'] ??= 'application/json'
	}
	const response = await fetch(`${app.url}${path}`, { method, headers, body })
	const text = await response.text()
	return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined }
}

function expectProblem(answer: Answer, status: number, code: string): void {
	expect(answer.status).toBe(status)
	expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/)
	expect(answer.body).toMatchObject({ status, code, title: expect.any(String), detail: expect.any(String) })
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 3000): Promise<T> {
	const deadline = Date.now() + ms
	for (;;) {
		const value = await probe()
		if (value !== undefined) return value
		if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`)
		await new Promise((resolve) => setTimeout(resolve, 20))
	}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.each(EXAMPLES)('example app › $name', ({ create, start }) => {
	let app: RunningExample
	let keyward: Keyward
	let offset = 0
	const logs: string[] = []
	let admin: IssuedKey
	let reader: IssuedKey
	let plain: IssuedKey

	beforeAll(async () => {
		keyward = createKeyward({ prefix: 'sk', clock: () => new Date(Date.now() + offset) })
		app = await create({ keyward, sweepEveryMs: 50, log: (line) => logs.push(line) })
		admin = await keyward.issue({ ownerId: 'ops', name: 'admin', scopes: ['admin'] })
		reader = await keyward.issue({ ownerId: 'user_1', name: 'reader', scopes: ['reports:read'], expiresIn: '90d' })
		plain = await keyward.issue({ ownerId: 'user_1', name: 'plain' })
	})
	afterAll(() => app.close())

	it('GET / is public and describes every route', async () => {
		const answer = await call(app, 'GET', '/')
		expect(answer.status).toBe(200)
		expect(answer.headers.get('content-type')).toMatch(/^application\/json/)
		expect(Object.keys(answer.body.routes)).toEqual([
			'GET /',
			'GET /me',
			'GET /reports',
			'POST /admin/users/:ownerId/keys',
			'GET /admin/users/:ownerId/keys',
			'DELETE /admin/keys/:id',
		])
	})

	it('GET /me answers 401 missing_key without a key, with the Bearer challenge', async () => {
		const answer = await call(app, 'GET', '/me')
		expectProblem(answer, 401, 'missing_key')
		expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="api"')
	})

	it("GET /me answers the key's own record, from Authorization or X-API-Key", async () => {
		const expected = {
			ownerId: 'user_1',
			keyId: reader.record.id,
			name: 'reader',
			scopes: ['reports:read'],
			expiresAt: reader.record.expiresAt?.toISOString(),
		}
		const bearer = await call(app, 'GET', '/me', { key: reader.key })
		expect(bearer.status).toBe(200)
		expect(bearer.body).toEqual(expected)
		const header = await call(app, 'GET', '/me', { headers: { 'x-api-key': reader.key } })
		expect(header.body).toEqual(expected)
		expect((await call(app, 'GET', '/me', { key: plain.key })).body).toMatchObject({ expiresAt: null, scopes: [] })
	})

	it('GET /reports answers 403 insufficient_scope without reports:read and 200 with it', async () => {
		const refused = await call(app, 'GET', '/reports', { key: plain.key })
		expectProblem(refused, 403, 'insufficient_scope')
		expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
		expect(refused.body.requiredScopes).toEqual(['reports:read'])
		const allowed = await call(app, 'GET', '/reports', { key: reader.key })
		expect(allowed.status).toBe(200)
		expect(allowed.body).toMatchObject({ readBy: 'user_1', reports: expect.any(Array) })
	})

	it('POST /admin/users/:ownerId/keys issues a key that then works on /me; the answer is not cached', async () => {
		const answer = await call(app, 'POST', '/admin/users/user_2/keys', {
			key: admin.key,
			json: { name: 'laptop', expiresIn: '1h', scopes: ['reports:read'] },
		})
		expect(answer.status).toBe(201)
		expect(answer.headers.get('cache-control')).toBe('no-store')
		expect(answer.body.key).toMatch(/^sk_/)
		expect(answer.body.record).toMatchObject({
			ownerId: 'user_2',
			name: 'laptop',
			scopes: ['reports:read'],
			blacklistedAt: null,
		})
		expect(answer.body.record).not.toHaveProperty('hash')
		const lifetime = Date.parse(answer.body.record.expiresAt) - Date.parse(answer.body.record.createdAt)
		expect(lifetime).toBe(HOUR)

		const me = await call(app, 'GET', '/me', { key: answer.body.key })
		expect(me.status).toBe(200)
		expect(me.body).toMatchObject({ ownerId: 'user_2', keyId: answer.body.record.id, name: 'laptop' })
		expect((await call(app, 'GET', '/reports', { key: answer.body.key })).status).toBe(200)
	})

	it('POST /admin/users/:ownerId/keys without a body issues a key with the default 30-day lifetime', async () => {
		const answer = await call(app, 'POST', '/admin/users/user_3/keys', { key: admin.key })
		expect(answer.status).toBe(201)
		const lifetime = Date.parse(answer.body.record.expiresAt) - Date.parse(answer.body.record.createdAt)
		expect(lifetime).toBe(30 * 24 * HOUR)
		expect(answer.body.record).toMatchObject({ name: '', scopes: [] })
	})

	it('DELETE /admin/keys/:id revokes: the blacklisted record, then 401 revoked_key for the key', async () => {
		const issued = await call(app, 'POST', '/admin/users/user_4/keys', { key: admin.key, json: { name: 'ci' } })
		expect((await call(app, 'GET', '/me', { key: issued.body.key })).status).toBe(200)

		const revoked = await call(app, 'DELETE', `/admin/keys/${issued.body.record.id}`, { key: admin.key })
		expect(revoked.status).toBe(200)
		expect(revoked.body).toMatchObject({
			id: issued.body.record.id,
			reason: 'revoked',
			blacklistedAt: expect.any(String),
		})
		expect(revoked.body.note).toContain(admin.record.id)

		const refused = await call(app, 'GET', '/me', { key: issued.body.key })
		expectProblem(refused, 401, 'revoked_key')
		expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"')

		// A retried revoke answers the same record.
		const again = await call(app, 'DELETE', `/admin/keys/${issued.body.record.id}`, { key: admin.key })
		expect(again.status).toBe(200)
		expect(again.body.blacklistedAt).toBe(revoked.body.blacklistedAt)
	})

	it('DELETE /admin/keys/:id answers 404 not_found for an unknown id', async () => {
		const answer = await call(app, 'DELETE', '/admin/keys/00000000-0000-4000-8000-000000000000', { key: admin.key })
		expectProblem(answer, 404, 'not_found')
		expect(answer.body.detail).toBe('No key has this id.')
	})

	it("GET /admin/users/:ownerId/keys lists the owner's keys, revoked ones included", async () => {
		const kept = await call(app, 'POST', '/admin/users/user_5/keys', { key: admin.key, json: { name: 'kept' } })
		const gone = await call(app, 'POST', '/admin/users/user_5/keys', { key: admin.key, json: { name: 'gone' } })
		await call(app, 'DELETE', `/admin/keys/${gone.body.record.id}`, { key: admin.key })
		const answer = await call(app, 'GET', '/admin/users/user_5/keys', { key: admin.key })
		expect(answer.status).toBe(200)
		expect(answer.body.ownerId).toBe('user_5')
		expect(
			answer.body.keys.map((record: { name: string; reason: string | null }) => [record.name, record.reason]),
		).toEqual([
			['kept', null],
			['gone', 'revoked'],
		])
		expect(JSON.stringify(answer.body)).not.toContain(kept.body.key)
		expect((await call(app, 'GET', '/admin/users/nobody/keys', { key: admin.key })).body.keys).toEqual([])
	})

	it.each([
		['POST', '/admin/users/user_6/keys'],
		['GET', '/admin/users/user_1/keys'],
		['DELETE', '/admin/keys/00000000-0000-4000-8000-000000000000'],
	])(
		'%s %s answers 403 insufficient_scope to a key without the admin scope, and 401 to no key',
		async (method, path) => {
			const refused = await call(app, method, path, { key: reader.key, json: method === 'POST' ? {} : undefined })
			expectProblem(refused, 403, 'insufficient_scope')
			expect(refused.body.requiredScopes).toEqual(['admin'])
			expectProblem(await call(app, method, path), 401, 'missing_key')
			expect(await keyward.list({ ownerId: 'user_6' })).toEqual([])
		},
	)

	it.each<[string, number, string, CallOptions]>([
		['invalid JSON', 400, 'invalid_json', { body: '{"name":', headers: { 'content-type': 'application/json' } }],
		['a JSON array', 400, 'invalid_request', { json: ['laptop'] }],
		['a JSON string', 400, 'invalid_request', { json: 'laptop' }],
		['an unknown field (a typo)', 400, 'invalid_request', { json: { scope: ['admin'] } }],
		['a field the API does not take (expiresAt)', 400, 'invalid_request', { json: { expiresAt: '2099-01-01' } }],
		['a bad expiresIn', 400, 'invalid_request', { json: { expiresIn: 'soon' } }],
		['a zero expiresIn', 400, 'invalid_request', { json: { expiresIn: 0 } }],
		['a negative expiresIn', 400, 'invalid_request', { json: { expiresIn: -5 } }],
		['scopes that are not an array', 400, 'invalid_request', { json: { scopes: 'admin' } }],
		['a scope with a space', 400, 'invalid_request', { json: { scopes: ['reports read'] } }],
		['a name that is not a string', 400, 'invalid_request', { json: { name: 42 } }],
		['a name that is too long', 400, 'invalid_request', { json: { name: 'x'.repeat(300) } }],
		[
			'a body that is not JSON',
			415,
			'unsupported_media_type',
			{ body: 'name=laptop', headers: { 'content-type': 'text/plain' } },
		],
		['a body over 16 kB', 413, 'body_too_large', { json: { name: 'x'.repeat(20_000) } }],
	])(
		'POST /admin/users/:ownerId/keys with %s answers %i %s, not 500, and issues nothing',
		async (_, status, code, options) => {
			const answer = await call(app, 'POST', '/admin/users/user_7/keys', { key: admin.key, ...options })
			expectProblem(answer, status, code)
			expect(answer.body.detail).not.toContain('[keyward:')
			expect(await keyward.list({ ownerId: 'user_7', includeBlacklisted: true })).toEqual([])
		},
	)

	it('answers a 4xx problem, not 500, for an owner id or key id keyward refuses', async () => {
		// keyward takes ids of up to 256 characters; Fastify's router refuses path parameters over 100 with a 414.
		const long = 'u'.repeat(300)
		for (const [method, path] of [
			['POST', `/admin/users/${long}/keys`],
			['DELETE', `/admin/keys/${long}`],
		] as const) {
			const answer = await call(app, method, path, { key: admin.key })
			expectProblem(answer, answer.status === 414 ? 414 : 400, 'invalid_request')
			expect(JSON.stringify(answer.body)).not.toContain(long)
		}
	})

	it('answers a problem for an unknown route', async () => {
		expectProblem(await call(app, 'GET', '/nope', { key: reader.key }), 404, 'not_found')
	})

	// Last: it moves the clock two hours on.
	it("an expiring key is refused at once, then moved to the blacklist by the app's own sweep, and still answers expired_key", async () => {
		const issued = await call(app, 'POST', '/admin/users/user_8/keys', { key: admin.key, json: { expiresIn: '1h' } })
		const { id, expiresAt } = issued.body.record
		expect((await call(app, 'GET', '/me', { key: issued.body.key })).status).toBe(200)

		offset += 2 * HOUR
		const refused = await call(app, 'GET', '/me', { key: issued.body.key })
		expectProblem(refused, 401, 'expired_key')
		expect(refused.body.expiredAt).toBe(expiresAt)

		// Nobody calls sweep() here: the app's interval does.
		const swept = await waitFor('the scheduled sweep', async () => {
			const record = await keyward.get(id)
			return record?.blacklistedAt ? record : undefined
		})
		expect(swept.reason).toBe('expired')
		expect(logs.some((line) => /^sweep: [1-9]\d* expired, \d+ purged/.test(line))).toBe(true)

		const after = await call(app, 'GET', '/me', { key: issued.body.key })
		expectProblem(after, 401, 'expired_key')
		expect(after.body.expiredAt).toBe(expiresAt)
		expect(after.headers.get('www-authenticate')).toContain('error="invalid_token"')
	})

	it('logs one line per sweep and never a plaintext key', () => {
		expect(logs.length).toBeGreaterThan(0)
		for (const line of logs) expect(line).toMatch(/^sweep: \d+ expired, \d+ purged, \d+ scanned in [\d.]+ ms$/)
	})

	it('close() stops the sweep interval and the server', async () => {
		const lines: string[] = []
		const own = await create({ sweepEveryMs: 10, log: (line) => lines.push(line) })
		await waitFor('a first sweep', () => (lines.length > 0 ? true : undefined))
		await own.close()
		await own.close() // twice is fine
		const count = lines.length
		await sleep(100)
		expect(lines.length).toBe(count)
		await expect(fetch(`${own.url}/`)).rejects.toThrow()
	})

	it('logs a failing sweep instead of throwing, and keeps serving and sweeping', async () => {
		const lines: string[] = []
		const failing: Keyward = {
			...createKeyward({ prefix: 'sk' }),
			sweep: () => Promise.reject(new Error('store down')),
		}
		const own = await create({ keyward: failing, sweepEveryMs: 10, log: (line) => lines.push(line) })
		try {
			await waitFor('two failed sweeps', () => (lines.length >= 2 ? true : undefined))
			expect(lines.slice(0, 2)).toEqual(['sweep failed: store down', 'sweep failed: store down'])
			expect((await call(own, 'GET', '/')).status).toBe(200)
		} finally {
			await own.close()
		}
	})

	it('skips a scheduled sweep while the previous one still runs, and close() waits for it', async () => {
		const lines: string[] = []
		const real = createKeyward({ prefix: 'sk' })
		let active = 0
		let most = 0
		const slow: Keyward = {
			...real,
			sweep: async (options) => {
				most = Math.max(most, ++active)
				await sleep(60)
				active--
				return real.sweep(options)
			},
		}
		const own = await create({ keyward: slow, sweepEveryMs: 10, log: (line) => lines.push(line) })
		await waitFor('a finished sweep', () =>
			lines.some((line) => line.startsWith('sweep: 0 expired')) ? true : undefined,
		)
		await own.close()
		expect(most).toBe(1)
		expect(active).toBe(0)
		expect(lines).toContain('sweep: skipped, the previous run is still going')
	})

	it('started as `npm run example:*` starts it, prints a bootstrap admin key once, with a warning and curl lines', async () => {
		const lines: string[] = []
		const own = await start({ sweepEveryMs: 60_000, log: (line) => lines.push(line) })
		try {
			const output = lines.join('\n')
			const keys = output.match(KEY_SHAPED) ?? []
			expect(keys).toHaveLength(1)
			expect(output).toMatch(/shown only once/)
			expect(output).toContain(own.url)
			for (const route of ['/me', '/reports', '/admin/users/user_42/keys', '/admin/keys/$KEY_ID']) {
				expect(lines.some((line) => line.includes('curl') && line.includes(`${own.url}${route}`))).toBe(true)
			}
			expect(
				lines.some(
					(line) => line.includes('curl') && line.includes(`${own.url}/ `) === false && line.endsWith(`${own.url}/`),
				),
			).toBe(true)
			const curls = lines.filter((line) => line.includes('curl'))
			expect(curls.some((line) => line.includes('$ADMIN_KEY'))).toBe(true)
			expect(curls.some((line) => line.includes('$KEY"'))).toBe(true)
			for (const line of curls) expect(line).not.toMatch(KEY_SHAPED)

			// The printed key is a working admin key.
			const bootstrap = keys[0] as string
			const issued = await call(own, 'POST', '/admin/users/user_42/keys', { key: bootstrap, json: { name: 'laptop' } })
			expect(issued.status).toBe(201)
			const verified = await own.keyward.verify(bootstrap)
			expect(verified).toMatchObject({ ok: true, record: { ownerId: 'bootstrap', scopes: ['admin'] } })
			expect(verified.ok && verified.record.expiresAt).toBeInstanceOf(Date)
		} finally {
			await own.close()
		}
	})
})

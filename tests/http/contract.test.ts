/**
 * The HTTP contract of DESIGN.md, one table, run against real listening Express, Fastify and Koa servers.
 */

import { createKeyward, type Keyward } from 'keyward'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, OLDER_MAJORS, type RunningApp, startApp } from './apps.js'

const T0 = new Date('2030-01-01T00:00:00.000Z')
const EXPIRES = new Date('2030-01-01T00:00:01.000Z')

interface Keys {
	valid: string
	admin: string
	expired: string
	revoked: string
	unknown: string
	otherPrefix: string
}

interface Row {
	name: string
	path?: string
	headers: (keys: Keys) => Record<string, string>
	status: number
	code?: string
	challenge?: RegExp | null
	check?: (body: Record<string, unknown>) => void
}

const AUTH_CHALLENGE = /^Bearer realm="api"$/
const INVALID = /^Bearer realm="api", error="invalid_token", error_description="[^"]+"$/

const table: Row[] = [
	{ name: 'valid key as Bearer', headers: (k) => ({ authorization: `Bearer ${k.valid}` }), status: 200 },
	{ name: 'valid key, scheme in lower case', headers: (k) => ({ authorization: `bearer ${k.valid}` }), status: 200 },
	{ name: 'valid key in X-API-Key', headers: (k) => ({ 'x-api-key': k.valid }), status: 200 },
	{
		name: 'public route without a key',
		path: '/public',
		headers: () => ({}),
		status: 200,
	},
	{ name: 'no key', headers: () => ({}), status: 401, code: 'missing_key', challenge: AUTH_CHALLENGE },
	{
		name: 'another auth scheme (Basic) counts as no key',
		headers: () => ({ authorization: 'Basic dXNlcjpwYXNz' }),
		status: 401,
		code: 'missing_key',
		challenge: AUTH_CHALLENGE,
	},
	{
		name: 'key in the query string is ignored by default',
		path: '/me?api_key=KEY',
		headers: () => ({}),
		status: 401,
		code: 'missing_key',
		challenge: AUTH_CHALLENGE,
	},
	{
		name: 'Bearer with no key after it',
		headers: () => ({ authorization: 'Bearer' }),
		status: 401,
		code: 'malformed_key',
		challenge: INVALID,
	},
	{
		name: 'a typo in the key (checksum fails)',
		headers: (k) => ({ authorization: `Bearer ${typo(k.valid)}` }),
		status: 401,
		code: 'malformed_key',
		challenge: INVALID,
	},
	{
		name: 'a truncated key',
		headers: (k) => ({ 'x-api-key': k.valid.slice(0, -3) }),
		status: 401,
		code: 'malformed_key',
		challenge: INVALID,
	},
	{
		name: 'a key of another prefix',
		headers: (k) => ({ authorization: `Bearer ${k.otherPrefix}` }),
		status: 401,
		code: 'malformed_key',
		challenge: INVALID,
	},
	{
		name: 'well formed but never issued',
		headers: (k) => ({ authorization: `Bearer ${k.unknown}` }),
		status: 401,
		code: 'unknown_key',
		challenge: INVALID,
	},
	{
		name: 'expired (not yet swept)',
		headers: (k) => ({ authorization: `Bearer ${k.expired}` }),
		status: 401,
		code: 'expired_key',
		challenge: INVALID,
		check: (body) => expect(body.expiredAt).toBe(EXPIRES.toISOString()),
	},
	{
		name: 'revoked',
		headers: (k) => ({ authorization: `Bearer ${k.revoked}` }),
		status: 401,
		code: 'revoked_key',
		challenge: INVALID,
	},
	{
		name: 'valid key lacking the admin scope',
		path: '/admin',
		headers: (k) => ({ authorization: `Bearer ${k.valid}` }),
		status: 403,
		code: 'insufficient_scope',
		challenge: /^Bearer realm="api", error="insufficient_scope", scope="admin"$/,
		check: (body) => expect(body.requiredScopes).toEqual(['admin']),
	},
	{
		name: 'valid key with the admin scope',
		path: '/admin',
		headers: (k) => ({ authorization: `Bearer ${k.admin}` }),
		status: 200,
	},
]

function typo(key: string): string {
	const last = key.at(-1)
	return key.slice(0, -1) + (last === 'x' ? 'y' : 'x')
}

async function setup(): Promise<{ keyward: Keyward; keys: Keys }> {
	let now = T0
	const keyward = createKeyward({ prefix: 'sk', clock: () => now })
	const valid = await keyward.issue({ ownerId: 'user-1', scopes: ['read'] })
	const admin = await keyward.issue({ ownerId: 'admin-1', scopes: ['read', 'admin'] })
	const expired = await keyward.issue({ ownerId: 'user-1', expiresAt: EXPIRES })
	const revoked = await keyward.issue({ ownerId: 'user-1' })
	await keyward.revoke(revoked.record.id)
	const unknown = (await createKeyward({ prefix: 'sk' }).issue({ ownerId: 'elsewhere' })).key
	const otherPrefix = (await createKeyward({ prefix: 'pk' }).issue({ ownerId: 'elsewhere' })).key
	now = new Date(EXPIRES.getTime() + 60_000)
	return {
		keyward,
		keys: { valid: valid.key, admin: admin.key, expired: expired.key, revoked: revoked.key, unknown, otherPrefix },
	}
}

describe.each([...FRAMEWORKS, ...OLDER_MAJORS])('HTTP contract › %s', (framework) => {
	let app: RunningApp
	let keys: Keys

	beforeAll(async () => {
		const { keyward, keys: issued } = await setup()
		keys = issued
		app = await startApp(framework, keyward)
	})
	afterAll(() => app.close())

	it.each(table)('$name → $status $code', async (row) => {
		const response = await fetch(`${app.url}${row.path ?? '/me'}`, { headers: row.headers(keys) })
		const body = (await response.json()) as Record<string, unknown>
		expect(response.status).toBe(row.status)
		if (row.status === 200) {
			expect(response.headers.get('content-type')).toMatch(/^application\/json/)
			return
		}
		expect(response.headers.get('content-type')).toBe('application/problem+json')
		expect(response.headers.get('cache-control')).toBe('no-store')
		expect(body).toMatchObject({
			type: `urn:keyward:problem:${row.code}`,
			title: expect.any(String),
			status: row.status,
			detail: expect.any(String),
			code: row.code,
		})
		const challenge = response.headers.get('www-authenticate')
		if (row.challenge) expect(challenge).toMatch(row.challenge)
		row.check?.(body)
		const text = JSON.stringify(body) + JSON.stringify([...response.headers])
		for (const key of Object.values(keys)) expect(text).not.toContain(key)
	})

	it('answers the valid key with its own record attached', async () => {
		const response = await fetch(`${app.url}/me`, { headers: { authorization: `Bearer ${keys.valid}` } })
		expect(await response.json()).toMatchObject({ ownerId: 'user-1' })
	})
})

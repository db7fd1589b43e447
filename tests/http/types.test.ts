/**
 * Type tests, checked by `tsc --noEmit` (vitest runs the same code, where `expectTypeOf` does
 * nothing). Each assertion fails to compile if an adapter's type augmentation goes missing: without
 * it, `req.apiKey` does not exist (Express, Fastify) or is `any` (Koa's `DefaultState` extends `any`),
 * and `toEqualTypeOf<string>()` rejects `any`.
 */
import type { Request } from 'express'
import express from 'express'
import Fastify, { type FastifyContextConfig, type FastifyRequest } from 'fastify'
import {
	createKeyward,
	type HttpOutcomeCode,
	type HttpResultEvent,
	type KeyRecord,
	memoryStore,
	type VerifyResult,
} from 'keyward'
import { requireApiKey as expressKey } from 'keyward/express'
import { keywardPlugin, type RouteApiKeyConfig } from 'keyward/fastify'
import { requireApiKey as koaKey } from 'keyward/koa'
import Koa, { type Context } from 'koa'
import { describe, expect, expectTypeOf, it } from 'vitest'

const keyward = createKeyward({ store: memoryStore(), prefix: 'sk' })

describe('types › adapters', () => {
	it('Express: req.apiKey is the KeyRecord, and ownerId a string', () => {
		expectTypeOf<Request['apiKey']>().toEqualTypeOf<KeyRecord>()
		const app = express()
		app.get('/me', expressKey(keyward), (req, res) => {
			expectTypeOf(req.apiKey).toEqualTypeOf<KeyRecord>()
			expectTypeOf(req.apiKey.ownerId).toEqualTypeOf<string>()
			expectTypeOf(req.apiKey.expiresAt).toEqualTypeOf<Date | null>()
			expectTypeOf(req.apiKey.scopes).toEqualTypeOf<readonly string[]>()
			res.json({ owner: req.apiKey.ownerId })
		})
		expect(typeof app).toBe('function')
	})

	it('Fastify: request.apiKey is the KeyRecord, and route config.apiKey is typed', () => {
		expectTypeOf<FastifyRequest['apiKey']>().toEqualTypeOf<KeyRecord>()
		const app = Fastify()
		app.register(keywardPlugin, { keyward, scopes: ['read'] })
		app.get('/me', async (request) => {
			expectTypeOf(request.apiKey).toEqualTypeOf<KeyRecord>()
			expectTypeOf(request.apiKey.ownerId).toEqualTypeOf<string>()
			return { owner: request.apiKey.ownerId }
		})
		app.get('/admin', { config: { apiKey: { scopes: ['admin'] } } }, async () => 'ok')
		app.get('/health', { config: { apiKey: false } }, async () => 'ok')
		expectTypeOf<FastifyContextConfig['apiKey']>().toEqualTypeOf<RouteApiKeyConfig | undefined>()
		expectTypeOf<'yes'>().not.toExtend<RouteApiKeyConfig>()
		expectTypeOf<{ scope: string[] }>().not.toExtend<RouteApiKeyConfig>()
		// @ts-expect-error keywardPlugin needs its keyward instance
		app.register(keywardPlugin, { scopes: ['read'] })
		expect(app).toBeDefined()
	})

	it('Koa: ctx.state.apiKey is the KeyRecord, and ownerId a string', () => {
		const app = new Koa()
		app.use(koaKey(keyward))
		app.use((ctx) => {
			expectTypeOf(ctx.state.apiKey).toEqualTypeOf<KeyRecord>()
			expectTypeOf(ctx.state.apiKey.ownerId).toEqualTypeOf<string>()
			ctx.body = { owner: ctx.state.apiKey.ownerId }
		})
		expect(app).toBeDefined()
	})

	it("options are typed per framework: extract and onResult get the framework's request", () => {
		expressKey(keyward, {
			extract: (req) => {
				expectTypeOf(req).toEqualTypeOf<Request>()
				return req.get('x-token')
			},
			onResult: (event) => {
				expectTypeOf(event).toEqualTypeOf<HttpResultEvent<Request>>()
				expectTypeOf(event.code).toEqualTypeOf<HttpOutcomeCode>()
				expectTypeOf(event.record).toEqualTypeOf<KeyRecord | null>()
			},
		})
		koaKey(keyward, {
			extract: (ctx) => {
				expectTypeOf(ctx).toEqualTypeOf<Context>()
				return ctx.cookies.get('api_key')
			},
		})
		Fastify().register(keywardPlugin, {
			keyward,
			extract: (request) => {
				expectTypeOf(request).toEqualTypeOf<FastifyRequest>()
				return request.headers['x-token']
			},
		})
		// Each of these also throws invalid_option at run time.
		expect(() =>
			// @ts-expect-error an unknown option name (scope for scopes) does not compile
			expressKey(keyward, { scope: ['admin'] }),
		).toThrow(/invalid_option/)
		expect(() =>
			// @ts-expect-error an unknown option name does not compile
			koaKey(keyward, { scope: ['admin'] }),
		).toThrow(/invalid_option/)
		expect(() =>
			// @ts-expect-error the timeout is a duration such as '5s', not any string
			expressKey(keyward, { timeout: 'soon' }),
		).toThrow(/invalid_option/)
	})
})

describe('types › VerifyResult', () => {
	/** Narrows like a caller would, asserting the type at each step. */
	function describeResult(result: VerifyResult): string {
		if (result.ok) {
			expectTypeOf(result.record).toEqualTypeOf<KeyRecord>()
			// @ts-expect-error a valid result has no code
			result.code
			return `valid ${result.record.id}`
		}
		expectTypeOf(result.code).toEqualTypeOf<
			'missing_key' | 'malformed_key' | 'unknown_key' | 'expired_key' | 'revoked_key'
		>()
		switch (result.code) {
			case 'expired_key':
				expectTypeOf(result.expiredAt).toEqualTypeOf<Date>()
				expectTypeOf(result.record).toEqualTypeOf<KeyRecord>()
				return `expired at ${result.expiredAt.toISOString()}`
			case 'revoked_key':
				expectTypeOf(result.record).toEqualTypeOf<KeyRecord>()
				// @ts-expect-error only an expired result carries expiredAt
				result.expiredAt
				return `revoked ${result.record.id}`
			default:
				expectTypeOf(result.code).toEqualTypeOf<'missing_key' | 'malformed_key' | 'unknown_key'>()
				// @ts-expect-error a key that was not found has no record
				result.record
				return result.code
		}
	}

	it('narrows on ok, then on code; an expired result carries expiredAt: Date', async () => {
		expectTypeOf<Extract<VerifyResult, { code: 'expired_key' }>['expiredAt']>().toEqualTypeOf<Date>()
		expectTypeOf<Extract<VerifyResult, { ok: true }>>().not.toHaveProperty('code')
		expectTypeOf(keyward.verify).returns.resolves.toEqualTypeOf<VerifyResult>()

		let now = new Date('2030-01-01T00:00:00.000Z')
		const clocked = createKeyward({ prefix: 'sk', clock: () => now })
		const expiresAt = new Date('2030-01-01T00:00:01.000Z')
		const { key } = await clocked.issue({ ownerId: 'user-1', expiresAt })
		expect(describeResult(await clocked.verify(undefined))).toBe('missing_key')
		expect(describeResult(await clocked.verify('sk_nope'))).toBe('malformed_key')
		expect(describeResult(await clocked.verify(key))).toMatch(/^valid /)
		now = new Date('2030-01-01T00:01:00.000Z')
		expect(describeResult(await clocked.verify(key))).toBe(`expired at ${expiresAt.toISOString()}`)
	})
})

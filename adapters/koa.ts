/**
 * `keyward/koa`: API-key middleware for Koa 3 (and Koa 2).
 *
 * @example
 * ```ts
 * import Koa from 'koa'
 * import { createKeyward } from 'keyward'
 * import { requireApiKey } from 'keyward/koa'
 *
 * const keyward = createKeyward()
 * const app = new Koa()
 * app.use(requireApiKey(keyward))
 * app.use((ctx) => { ctx.body = { owner: ctx.state.apiKey.ownerId } })
 * ```
 * @packageDocumentation
 */
import type { Context, Middleware, Next } from 'koa'
import { type ApiKeyOptions, type AuthOutcome, createCheck } from '../src/http.js'
import type { Keyward } from '../src/keyward.js'
import type { KeyRecord } from '../src/record.js'

declare module 'koa' {
	interface DefaultState {
		/** The verified key's record, behind `requireApiKey()` (undefined elsewhere). */
		apiKey: KeyRecord
	}
}

/** Options of {@link requireApiKey}: see {@link ApiKeyOptions}; `extract` receives the Koa context. */
export type KoaApiKeyOptions = ApiKeyOptions<Context>

/**
 * Koa middleware that lets a request through only with a valid API key (and the required scopes),
 * attaching its record as `ctx.state.apiKey`. Refused requests get an `application/problem+json`
 * answer: 401 (`missing_key`, `malformed_key`, `unknown_key`, `expired_key`, `revoked_key`), 403
 * (`insufficient_scope`) or 503 (`store_unavailable`, with `Retry-After`). Other errors are thrown.
 *
 * Use it app-wide, per router (`router.use(requireApiKey(keyward, { scopes: ['admin'] }))`) or per
 * route; a second keyward middleware in the same request reuses the first verification.
 *
 * @param keyward - a keyward instance from `createKeyward()`
 * @param options - see {@link ApiKeyOptions}
 * @returns the middleware, named `keywardKoa`
 * @throws KeywardError `invalid_option` for a bad option (at construction, not per request)
 */
export function requireApiKey(keyward: Keyward, options?: KoaApiKeyOptions): Middleware {
	const check = createCheck<Context>(keyward, options, 'requireApiKey()')
	return function keywardKoa(ctx: Context, next: Next): Promise<void> | undefined {
		const outcome = check(ctx, ctx.headers, ctx.url, ctx.state, undefined)
		// Verified without I/O (the memory store, a cache hit, a malformed key): no promise of our own.
		if (!(outcome instanceof Promise)) return proceed(ctx, next, outcome)
		return outcome.then((settled) => proceed(ctx, next, settled))
	}
}

function proceed(ctx: Context, next: Next, outcome: AuthOutcome): Promise<void> | undefined {
	if (outcome.ok) {
		ctx.state.apiKey = outcome.record
		return outcome.report ? reportAfter(next, outcome.report) : next()
	}
	const { status, headers, body } = outcome.response
	ctx.status = status
	ctx.set(headers)
	ctx.body = JSON.stringify(body)
	return undefined
}

/** Runs the rest of the chain, then reports the request's outcome, whatever happened downstream. */
async function reportAfter(next: Next, report: () => void): Promise<void> {
	try {
		await next()
	} finally {
		report()
	}
}

export type { ApiKeyOptions, HttpProblemResponse, HttpResultEvent, ProblemBody } from '../src/http.js'

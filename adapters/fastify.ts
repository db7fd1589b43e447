/**
 * `keyward/fastify`: an API-key plugin for Fastify 5.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { createKeyward } from 'keyward'
 * import { keywardPlugin } from 'keyward/fastify'
 *
 * const keyward = createKeyward()
 * const app = Fastify()
 * await app.register(keywardPlugin, { keyward })
 * app.get('/me', (request) => ({ owner: request.apiKey.ownerId }))
 * app.get('/admin', { config: { apiKey: { scopes: ['admin'] } } }, handler)
 * app.get('/health', { config: { apiKey: false } }, () => 'ok')
 * ```
 * @packageDocumentation
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { invalidOption } from '../src/errors.js'
import { type ApiKeyOptions, type AuthOutcome, createCheck } from '../src/http.js'
import { checkScopes } from '../src/issue.js'
import type { Keyward } from '../src/keyward.js'
import { checkKnown } from '../src/options.js'
import type { KeyRecord } from '../src/record.js'

/** A route's `config.apiKey`: `false` lifts the check, `{ scopes }` requires more scopes. */
export type RouteApiKeyConfig = false | { readonly scopes: readonly string[] }

declare module 'fastify' {
	interface FastifyRequest {
		/** The verified key's record on protected routes; `null` on routes the plugin does not protect. */
		apiKey: KeyRecord
	}
	interface FastifyContextConfig {
		/** `false` lifts keyward's check on this route; `{ scopes }` adds required scopes. */
		apiKey?: RouteApiKeyConfig
	}
}

/** Options of {@link keywardPlugin}: the instance plus {@link ApiKeyOptions}; `extract` receives the Fastify request. */
export interface KeywardPluginOptions extends ApiKeyOptions<FastifyRequest> {
	/** A keyward instance from `createKeyward()`. */
	keyward: Keyward
}

/** Options Fastify itself passes to every plugin; they are not keyward's to check. */
const FASTIFY_REGISTER_OPTIONS = new Set(['prefix', 'logLevel', 'logSerializers'])

const plugin: FastifyPluginCallback<KeywardPluginOptions> = (app, options, done) => {
	try {
		setup(app, options)
	} catch (error) {
		done(error as Error)
		return
	}
	done()
}

function setup(app: Parameters<FastifyPluginCallback<KeywardPluginOptions>>[0], options: KeywardPluginOptions): void {
	const { keyward, ...rest } = options
	const own = Object.fromEntries(Object.entries(rest).filter(([name]) => !FASTIFY_REGISTER_OPTIONS.has(name)))
	const check = createCheck<FastifyRequest>(keyward, own, 'keywardPlugin')

	app.decorateRequest('apiKey', null as unknown as KeyRecord)
	app.addHook('onRoute', (route) => {
		const config = (route.config as { apiKey?: unknown } | undefined)?.apiKey
		if (config === undefined || config === false) return
		if (typeof config !== 'object' || config === null) {
			throw invalidOption(`route ${route.method} ${route.url}: config.apiKey must be false or { scopes: [...] }`)
		}
		checkKnown(config, { scopes: true }, `route ${route.method} ${route.url} config.apiKey`)
		checkScopes((config as { scopes?: unknown }).scopes)
	})
	// A callback hook, not an async one: Fastify then runs it without wrapping a promise of its own, and
	// a key verified without I/O (the memory store, a cache hit) passes in the same turn (docs/benchmarks.md).
	app.addHook('onRequest', function keywardFastify(request: FastifyRequest, reply: FastifyReply, done) {
		const config = request.routeOptions.config.apiKey
		if (config === false) {
			done()
			return
		}
		const outcome = check(request, request.headers, request.url, undefined, config ? config.scopes : undefined)
		// What throws goes to Fastify's error handling: its hook runner catches it in this turn, done(err) after a read.
		if (outcome instanceof Promise) outcome.then((settled) => proceed(request, reply, done, settled)).catch(done)
		else proceed(request, reply, done, outcome)
	})
}

function proceed(
	request: FastifyRequest,
	reply: FastifyReply,
	done: (error?: Error) => void,
	outcome: AuthOutcome,
): void {
	if (outcome.ok) {
		request.apiKey = outcome.record
		outcome.report?.()
		done()
		return
	}
	const { status, headers, body } = outcome.response
	reply.code(status).headers(headers)
	// A Buffer, so Fastify sends the content type as given (a string would get "; charset=utf-8").
	reply.send(Buffer.from(JSON.stringify(body))) // answered early: done() is not called
}

/**
 * A Fastify plugin that lets a request through only with a valid API key (and the required scopes),
 * attaching its record as `request.apiKey`. It checks in `onRequest`, before the body is parsed,
 * and protects the routes of the context it is registered in. A route lifts the check with
 * `config: { apiKey: false }` or requires more scopes with `config: { apiKey: { scopes: ['admin'] } }`.
 *
 * Refused requests get an `application/problem+json` answer: 401 (`missing_key`, `malformed_key`,
 * `unknown_key`, `expired_key`, `revoked_key`), 403 (`insufficient_scope`) or 503
 * (`store_unavailable`, with `Retry-After`).
 *
 * @example
 * ```ts
 * await app.register(keywardPlugin, { keyward, scopes: ['read'] })
 * ```
 */
export const keywardPlugin = fp(plugin, { fastify: '5.x', name: 'keyward' })

export type { ApiKeyOptions, HttpProblemResponse, HttpResultEvent, ProblemBody } from '../src/http.js'

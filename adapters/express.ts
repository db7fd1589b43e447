/**
 * `keyward/express`: API-key middleware for Express 5 (and 4).
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { createKeyward } from 'keyward'
 * import { requireApiKey } from 'keyward/express'
 *
 * const keyward = createKeyward()
 * const app = express()
 * app.use('/api', requireApiKey(keyward))
 * app.get('/api/me', (req, res) => res.json({ owner: req.apiKey.ownerId }))
 * app.delete('/api/admin/keys/:id', requireApiKey(keyward, { scopes: ['admin'] }), handler)
 * ```
 * @packageDocumentation
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { type ApiKeyOptions, type AuthOutcome, createCheck, type HttpProblemResponse } from '../src/http.js'
import type { Keyward } from '../src/keyward.js'
import type { KeyRecord } from '../src/record.js'

declare global {
	namespace Express {
		interface Request {
			/** The verified key's record, on routes behind `requireApiKey()` (undefined elsewhere). */
			apiKey: KeyRecord
		}
	}
}

/** Options of {@link requireApiKey}: see {@link ApiKeyOptions}; `extract` receives the Express request. */
export type ExpressApiKeyOptions = ApiKeyOptions<Request>

/**
 * Express middleware that lets a request through only with a valid API key (and the required
 * scopes), attaching its record as `req.apiKey`. Refused requests get an `application/problem+json`
 * answer: 401 (`missing_key`, `malformed_key`, `unknown_key`, `expired_key`, `revoked_key`), 403
 * (`insufficient_scope`) or 503 (`store_unavailable`, with `Retry-After`). Other errors go to `next(err)`.
 *
 * Use it app-wide, on a router, or per route; a per-route `requireApiKey(keyward, { scopes })` after
 * an app-wide one reuses the first verification (one store read per request).
 *
 * @param keyward - a keyward instance from `createKeyward()`
 * @param options - see {@link ApiKeyOptions}
 * @returns the middleware, named `keywardExpress`
 * @throws KeywardError `invalid_option` for a bad option (at construction, not per request)
 */
export function requireApiKey(keyward: Keyward, options?: ExpressApiKeyOptions): RequestHandler {
	const check = createCheck<Request>(keyward, options, 'requireApiKey()')
	return function keywardExpress(req: Request, res: Response, next: NextFunction): void {
		const outcome = check(req, req.headers, req.originalUrl ?? req.url, req, undefined)
		// Verified without I/O (the memory store, a cache hit, a malformed key): carry on in this same turn,
		// where Express catches what throws. After a store read, what throws goes to next(err) the same way.
		if (outcome instanceof Promise) outcome.then((settled) => proceed(req, res, next, settled)).catch(next)
		else proceed(req, res, next, outcome)
	}
}

function proceed(req: Request, res: Response, next: NextFunction, outcome: AuthOutcome): void {
	if (!outcome.ok) {
		send(res, outcome.response)
		return
	}
	req.apiKey = outcome.record
	if (outcome.report) {
		res.once('finish', outcome.report)
		res.once('close', outcome.report)
	}
	next()
}

function send(res: Response, response: HttpProblemResponse): void {
	res.statusCode = response.status
	for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
	res.end(JSON.stringify(response.body))
}

export type { ApiKeyOptions, HttpProblemResponse, HttpResultEvent, ProblemBody } from '../src/http.js'

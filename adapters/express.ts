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
import { type ApiKeyOptions, createAuthenticator, type HttpProblemResponse } from '../src/http.js'
import type { Keyward } from '../src/keyward.js'
import type { KeyRecord } from '../src/record.js'

declare global {
	// biome-ignore lint/style/noNamespace: Express's own way to extend its Request type
	namespace Express {
		interface Request {
			/** The verified key's record, on routes behind `requireApiKey()` (undefined elsewhere). */
			apiKey: KeyRecord
		}
	}
}

/** Options of {@link requireApiKey}: see {@link ApiKeyOptions}; `extract` receives the Express request. */
export type ExpressApiKeyOptions = ApiKeyOptions<Request>

/** Marks a request verified by a keyward instance, so a second keyward middleware on the route only checks scopes. */
const VERIFIED = Symbol.for('keyward.verified')
type Mark = { keyward: Keyward; record: KeyRecord; onResult?: (event: never) => void; refused: boolean }
type Marked = { [VERIFIED]?: Mark }

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
	const authenticate = createAuthenticator<Request>(keyward, options, 'requireApiKey()')
	return function keywardExpress(req: Request, res: Response, next: NextFunction): void {
		const prior = (req as Marked)[VERIFIED]
		const mark = prior?.keyward === keyward ? prior : undefined
		authenticate(req, req.headers, req.originalUrl ?? req.url, undefined, mark?.record, mark?.onResult as never).then(
			(outcome) => {
				if (outcome.ok) {
					req.apiKey = outcome.record
					if (!mark) {
						const own: Mark = { keyward, record: outcome.record, onResult: options?.onResult as never, refused: false }
						;(req as Marked)[VERIFIED] = own
						let reported = false
						const report = () => {
							if (reported) return
							reported = true
							if (!own.refused) outcome.report()
						}
						res.once('finish', report)
						res.once('close', report)
					}
					next()
				} else {
					if (mark) mark.refused = true
					send(res, outcome.response)
				}
			},
			next,
		)
	}
}

function send(res: Response, response: HttpProblemResponse): void {
	res.statusCode = response.status
	for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
	if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/json')
	res.end(JSON.stringify(response.body))
}

export type { ApiKeyOptions, HttpProblemResponse, HttpResultEvent, ProblemBody } from '../src/http.js'

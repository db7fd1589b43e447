/**
 * `npm run example:express`: keyward in an Express 5 app, on the in-memory store.
 *
 *   GET    /                           public: what this app is
 *   GET    /me                         any valid key: the key's own record
 *   GET    /reports                    a key with the reports:read scope
 *   POST   /admin/users/:ownerId/keys  admin scope: issue a key (the plaintext is in this answer only)
 *   GET    /admin/users/:ownerId/keys  admin scope: list an owner's keys, revoked and expired included
 *   DELETE /admin/keys/:id             admin scope: revoke a key
 *
 * Expired keys are refused at once by every request; `sweep()` only tidies them into the blacklist,
 * on an interval this app owns and clears when it stops.
 *
 * Environment when run directly: PORT (3000), HOST (127.0.0.1), SWEEP_EVERY_MS (60000).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import { createKeyward } from 'keyward'
import { requireApiKey } from 'keyward/express'
import {
	baseUrl,
	checkInterval,
	type ExampleOptions,
	HttpError,
	issueFields,
	JSON_ONLY,
	me,
	REPORTS,
	ROUTES,
	type RunningExample,
	revokeNote,
	runningExample,
	runWhenMain,
	scheduleSweeps,
	startExample,
	toProblem,
	view,
} from './support.js'

/**
 * Builds the Express app and starts listening and sweeping. Prints nothing but sweep reports and errors.
 *
 * @example
 * ```ts
 * const app = await createExpressExample({ port: 0 })
 * const { key } = await app.keyward.issue({ ownerId: 'user_42' })
 * await fetch(`${app.url}/me`, { headers: { authorization: `Bearer ${key}` } })
 * await app.close()
 * ```
 */
export async function createExpressExample(options: ExampleOptions = {}): Promise<RunningExample> {
	const { keyward = createKeyward({ prefix: 'sk' }), port = 0, host = '127.0.0.1', log = console.log } = options
	const sweepEveryMs = checkInterval(options.sweepEveryMs ?? 60_000)

	const app = express()
	app.disable('x-powered-by')

	app.get('/', (_req, res) => {
		res.json({
			service: 'keyward example (Express)',
			auth: 'Authorization: Bearer <key>, or X-API-Key: <key>',
			routes: ROUTES,
		})
	})

	// Every route below needs a valid key; the check runs before any body is read.
	app.use(requireApiKey(keyward))

	app.get('/me', (req, res) => {
		res.json(me(req.apiKey))
	})

	// A second keyward middleware reuses the first verification and only checks the scope.
	app.get('/reports', requireApiKey(keyward, { scopes: ['reports:read'] }), (req, res) => {
		res.json({ readBy: req.apiKey.ownerId, reports: REPORTS })
	})

	const admin = express.Router()
	admin.use(requireApiKey(keyward, { scopes: ['admin'] }), express.json({ limit: '16kb', strict: false }))
	admin.post('/users/:ownerId/keys', async (req, res) => {
		if (hasBody(req.headers) && !req.is('application/json')) {
			throw new HttpError(415, 'unsupported_media_type', JSON_ONLY)
		}
		const { key, record } = await keyward.issue({ ownerId: req.params.ownerId, ...issueFields(req.body) })
		// The plaintext key is in this answer and nowhere else: keyward stores only its hash.
		res
			.status(201)
			.set('cache-control', 'no-store')
			.json({ key, record: view(record) })
	})
	admin.get('/users/:ownerId/keys', async (req, res) => {
		const keys = await keyward.list({ ownerId: req.params.ownerId, includeBlacklisted: true })
		res.json({ ownerId: req.params.ownerId, keys: keys.map(view) })
	})
	admin.delete('/keys/:id', async (req, res) => {
		const record = await keyward.revoke(req.params.id, { note: revokeNote(req.apiKey) })
		res.json(view(record))
	})
	app.use('/admin', admin)

	app.use(((_req, _res, next) => next(new HttpError(404, 'not_found', 'No such route.'))) satisfies RequestHandler)
	app.use(((error, _req, res, next) => {
		if (res.headersSent) return next(error)
		const { status, headers, body } = toProblem(fromBodyParser(error), log)
		res.status(status).set(headers).type('application/problem+json').send(JSON.stringify(body))
	}) satisfies ErrorRequestHandler)

	const server = createServer(app)
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject)
		server.listen(port, host, () => {
			server.off('error', reject)
			resolve()
		})
	})
	const stopSweeps = scheduleSweeps(keyward, sweepEveryMs, log)
	return runningExample(
		baseUrl(host, server.address() as AddressInfo),
		keyward,
		stopSweeps,
		() => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
	)
}

/** What `npm run example:express` does: see {@link startExample}. */
export const startExpressExample = startExample('Express', createExpressExample)

/** body-parser's errors, as this app's. Its messages may quote the body, so they are not passed on. */
function fromBodyParser(error: unknown): unknown {
	const type = (error as { type?: unknown } | null)?.type
	if (type === 'entity.parse.failed') return new HttpError(400, 'invalid_json', 'The body is not valid JSON.')
	if (type === 'entity.too.large') return new HttpError(413, 'body_too_large', 'The body is larger than 16 kB.')
	if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
		return new HttpError(415, 'unsupported_media_type', JSON_ONLY)
	}
	const status = (error as { status?: unknown } | null)?.status
	if (typeof type === 'string' && typeof status === 'number' && status >= 400 && status < 500) {
		return new HttpError(status, 'invalid_request', 'The request body could not be read.')
	}
	return error
}

/** Whether a request carries a body: a zero Content-Length (as fetch sends for an empty POST) is none. */
function hasBody(headers: IncomingHttpHeaders): boolean {
	return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0
}

runWhenMain(import.meta.url, startExpressExample)

/**
 * `npm run example:fastify`: keyward in a Fastify 5 app, on the in-memory store.
 *
 *   GET    /                           public: what this app is
 *   GET    /me                         any valid key: the key's own record
 *   GET    /reports                    a key with the reports:read scope
 *   POST   /admin/users/:ownerId/keys  admin scope: issue a key (the plaintext is in this answer only)
 *   GET    /admin/users/:ownerId/keys  admin scope: list an owner's keys, revoked and expired included
 *   DELETE /admin/keys/:id             admin scope: revoke a key
 *
 * The plugin is registered in the root context, so every route needs a key unless it says
 * `config: { apiKey: false }`; `config: { apiKey: { scopes } }` asks for more. Expired keys are
 * refused at once by every request; `sweep()` only tidies them into the blacklist, on an interval
 * this app owns and clears when it stops.
 *
 * Environment when run directly: PORT (3000), HOST (127.0.0.1), SWEEP_EVERY_MS (60000).
 */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyError, type FastifyReply } from 'fastify'
import { createKeyward } from 'keyward'
import { keywardPlugin } from 'keyward/fastify'
import {
	baseUrl,
	checkInterval,
	type ExampleOptions,
	HttpError,
	issueFields,
	JSON_ONLY,
	me,
	type Problem,
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

const ADMIN = { apiKey: { scopes: ['admin'] } }

/**
 * Builds the Fastify app and starts listening and sweeping. Prints nothing but sweep reports and errors.
 *
 * @example
 * ```ts
 * const app = await createFastifyExample({ port: 0 })
 * const { key } = await app.keyward.issue({ ownerId: 'user_42' })
 * await fetch(`${app.url}/me`, { headers: { authorization: `Bearer ${key}` } })
 * await app.close()
 * ```
 */
export async function createFastifyExample(options: ExampleOptions = {}): Promise<RunningExample> {
	const { keyward = createKeyward({ prefix: 'sk' }), port = 0, host = '127.0.0.1', log = console.log } = options
	const sweepEveryMs = checkInterval(options.sweepEveryMs ?? 60_000)

	const app = Fastify({
		bodyLimit: 16 * 1024,
		// Errors Fastify's router answers before any hook (a path parameter over 100 characters, a bad
		// URL encoding): as problems too, instead of its own JSON that quotes the path.
		frameworkErrors: (error, _request, reply) => sendProblem(reply, toProblem(fromFastify(error), log)),
	})
	// JSON bodies only: without this, a text/plain body would reach the admin routes as a string.
	app.removeContentTypeParser('text/plain')

	// In the root context: every route of the app needs a valid key unless it lifts the check.
	// It checks in onRequest, before any body is read.
	await app.register(keywardPlugin, { keyward })

	app.get('/', { config: { apiKey: false } }, () => ({
		service: 'keyward example (Fastify)',
		auth: 'Authorization: Bearer <key>, or X-API-Key: <key>',
		routes: ROUTES,
	}))

	app.get('/me', (request) => me(request.apiKey))

	app.get('/reports', { config: { apiKey: { scopes: ['reports:read'] } } }, (request) => ({
		readBy: request.apiKey.ownerId,
		reports: REPORTS,
	}))

	app.post<{ Params: { ownerId: string } }>('/admin/users/:ownerId/keys', { config: ADMIN }, async (request, reply) => {
		const { key, record } = await keyward.issue({ ownerId: request.params.ownerId, ...issueFields(request.body) })
		// The plaintext key is in this answer and nowhere else: keyward stores only its hash.
		return reply
			.code(201)
			.header('cache-control', 'no-store')
			.send({ key, record: view(record) })
	})
	app.get<{ Params: { ownerId: string } }>('/admin/users/:ownerId/keys', { config: ADMIN }, async (request) => {
		const keys = await keyward.list({ ownerId: request.params.ownerId, includeBlacklisted: true })
		return { ownerId: request.params.ownerId, keys: keys.map(view) }
	})
	app.delete<{ Params: { id: string } }>('/admin/keys/:id', { config: ADMIN }, async (request) => {
		const record = await keyward.revoke(request.params.id, { note: revokeNote(request.apiKey) })
		return view(record)
	})

	app.setNotFoundHandler(() => {
		throw new HttpError(404, 'not_found', 'No such route.')
	})
	app.setErrorHandler((error, _request, reply) => sendProblem(reply, toProblem(fromFastify(error), log)))

	try {
		await app.listen({ port, host })
	} catch (error) {
		await app.close()
		throw error
	}
	const stopSweeps = scheduleSweeps(keyward, sweepEveryMs, log)
	return runningExample(baseUrl(host, app.server.address() as AddressInfo), keyward, stopSweeps, () => app.close())
}

/** What `npm run example:fastify` does: see {@link startExample}. */
export const startFastifyExample = startExample('Fastify', createFastifyExample)

function sendProblem(reply: FastifyReply, { status, headers, body }: Problem): FastifyReply {
	return reply
		.code(status)
		.headers({ ...headers, 'content-type': 'application/problem+json' })
		.send(JSON.stringify(body))
}

/** Fastify's own 4xx errors (bad JSON, too large, wrong media type), as this app's. */
function fromFastify(error: unknown): unknown {
	const { code, statusCode } = error as Partial<FastifyError>
	if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
		return new HttpError(400, 'invalid_json', 'The body is not valid JSON.')
	}
	if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
		return new HttpError(413, 'body_too_large', 'The body is larger than 16 kB.')
	if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new HttpError(415, 'unsupported_media_type', JSON_ONLY)
	if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
		return new HttpError(statusCode, 'invalid_request', 'The request could not be read.')
	}
	return error
}

runWhenMain(import.meta.url, startFastifyExample)

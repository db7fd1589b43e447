/**
 * `npm run example:koa`: keyward in a Koa 3 app with @koa/router, on the in-memory store.
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
import Router from '@koa/router'
import { createKeyward } from 'keyward'
import { requireApiKey } from 'keyward/koa'
import Koa, { type Context, type Middleware } from 'koa'
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

/** The largest JSON body the admin API reads. */
const BODY_LIMIT = 16 * 1024

/**
 * Builds the Koa app and starts listening and sweeping. Prints nothing but sweep reports and errors.
 *
 * @example
 * ```ts
 * const app = await createKoaExample({ port: 0 })
 * const { key } = await app.keyward.issue({ ownerId: 'user_42' })
 * await fetch(`${app.url}/me`, { headers: { authorization: `Bearer ${key}` } })
 * await app.close()
 * ```
 */
export async function createKoaExample(options: ExampleOptions = {}): Promise<RunningExample> {
	const { keyward = createKeyward({ prefix: 'sk' }), port = 0, host = '127.0.0.1', log = console.log } = options
	const sweepEveryMs = checkInterval(options.sweepEveryMs ?? 60_000)

	// Built once, used per route. Each verifies the key (before any body is read) and checks its scopes.
	const anyKey = requireApiKey(keyward)
	const reportsKey = requireApiKey(keyward, { scopes: ['reports:read'] })
	const adminKey = requireApiKey(keyward, { scopes: ['admin'] })

	const router = new Router()
	router.get('/', (ctx) => {
		ctx.body = {
			service: 'keyward example (Koa)',
			auth: 'Authorization: Bearer <key>, or X-API-Key: <key>',
			routes: ROUTES,
		}
	})
	router.get('/me', anyKey, (ctx) => {
		ctx.body = me(ctx.state.apiKey)
	})
	router.get('/reports', reportsKey, (ctx) => {
		ctx.body = { readBy: ctx.state.apiKey.ownerId, reports: REPORTS }
	})
	router.post('/admin/users/:ownerId/keys', adminKey, async (ctx) => {
		const body = await readJson(ctx)
		const { key, record } = await keyward.issue({ ownerId: ctx.params.ownerId as string, ...issueFields(body) })
		// The plaintext key is in this answer and nowhere else: keyward stores only its hash.
		ctx.status = 201
		ctx.set('cache-control', 'no-store')
		ctx.body = { key, record: view(record) }
	})
	router.get('/admin/users/:ownerId/keys', adminKey, async (ctx) => {
		const keys = await keyward.list({ ownerId: ctx.params.ownerId as string, includeBlacklisted: true })
		ctx.body = { ownerId: ctx.params.ownerId, keys: keys.map(view) }
	})
	router.delete('/admin/keys/:id', adminKey, async (ctx) => {
		const record = await keyward.revoke(ctx.params.id as string, { note: revokeNote(ctx.state.apiKey) })
		ctx.body = view(record)
	})

	const app = new Koa()
	app.use(problems(log))
	app.use(router.routes())
	app.use(() => {
		throw new HttpError(404, 'not_found', 'No such route.')
	})

	const server = createServer(app.callback())
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

/** What `npm run example:koa` does: see {@link startExample}. */
export const startKoaExample = startExample('Koa', createKoaExample)

/** Outermost middleware: every error becomes a problem response (bad input a 4xx, the rest a logged 500). */
function problems(log: (line: string) => void): Middleware {
	return async function problemResponses(ctx, next) {
		try {
			await next()
		} catch (error) {
			const { status, headers, body } = toProblem(error, log)
			ctx.status = status
			ctx.set({ ...headers, 'content-type': 'application/problem+json' })
			ctx.body = JSON.stringify(body)
		}
	}
}

/**
 * Reads a JSON body by hand (no body-parser dependency): at most {@link BODY_LIMIT} bytes,
 * `application/json` only. Resolves `undefined` when the request has no body or an empty one.
 */
async function readJson(ctx: Context): Promise<unknown> {
	if (!hasBody(ctx.headers)) return undefined
	if (!ctx.request.is('application/json')) throw new HttpError(415, 'unsupported_media_type', JSON_ONLY)
	const declared = Number(ctx.get('content-length') || 0)
	if (declared > BODY_LIMIT) throw new HttpError(413, 'body_too_large', 'The body is larger than 16 kB.')
	const chunks: Buffer[] = []
	let size = 0
	for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
		size += chunk.length
		if (size > BODY_LIMIT) throw new HttpError(413, 'body_too_large', 'The body is larger than 16 kB.')
		chunks.push(chunk)
	}
	if (size === 0) return undefined
	try {
		return JSON.parse(Buffer.concat(chunks).toString('utf8'))
	} catch {
		throw new HttpError(400, 'invalid_json', 'The body is not valid JSON.')
	}
}

/** Whether a request carries a body: a zero Content-Length (as fetch sends for an empty POST) is none. */
function hasBody(headers: IncomingHttpHeaders): boolean {
	return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0
}

runWhenMain(import.meta.url, startKoaExample)

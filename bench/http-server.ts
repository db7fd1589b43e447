/**
 * One HTTP server for the middleware-overhead benchmark, run in its own process (started by
 * bench/http.ts through `startChild`) so the load generator does not take the server's CPU.
 *
 * Every server answers `GET /hello` with the same JSON body, behind the authentication its
 * variant names. It issues `keys` keys, then sends the parent `{ port, key }` over IPC (one key,
 * the one the load generator sends) and serves until the parent sends `'stop'`. To `'cpu'` it
 * answers its `process.cpuUsage()`, so the parent can tell the CPU time spent per request.
 */
import { createHash, hash as nodeHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type Koa from 'koa'
import type { Keyward } from '../src/index.js'
import type { BenchStore } from './servers.js'

// Modules are imported when a variant needs them: a server loads one framework and at most one
// store driver, so the 15 servers of a run start faster on a busy machine.

/** The frameworks measured. */
export type Framework = 'express' | 'fastify' | 'koa'

/**
 * The authentication in front of the route. `noop` is a middleware that only passes the request on:
 * what the framework itself charges for one more middleware. `control` is a second server without authentication,
 * identical to `none`: its ratio to `none` shows how much the run's own noise moves a ratio.
 */
export type Variant =
	| 'none'
	| 'control'
	| 'noop'
	| 'floor'
	| 'memory'
	| 'redis'
	| 'postgres'
	| 'passport'
	| 'bearer-auth'

/** What the parent tells a server process (its one command-line argument, as JSON). */
export interface ServerConfig {
	readonly framework: Framework
	readonly variant: Variant
	/** How many keys to issue (or to load into the peer's Map); the load uses the first. */
	readonly keys: number
	readonly redisUrl: string
	readonly databaseUrl: string
	/** The Redis namespace or PostgreSQL schema of this server's store. */
	readonly name: string
}

/** What the server sends once it listens. */
export interface ServerReady {
	readonly port: number
	/** The key to send; a secret of this run only, never printed. */
	readonly key: string
}

/** The one response body, the same for every server. */
export const BODY = { hello: 'world' }

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

/**
 * The floor: the least any check of hashed, expiring keys costs, written by hand with no library.
 * It takes `Bearer <key>` as it comes, hashes it with the fastest SHA-256 call Node.js has, reads a
 * `Map` and compares the expiry with `Date.now()`: no key format, no checksum, no timeout, no
 * problem responses. keyward's rows are measured against it as well as against no authentication.
 */
function floorCheck(count: number): { key: string; check: (authorization: string | undefined) => boolean } {
	const hash = (value: string) => nodeHash('sha256', value, 'base64url')
	const byHash = new Map<string, { ownerId: string; expiresAt: number }>()
	const expiresAt = Date.now() + 30 * 86_400_000
	let first = ''
	for (let i = 0; i < count; i++) {
		const key = `fk_${sha256(`floor-key-${i}`).slice(0, 32)}`
		if (i === 0) first = key
		byHash.set(hash(key), { ownerId: `owner-${i}`, expiresAt })
	}
	const check = (authorization: string | undefined) => {
		if (authorization === undefined || !authorization.startsWith('Bearer ')) return false
		const entry = byHash.get(hash(authorization.slice(7)))
		return entry !== undefined && Date.now() < entry.expiresAt
	}
	return { key: first, check }
}

/** The peers' key table: SHA-256 of each key → its owner, as a host would keep it. */
function peerKeys(count: number): { key: string; byHash: Map<string, { ownerId: string }> } {
	const byHash = new Map<string, { ownerId: string }>()
	let first = ''
	for (let i = 0; i < count; i++) {
		const key = `pk_${sha256(`peer-key-${i}`).slice(0, 32)}`
		if (i === 0) first = key
		byHash.set(sha256(key), { ownerId: `owner-${i}` })
	}
	return { key: first, byHash }
}

async function keywardOn(opened: BenchStore, count: number): Promise<{ keyward: Keyward; key: string }> {
	const { createKeyward } = await import('../src/index.js')
	const keyward = createKeyward({ store: opened.store, prefix: 'sk' })
	let key = ''
	for (let i = 0; i < count; i += 64) {
		const batch = Array.from({ length: Math.min(64, count - i) }, (_, j) =>
			keyward.issue({ ownerId: `owner-${i + j}`, expiresIn: '30d' }),
		)
		const issued = await Promise.all(batch)
		if (i === 0) key = (issued[0] as { key: string }).key
	}
	return { keyward, key }
}

async function usePassport(byHash: Map<string, { ownerId: string }>) {
	const { default: passport } = await import('passport')
	const { HeaderAPIKeyStrategy } = await import('passport-headerapikey')
	passport.use(
		new HeaderAPIKeyStrategy({ header: 'Authorization', prefix: 'Bearer ' }, false, (apiKey, done) => {
			done(null, byHash.get(sha256(apiKey)) ?? false)
		}),
	)
	return passport
}

async function main(): Promise<void> {
	const config = JSON.parse(process.argv[2] as string) as ServerConfig
	const { framework, variant } = config
	let opened: BenchStore | undefined
	let keyward: Keyward | undefined
	let key = 'none'
	if (variant === 'memory' || variant === 'redis' || variant === 'postgres') {
		const { openStore } = await import('./servers.js')
		opened = await openStore(variant, config)
		;({ keyward, key } = await keywardOn(opened, config.keys))
	}
	const peer = variant === 'passport' || variant === 'bearer-auth' ? peerKeys(config.keys) : undefined
	if (peer) key = peer.key
	const floor = variant === 'floor' ? floorCheck(config.keys) : undefined
	if (floor) key = floor.key

	let port: number
	let close: () => Promise<void>
	switch (framework) {
		case 'express': {
			const { default: express } = await import('express')
			const app = express()
			if (keyward) app.use((await import('../adapters/express.js')).requireApiKey(keyward))
			if (peer) {
				const passport = await usePassport(peer.byHash)
				app.use(passport.authenticate('headerapikey', { session: false }))
			}
			if (variant === 'noop') app.use((_req, _res, next) => next())
			if (floor) {
				app.use((req, res, next) => {
					if (floor.check(req.headers.authorization)) return next()
					res.statusCode = 401
					res.end()
				})
			}
			app.get('/hello', (_req, res) => {
				res.json(BODY)
			})
			const server = app.listen(0, '127.0.0.1')
			await new Promise<void>((resolve) => server.once('listening', () => resolve()))
			port = (server.address() as AddressInfo).port
			close = () => new Promise((resolve) => server.close(() => resolve()))
			break
		}
		case 'fastify': {
			const { default: Fastify } = await import('fastify')
			const app = Fastify()
			if (keyward) await app.register((await import('../adapters/fastify.js')).keywardPlugin, { keyward })
			if (peer) {
				const { byHash } = peer
				const { default: bearerAuth } = await import('@fastify/bearer-auth')
				await app.register(bearerAuth, { keys: [], auth: (presented: string) => byHash.has(sha256(presented)) })
			}
			if (variant === 'noop') app.addHook('onRequest', (_request, _reply, done) => done())
			if (floor) {
				app.addHook('onRequest', (request, reply, done) => {
					if (floor.check(request.headers.authorization)) return done()
					reply.code(401).send()
				})
			}
			app.get('/hello', async () => BODY)
			await app.listen({ port: 0, host: '127.0.0.1' })
			port = (app.server.address() as AddressInfo).port
			close = () => app.close()
			break
		}
		case 'koa': {
			const { default: Koa } = await import('koa')
			const { default: Router } = await import('@koa/router')
			const app = new Koa()
			// autocannon cuts its connections when a run ends, mid-request: no EPIPE stack traces for those.
			app.silent = true
			const router = new Router()
			const handler = (ctx: Koa.Context) => {
				ctx.body = BODY
			}
			if (keyward) router.get('/hello', (await import('../adapters/koa.js')).requireApiKey(keyward), handler)
			else if (peer) {
				router.get('/hello', passportKoa(await usePassport(peer.byHash)), handler)
			} else if (floor) {
				const check: Koa.Middleware = (ctx, next) => {
					if (floor.check(ctx.headers.authorization)) return next()
					ctx.status = 401
				}
				router.get('/hello', check, handler)
			} else if (variant === 'noop') {
				router.get('/hello', (_ctx, next) => next(), handler)
			} else router.get('/hello', handler)
			app.use(router.routes())
			const server = app.listen(0, '127.0.0.1')
			await new Promise<void>((resolve) => server.once('listening', () => resolve()))
			port = (server.address() as AddressInfo).port
			close = () => new Promise((resolve) => server.close(() => resolve()))
			break
		}
	}
	process.on('message', (message) => {
		if (message === 'cpu') return void process.send?.(process.cpuUsage())
		if (message !== 'stop') return
		void close()
			.then(() => opened?.close())
			.finally(() => process.exit(0))
	})
	process.send?.({ port, key } satisfies ServerReady)
}

/**
 * passport on Koa the way koa-passport binds it (koa-passport is not a dependency of this
 * project): run the strategy on Node's request and answer 401 when it fails.
 */
function passportKoa(passport: typeof import('passport')): Koa.Middleware {
	return (ctx, next) =>
		new Promise<void>((resolve, reject) => {
			passport.authenticate('headerapikey', { session: false }, (error: unknown, user: unknown) => {
				if (error) return reject(error)
				if (!user) {
					ctx.status = 401
					return resolve()
				}
				ctx.state.user = user
				resolve(next())
			})(ctx.req, ctx.res, reject)
		})
}

main().catch((error: unknown) => {
	console.error('bench server failed:', error instanceof Error ? error.message : error)
	process.exit(1)
})

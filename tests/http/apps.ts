/**
 * The same three routes on real listening Express, Fastify and Koa servers (and on Express 4 and
 * Koa 2, the older majors package.json accepts, installed as `express4` and `koa2`):
 *   GET /public  no key needed
 *   GET /me      any valid key
 *   GET /admin   a valid key with the admin scope
 */
import type { AddressInfo } from 'node:net'
import Router from '@koa/router'
import express from 'express'
import express4 from 'express4'
import Fastify from 'fastify'
import type { Keyward } from 'keyward'
import type { ApiKeyOptions } from 'keyward/express'
import { requireApiKey as expressKey } from 'keyward/express'
import { keywardPlugin } from 'keyward/fastify'
import { requireApiKey as koaKey } from 'keyward/koa'
import Koa from 'koa'
import Koa2 from 'koa2'

export interface RunningApp {
	readonly url: string
	close(): Promise<void>
}

export type Framework = 'express' | 'fastify' | 'koa'
export const FRAMEWORKS: readonly Framework[] = ['express', 'fastify', 'koa']

/** The older majors of the peer ranges in package.json; the HTTP contract runs on them too. */
export type OlderMajor = 'express 4' | 'koa 2'
export const OLDER_MAJORS: readonly OlderMajor[] = ['express 4', 'koa 2']

// biome-ignore lint/suspicious/noExplicitAny: each framework's request type differs; the options are the same
type Options = ApiKeyOptions<any>

export async function startApp(
	framework: Framework | OlderMajor,
	keyward: Keyward,
	options: Options = {},
): Promise<RunningApp> {
	switch (framework) {
		case 'express':
			return expressApp(express, keyward, options)
		case 'express 4':
			return expressApp(express4, keyward, options)
		case 'fastify': {
			const app = Fastify()
			app.get('/public', () => ({ public: true }))
			await app.register(async (scoped) => {
				await scoped.register(keywardPlugin, { keyward, ...options })
				scoped.get('/me', (request) => ({ ownerId: request.apiKey.ownerId, id: request.apiKey.id }))
				scoped.get('/admin', { config: { apiKey: { scopes: ['admin'] } } }, (request) => ({
					admin: request.apiKey.ownerId,
				}))
			})
			await app.listen({ port: 0, host: '127.0.0.1' })
			return running(app.server.address() as AddressInfo, () => app.close())
		}
		case 'koa':
			return koaApp(Koa, keyward, options)
		case 'koa 2':
			return koaApp(Koa2, keyward, options)
	}
}

async function expressApp(framework: typeof express, keyward: Keyward, options: Options): Promise<RunningApp> {
	const app = framework()
	app.get('/public', (_req, res) => {
		res.json({ public: true })
	})
	app.use(expressKey(keyward, options))
	app.get('/me', (req, res) => {
		res.json({ ownerId: req.apiKey.ownerId, id: req.apiKey.id })
	})
	app.get('/admin', expressKey(keyward, { ...options, scopes: ['admin'] }), (req, res) => {
		res.json({ admin: req.apiKey.ownerId })
	})
	const server = app.listen(0, '127.0.0.1')
	await new Promise<void>((resolve) => server.once('listening', () => resolve()))
	return running(server.address() as AddressInfo, () => new Promise((resolve) => server.close(() => resolve())))
}

async function koaApp(Framework: typeof Koa, keyward: Keyward, options: Options): Promise<RunningApp> {
	const app = new Framework()
	const router = new Router()
	router.get('/public', (ctx) => {
		ctx.body = { public: true }
	})
	router.get('/me', koaKey(keyward, options), (ctx) => {
		ctx.body = { ownerId: ctx.state.apiKey.ownerId, id: ctx.state.apiKey.id }
	})
	router.get('/admin', koaKey(keyward, options), koaKey(keyward, { ...options, scopes: ['admin'] }), (ctx) => {
		ctx.body = { admin: ctx.state.apiKey.ownerId }
	})
	app.use(router.routes())
	const server = app.listen(0, '127.0.0.1')
	await new Promise<void>((resolve) => server.once('listening', () => resolve()))
	return running(server.address() as AddressInfo, () => new Promise((resolve) => server.close(() => resolve())))
}

function running(address: AddressInfo, close: () => Promise<void>): RunningApp {
	return { url: `http://127.0.0.1:${address.port}`, close }
}

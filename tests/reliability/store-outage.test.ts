/**
 * Store outage under load: an Express app with `requireApiKey()` serves steady keep-alive load while
 * its store goes away: a private redis-server is shut down (`SHUTDOWN SAVE`, then SIGTERM) and
 * started again on the same port, then frozen (SIGSTOP: connections open, no answers) and resumed; the PostgreSQL store's own connections (found by an
 * `application_name` unique to the test) are terminated with `pg_terminate_backend`, again and again.
 * Every answer is a correct one or 503 `store_unavailable` with `Retry-After`: never a 200 for a key
 * that could not be checked, never a 500; memory stays bounded; the app recovers without a restart.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { createKeyward, type KeyStore, type Keyward } from 'keyward'
import { requireApiKey } from 'keyward/express'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'
import {
	deletePostgresNamespace,
	type Figures,
	freePort,
	memoryMb,
	PrivateRedis,
	sleep,
	writeFigures,
} from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')
const TABLE = 'kwtest_reliability'
const CONCURRENCY = 8
/** Growth of the heap allowed over the whole run: far above what a run needs, far below a leak per request. */
const HEAP_GROWTH_LIMIT_MB = 150

type Kind = 'valid' | 'expired' | 'revoked' | 'unknown' | 'malformed'
const EXPECTED: Record<Kind, { status: number; code: string | null }> = {
	valid: { status: 200, code: null },
	expired: { status: 401, code: 'expired_key' },
	revoked: { status: 401, code: 'revoked_key' },
	unknown: { status: 401, code: 'unknown_key' },
	malformed: { status: 401, code: 'malformed_key' },
}

interface Sample {
	readonly kind: Kind
	readonly started: number
	readonly ended: number
	readonly status: number | 'error'
	readonly code: string | null
	readonly retryAfter: string | null
}

/** The app under test and its keys. */
async function startApp(store: KeyStore) {
	const keyward: Keyward = createKeyward({ store, prefix: 'sk' })
	const valid = await Promise.all([1, 2, 3, 4].map((i) => keyward.issue({ ownerId: `u${i}` })))
	const expired = await keyward.issue({ ownerId: 'u1', expiresAt: new Date(Date.now() + 30) })
	const revoked = await keyward.issue({ ownerId: 'u1' })
	await keyward.revoke(revoked.record.id)
	const unknown = await createKeyward({ prefix: 'sk' }).issue({ ownerId: 'elsewhere' })
	await sleep(40) // the expired key is now expired
	const keys: [Kind, string][] = [
		...valid.map((v): [Kind, string] => ['valid', v.key]),
		['expired', expired.key],
		['revoked', revoked.key],
		['unknown', unknown.key],
		['malformed', `${valid[0]?.key.slice(0, -1)}${valid[0]?.key.endsWith('x') ? 'y' : 'x'}`],
	]
	const app = express()
	app.get('/me', requireApiKey(keyward, { timeout: '1s', retryAfter: '2s' }), (req, res) => {
		res.json({ id: req.apiKey.id })
	})
	const server: Server = app.listen(0, '127.0.0.1')
	await new Promise<void>((resolve) => server.once('listening', () => resolve()))
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/me`
	return { keys, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/** Steady load: CONCURRENCY keep-alive clients, each sending the next key as soon as it has an answer. */
function load(url: string, keys: readonly [Kind, string][]) {
	const samples: Sample[] = []
	const memory: { at: number; heapUsedMb: number; rssMb: number }[] = []
	let running = true
	const sampler = setInterval(() => memory.push({ at: Date.now(), ...memoryMb() }), 100)
	const client = async (offset: number) => {
		for (let i = offset; running; i += CONCURRENCY) {
			const [kind, key] = keys[i % keys.length] as [Kind, string]
			const started = Date.now()
			try {
				const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } })
				const text = await response.text()
				const code =
					response.status === 200 ? null : ((JSON.parse(text) as { code?: string }).code ?? `unparsed:${text}`)
				samples.push({
					kind,
					started,
					ended: Date.now(),
					status: response.status,
					code,
					retryAfter: response.headers.get('retry-after'),
				})
			} catch {
				samples.push({ kind, started, ended: Date.now(), status: 'error', code: null, retryAfter: null })
			}
		}
	}
	const clients = Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => client(i)))
	return {
		samples,
		memory,
		async stop() {
			running = false
			clearInterval(sampler)
			await clients
		},
	}
}

/** Answers that break the contract: a 200 for anything but a valid key, a 500, a wrong code, a 503 without Retry-After. */
function violations(samples: readonly Sample[]): string[] {
	const bad: string[] = []
	for (const s of samples) {
		const expected = EXPECTED[s.kind]
		const correct = s.status === expected.status && s.code === expected.code
		const unavailable = s.status === 503 && s.code === 'store_unavailable' && s.retryAfter === '2'
		if (s.kind === 'malformed' ? !correct : !(correct || unavailable)) {
			bad.push(`${s.kind}: ${s.status} ${s.code} retry-after=${s.retryAfter}`)
		}
	}
	return bad
}

function byStatus(samples: readonly Sample[]): Record<string, number> {
	const counts: Record<string, number> = {}
	for (const s of samples) counts[String(s.status)] = (counts[String(s.status)] ?? 0) + 1
	return counts
}

/** Waits until every key gets its correct answer for `steadyMs` in a row; answers the time it took. */
async function recovered(samples: readonly Sample[], since: number, steadyMs: number, limitMs: number) {
	const deadline = Date.now() + limitMs
	for (;;) {
		const recent = samples.filter((s) => s.started >= since)
		const lastWrong = recent.reduce(
			(last, s) =>
				s.status === EXPECTED[s.kind].status && s.code === EXPECTED[s.kind].code ? last : Math.max(last, s.ended),
			since,
		)
		const correctSince = recent.filter((s) => s.started > lastWrong)
		if (Date.now() - lastWrong >= steadyMs && correctSince.length > 0) return lastWrong - since
		if (Date.now() > deadline) throw new Error(`the app did not recover within ${limitMs} ms`)
		await sleep(50)
	}
}

describe('store outage under load', () => {
	const cleanup: (() => Promise<void>)[] = []
	afterAll(async () => {
		for (const step of cleanup.reverse()) await step().catch(() => undefined)
	}, 30_000)

	it.skipIf(!redisUrl)(
		'Redis stopped (SHUTDOWN SAVE, SIGTERM) and frozen (SIGSTOP) mid-load, then back: 503 or a correct answer, then recovery',
		async () => {
			const figures: Figures = {
				title: 'Store outage under load (Redis stopped and restarted)',
				claim:
					'A private redis-server is stopped twice under steady HTTP load and started again on the same port, then frozen with SIGSTOP and resumed; every answer is correct or 503 store_unavailable with Retry-After, never 200 for an unchecked key, never 500; memory stays bounded; the app recovers without a restart.',
				figures: {},
			}
			try {
				const redis = new PrivateRedis(await freePort())
				cleanup.push(() => redis.dispose())
				await redis.start()
				const store = redisStore({ url: redis.url, namespace: uniqueNamespace('outage'), timeout: '300ms' })
				cleanup.push(() => store.close())
				const app = await startApp(store)
				cleanup.push(app.close)
				const memoryBefore = memoryMb()
				const traffic = load(app.url, app.keys)
				const outages: { how: string; downMs: number; recoveryMs: number; unavailable: number; inside: number }[] = []
				await sleep(1000)
				for (const how of ['shutdown', 'sigterm', 'sigstop'] as const) {
					// sigstop freezes the server: connections stay open and nothing answers, until SIGCONT.
					if (how === 'sigstop') redis.process?.kill('SIGSTOP')
					else await redis.stop(how)
					const down = Date.now()
					await sleep(1500)
					const restarting = Date.now()
					if (how === 'sigstop') redis.process?.kill('SIGCONT')
					else await redis.start()
					const up = Date.now()
					const recoveryMs = await recovered(traffic.samples, up, 700, 20_000)
					// Sent after the server was gone and answered before it was being started again: no store could check these.
					const inside = traffic.samples.filter(
						(s) => s.started > down && s.ended < restarting && s.kind !== 'malformed',
					)
					expect(inside.length).toBeGreaterThan(0)
					expect(inside.filter((s) => s.status !== 503)).toEqual([])
					outages.push({
						how,
						downMs: up - down,
						recoveryMs,
						unavailable: traffic.samples.filter((s) => s.status === 503 && s.started >= down).length,
						inside: inside.length,
					})
				}
				await sleep(500)
				await traffic.stop()
				const memoryAfter = memoryMb()
				const { samples, memory } = traffic
				const maxHeap = Math.max(...memory.map((m) => m.heapUsedMb))
				const maxRss = Math.max(...memory.map((m) => m.rssMb))
				Object.assign(figures.figures, {
					outages: outages.length,
					concurrency: CONCURRENCY,
					requests: samples.length,
					byStatus: byStatus(samples),
					perOutage: outages,
					memoryBefore,
					memoryMaxDuring: { heapUsedMb: maxHeap, rssMb: maxRss },
					memoryAfter,
					violations: violations(samples).length,
				})
				expect(violations(samples)).toEqual([])
				expect(samples.filter((s) => s.status === 'error' || s.status === 500)).toEqual([])
				expect(maxHeap - memoryBefore.heapUsedMb).toBeLessThan(HEAP_GROWTH_LIMIT_MB)
				// After the last outage, the app answers every key correctly again.
				const last = samples.filter((s) => s.started > Date.now() - 400)
				expect(last.length).toBeGreaterThan(0)
				expect(last.every((s) => s.status === EXPECTED[s.kind].status)).toBe(true)
				figures.result = 'passed'
			} finally {
				writeFigures('store-outage-redis', figures)
			}
		},
		90_000,
	)

	it.skipIf(!databaseUrl)(
		"PostgreSQL: the store's connections terminated with pg_terminate_backend 8 times mid-load: 503 or a correct answer, then recovery",
		async () => {
			const figures: Figures = {
				title: 'Store outage under load (PostgreSQL connections terminated)',
				claim:
					"The store's own PostgreSQL connections are terminated with pg_terminate_backend 8 times under steady HTTP load; every answer is correct or 503 store_unavailable with Retry-After, never 500; memory stays bounded; the app recovers without a restart.",
				figures: {},
			}
			const namespace = uniqueNamespace('pg_outage')
			const appName = `kwtest_outage_${namespace.slice(-8)}`
			const admin = new pg.Client({ connectionString: databaseUrl })
			try {
				await admin.connect()
				cleanup.push(() => admin.end())
				const url = `${databaseUrl}${databaseUrl?.includes('?') ? '&' : '?'}application_name=${appName}`
				const store = postgresStore({ url, namespace, table: TABLE, timeout: '1s' })
				cleanup.push(async () => {
					await store.close()
					await deletePostgresNamespace(databaseUrl as string, TABLE, namespace)
				})
				const app = await startApp(store)
				cleanup.push(app.close)
				const memoryBefore = memoryMb()
				const traffic = load(app.url, app.keys)
				await sleep(800)
				const terminated: number[] = []
				const started = Date.now()
				for (let i = 0; i < 8; i++) {
					const { rows } = await admin.query<{ n: string }>(
						'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1',
						[appName],
					)
					terminated.push(Number(rows[0]?.n))
					await sleep(300)
				}
				const recoveryMs = await recovered(traffic.samples, Date.now(), 700, 20_000)
				await traffic.stop()
				const memoryAfter = memoryMb()
				const { samples, memory } = traffic
				const maxHeap = Math.max(...memory.map((m) => m.heapUsedMb))
				Object.assign(figures.figures, {
					outages: terminated.length,
					backendsTerminated: terminated.reduce((a, b) => a + b, 0),
					terminatedPerRound: terminated,
					concurrency: CONCURRENCY,
					requests: samples.length,
					requestsDuringTerminations: samples.filter((s) => s.started >= started).length,
					byStatus: byStatus(samples),
					recoveryMs,
					memoryBefore,
					memoryMaxDuring: { heapUsedMb: maxHeap, rssMb: Math.max(...memory.map((m) => m.rssMb)) },
					memoryAfter,
					violations: violations(samples).length,
				})
				expect(terminated.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(8)
				expect(violations(samples)).toEqual([])
				expect(samples.filter((s) => s.status === 'error' || s.status === 500)).toEqual([])
				expect(maxHeap - memoryBefore.heapUsedMb).toBeLessThan(HEAP_GROWTH_LIMIT_MB)
				figures.result = 'passed'
			} finally {
				writeFigures('store-outage-postgres', figures)
			}
		},
		90_000,
	)
})

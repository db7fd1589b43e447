/**
 * Concurrent sweeps across processes: 4 worker OS processes sweep one Redis (and, separately, one
 * PostgreSQL) store at once, while a fifth serves an Express app with `requireApiKey()` on that store
 * and keeps verifying valid keys over real HTTP. 10,000 keys expire during the run: they are written
 * while the workers already sweep (through the store on Redis, in bulk SQL on PostgreSQL), each
 * expiring 1–4 s after it is written.
 */

import { rmSync } from 'node:fs'
import { createKeyward, type KeyRecord, type KeyStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'
import { testRecord } from 'keyward/testing'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace, wipeRedisNamespace } from '../helpers/servers.js'
import {
	bundleWorker,
	deletePostgresNamespace,
	type Figures,
	postgresState,
	redisState,
	seededRandom,
	sleep,
	startWorker,
	type Worker,
	writeFigures,
} from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')
const TABLE = 'kwtest_reliability'
const EXPIRING = 10_000
const VALID = 200
const WORKERS = 4
const BATCH = 100

interface Target {
	readonly kind: 'redis' | 'postgres'
	readonly url: string | undefined
}

const TARGETS: Target[] = [
	{ kind: 'redis', url: redisUrl },
	{ kind: 'postgres', url: databaseUrl },
]

/**
 * Writes records into postgresStore's table in one statement: 10,000 single-row inserts take half a
 * minute on a loaded 2-core machine, and this scenario is about sweeping, not inserting.
 */
async function insertRows(client: pg.Client, namespace: string, records: readonly KeyRecord[]): Promise<void> {
	const column = <T>(pick: (record: KeyRecord) => T) => records.map(pick)
	await client.query(
		`INSERT INTO ${TABLE} (namespace, id, hash, prefix, hint, owner_id, name, created_at, expires_at, scopes, metadata)
			SELECT $1, id, hash, prefix, hint, owner_id, name, created_at, expires_at, '{}'::text[], '{}'::jsonb
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[])
				AS t(id, hash, prefix, hint, owner_id, name, created_at, expires_at)`,
		[
			namespace,
			column((r) => r.id),
			column((r) => r.hash),
			column((r) => r.prefix),
			column((r) => r.hint),
			column((r) => r.ownerId),
			column((r) => r.name),
			column((r) => r.createdAt.toISOString()),
			column((r) => r.expiresAt?.toISOString() ?? null),
		],
	)
}

let sweeperBundle: string
let verifierBundle: string
beforeAll(async () => {
	;[sweeperBundle, verifierBundle] = await Promise.all([bundleWorker('sweeper'), bundleWorker('verifier')])
}, 60_000)
afterAll(() => {
	for (const bundle of [sweeperBundle, verifierBundle]) if (bundle) rmSync(bundle, { force: true })
})

describe.each(TARGETS)('concurrent sweeps across processes › $kind', ({ kind, url }) => {
	const namespace = uniqueNamespace(`conc_${kind}`)
	let store: KeyStore & { close(): Promise<void> }

	beforeAll(async () => {
		if (!url) return
		store =
			kind === 'redis'
				? redisStore({ url, namespace })
				: postgresStore({ url, namespace, table: TABLE, timeout: '10s' })
		await store.count({ expiredBy: new Date(0) }) // connected (and, for PostgreSQL, the table exists)
	}, 30_000)
	afterAll(async () => {
		if (!url) return
		await store.close()
		if (kind === 'redis') await wipeRedisNamespace(url, namespace)
		else await deletePostgresNamespace(url, TABLE, namespace)
	}, 60_000)

	it.skipIf(!url)(
		'4 sweeping processes blacklist each of 10,000 expiring keys exactly once while valid keys keep answering 200',
		async () => {
			const figures: Figures = {
				title: `Concurrent sweeps across processes (${kind === 'redis' ? 'Redis' : 'PostgreSQL'})`,
				claim:
					'4 OS processes sweep one store at once while a fifth verifies valid keys over HTTP; every expired key is moved exactly once, nothing else is touched or lost, every valid request answers 200.',
				figures: {},
			}
			const workers: Worker[] = []
			try {
				const started = performance.now()
				const keyward = createKeyward({ store, prefix: 'sk' })
				// Valid keys: half never expire, half expire in an hour.
				const valid = await Promise.all(
					Array.from({ length: VALID }, (_, i) =>
						keyward.issue({ ownerId: `valid-${i % 7}`, ...(i % 2 === 0 ? { expiresIn: '1h' } : {}) }),
					),
				)
				const validBefore = new Map(valid.map(({ record }) => [record.id, record]))

				const env = { KW_STORE: kind, KW_URL: url as string, KW_NS: namespace, KW_TABLE: TABLE }
				const verifier = startWorker(verifierBundle, { ...env, KW_KEYS: JSON.stringify(valid.map((v) => v.key)) })
				workers.push(verifier)
				for (let i = 0; i < WORKERS; i++) workers.push(startWorker(sweeperBundle, { ...env, KW_BATCH: String(BATCH) }))
				const sweepers = workers.slice(1)
				await verifier.line((line) => line.startsWith('listening'))
				await Promise.all(sweepers.map((worker) => worker.line((line) => line === 'ready')))
				for (const worker of sweepers) worker.process.stdin?.write('go\n')

				// The expiring keys, written while the workers sweep: each expires 1–4 s after it is written.
				const random = seededRandom(7)
				const inserted = new Map<string, KeyRecord>()
				const insertStarted = Date.now()
				let lastExpiry = 0
				const chunkSize = kind === 'redis' ? 100 : 500
				const sql = kind === 'postgres' ? new pg.Client({ connectionString: url }) : undefined
				await sql?.connect()
				for (let i = 0; i < EXPIRING; i += chunkSize) {
					const chunk = Array.from({ length: Math.min(chunkSize, EXPIRING - i) }, (_, j) => {
						const expiresAt = new Date(Date.now() + 1000 + Math.floor(random() * 3000))
						lastExpiry = Math.max(lastExpiry, expiresAt.getTime())
						return testRecord({ prefix: 'sk', ownerId: `exp-${(i + j) % 13}`, expiresAt, createdAt: new Date() })
					})
					if (kind === 'redis') await Promise.all(chunk.map((record) => store.insert(record)))
					else await insertRows(sql as pg.Client, namespace, chunk)
					for (const record of chunk) inserted.set(record.id, record)
				}
				const insertMs = Date.now() - insertStarted
				await sql?.end()
				await sleep(Math.max(0, lastExpiry - Date.now()) + 300)
				for (const worker of sweepers) worker.process.stdin?.end('stop\n')
				const reports = await Promise.all(
					sweepers.map(
						async (worker) =>
							JSON.parse(await worker.line((line) => line.startsWith('{'), 60_000)) as {
								expired: number
								sweeps: number
								moved: string[]
							},
					),
				)
				verifier.process.stdin?.end('stop\n')
				const http = JSON.parse(await verifier.line((line) => line.startsWith('{'), 30_000)) as {
					requests: number
					byStatus: Record<string, number>
					failures: string[]
				}
				const exits = await Promise.all(workers.map((worker) => worker.exited))

				const state =
					kind === 'redis'
						? await redisState(url as string, namespace)
						: await postgresState(url as string, TABLE, namespace)
				const movedIds = reports.flatMap((report) => report.moved)
				const movedOnce = new Set(movedIds)
				Object.assign(figures.figures, {
					store: kind,
					processes: WORKERS + 1,
					sweepingProcesses: WORKERS,
					batchSize: BATCH,
					expiringKeys: EXPIRING,
					validKeys: VALID,
					insertMs,
					runMs: Math.round(performance.now() - started),
					expiredPerWorker: reports.map((report) => report.expired),
					sweepsPerWorker: reports.map((report) => report.sweeps),
					sumOfExpired: reports.reduce((sum, report) => sum + report.expired, 0),
					idsMoved: movedIds.length,
					distinctIdsMoved: movedOnce.size,
					recordsAfter: state.records.size,
					consistencyProblems: state.problems.length,
					httpRequests: http.requests,
					httpByStatus: http.byStatus,
				})

				expect(exits).toEqual([0, 0, 0, 0, 0])
				expect(http.failures).toEqual([])
				expect(Object.keys(http.byStatus)).toEqual(['200'])
				expect(http.requests).toBeGreaterThan(100)
				// Each worker's report agrees with what its store calls moved.
				for (const report of reports) expect(report.moved).toHaveLength(report.expired)
				// Every expired key blacklisted exactly once, across all workers.
				expect(reports.reduce((sum, report) => sum + report.expired, 0)).toBe(EXPIRING)
				expect(movedIds).toHaveLength(EXPIRING)
				expect(movedOnce.size).toBe(EXPIRING)
				expect([...movedOnce].every((id) => inserted.has(id))).toBe(true)
				// The work was shared: more than one process moved keys.
				expect(reports.filter((report) => report.expired > 0).length).toBeGreaterThan(1)
				// No record lost, store consistent, expired records moved only once expired, valid ones untouched.
				expect(state.problems).toEqual([])
				expect(state.records.size).toBe(EXPIRING + VALID)
				for (const [id, record] of inserted) {
					const after = state.records.get(id)
					expect(after?.reason, id).toBe('expired')
					expect(after?.expiresAt).toBe(record.expiresAt?.getTime())
					expect(after?.blacklistedAt as number).toBeGreaterThanOrEqual(record.expiresAt?.getTime() as number)
				}
				for (const [id, before] of validBefore) {
					expect(await store.getById(id)).toEqual(before)
				}
				figures.result = 'passed'
			} finally {
				for (const worker of workers) if (worker.process.exitCode === null) worker.process.kill('SIGKILL')
				writeFigures(`concurrent-sweeps-${kind}`, figures)
			}
		},
		180_000,
	)
})

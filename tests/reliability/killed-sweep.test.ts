/**
 * Killed mid-sweep: a sweeping OS process (small batches, so a sweep takes many store calls) is
 * SIGKILLed after a seeded random delay, 20 times on Redis and 20 times on PostgreSQL. After each kill
 * the store's raw data is consistent (every record active or blacklisted, never both or neither; on
 * Redis the sorted-set indexes agree with the records), and a new sweep moves exactly what is left.
 */

import { rmSync } from 'node:fs'
import type { KeyStore } from 'keyward'
import { sweep } from 'keyward'
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
	type StoreState,
	seededRandom,
	sleep,
	startWorker,
	type Worker,
	writeFigures,
} from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')
const TABLE = 'kwtest_reliability'
const KILLS = 20
const PER_ROUND = 100
const BATCH = 2
const SEED = 20_261_203

const TARGETS = [
	{ kind: 'redis' as const, url: redisUrl },
	{ kind: 'postgres' as const, url: databaseUrl },
]

let bundle: string
beforeAll(async () => {
	bundle = await bundleWorker('sweeper')
}, 60_000)
afterAll(() => {
	if (bundle) rmSync(bundle, { force: true })
})

describe.each(TARGETS)('killed mid-sweep › $kind', ({ kind, url }) => {
	const namespace = uniqueNamespace(`kill_${kind}`)
	/** Each round has its own namespace, so the consistency checks read only that round's records. */
	const ns = (round: number) => `${namespace}_${round + 1}`
	const stores = new Map<number, KeyStore & { close(): Promise<void> }>()
	const storeFor = (round: number) => {
		let store = stores.get(round)
		if (store === undefined) {
			store =
				kind === 'redis'
					? redisStore({ url: url as string, namespace: ns(round) })
					: postgresStore({ url: url as string, namespace: ns(round), table: TABLE })
			stores.set(round, store)
		}
		return store
	}
	const state = (round: number): Promise<StoreState> =>
		kind === 'redis' ? redisState(url as string, ns(round)) : postgresState(url as string, TABLE, ns(round))
	/** Closes a round's store and deletes its records. */
	const dispose = async (round: number) => {
		await stores.get(round)?.close()
		stores.delete(round)
		if (kind === 'redis') await wipeRedisNamespace(url as string, ns(round))
		else await deletePostgresNamespace(url as string, TABLE, ns(round))
	}

	beforeAll(async () => {
		if (url) await storeFor(-1).count({ expiredBy: new Date(0) }) // connected; for PostgreSQL, the table exists
	}, 30_000)
	afterAll(async () => {
		for (const round of [...stores.keys()]) await dispose(round)
	}, 30_000)

	/** Inserts a round of records expired at `now`, plus a few that expire after every round's `now`, and answers their ids. */
	async function seedRound(round: number, now: number): Promise<{ expired: Set<string>; alive: Set<string> }> {
		const expired = Array.from({ length: PER_ROUND }, (_, i) =>
			testRecord({ ownerId: `r${round}`, expiresAt: new Date(now - 1 - i) }),
		)
		const alive = Array.from({ length: 5 }, () =>
			testRecord({ ownerId: `r${round}`, expiresAt: new Date(now + 86_400_000) }),
		)
		await Promise.all([...expired, ...alive].map((record) => storeFor(round).insert(record)))
		return { expired: new Set(expired.map((r) => r.id)), alive: new Set(alive.map((r) => r.id)) }
	}

	/** The application_name of the workers' PostgreSQL connections, so the test can see when they are gone. */
	const appName = (round: number) => `kwtest_kill_${namespace.slice(-8)}_${round + 1}`
	const workerUrl = (round: number) =>
		kind === 'postgres' ? `${url}${url?.includes('?') ? '&' : '?'}application_name=${appName(round)}` : url

	/**
	 * PostgreSQL finishes (and commits) a statement whose client was killed, unless the server notices
	 * first: the kill is over when the killed worker's backends are gone.
	 */
	async function killedBackendsGone(round: number): Promise<number> {
		if (kind !== 'postgres') return 0
		const admin = new pg.Client({ connectionString: url })
		await admin.connect()
		try {
			const started = performance.now()
			for (;;) {
				const { rows } = await admin.query<{ n: string }>(
					'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
					[appName(round)],
				)
				if (Number(rows[0]?.n) === 0) return performance.now() - started
				if (performance.now() - started > 10_000) throw new Error("the killed worker's backends are still there")
				await sleep(5)
			}
		} finally {
			await admin.end()
		}
	}

	/** Starts a worker that sweeps at `now` once told to, and waits until it is connected. */
	async function startSweeper(now: number, round: number) {
		const worker = startWorker(bundle, {
			KW_STORE: kind,
			KW_URL: workerUrl(round) as string,
			KW_NS: ns(round),
			KW_TABLE: TABLE,
			KW_MODE: 'once',
			KW_NOW: String(now),
			KW_BATCH: String(BATCH),
		})
		await worker.line((line) => line === 'ready')
		return worker
	}

	it.skipIf(!url)(
		`after each of ${KILLS} SIGKILLs mid-sweep the store is consistent and a new sweep finishes the job`,
		async () => {
			const figures: Figures = {
				title: `Killed mid-sweep (${kind === 'redis' ? 'Redis' : 'PostgreSQL'})`,
				claim:
					'A sweeping process is SIGKILLed at seeded random points; after every kill each record is in exactly one of the active and blacklist sets (Redis: indexes agree with records), and a new sweep moves exactly the rest.',
				figures: {},
			}
			try {
				const random = seededRandom(SEED)
				const T = Date.UTC(2031, 0, 1)
				const batches = PER_ROUND / BATCH
				const rounds: {
					killAfterBatch: number
					delayMs: number
					movedBeforeKill: number
					finishedByNewSweep: number
				}[] = []
				let finishedFirst = 0
				let waitedForBackendsMs = 0
				// Workers start two rounds ahead: a process takes a while to start on a loaded machine.
				const upcoming = new Map<number, Promise<Worker>>()
				const ahead = (round: number) => {
					if (!upcoming.has(round)) upcoming.set(round, startSweeper(T + 1000 * (round + 1), round))
				}
				for (let round = 0; rounds.length < KILLS; round++) {
					if (round >= KILLS * 2) {
						throw new Error(`only ${rounds.length} of ${round} sweeps were still running when killed`)
					}
					for (const r of [round, round + 1, round + 2]) ahead(r)
					const now = T + 1000 * (round + 1)
					const { expired, alive } = await seedRound(round, now)
					const worker = await (upcoming.get(round) as Promise<Worker>)
					upcoming.delete(round)
					// The kill point: after a seeded number of batches has been reported, plus a seeded delay of up to 3 ms.
					const killAfterBatch = 1 + Math.floor(random() * (batches - 5))
					const delayMs = Math.round(random() * 30) / 10
					worker.process.stdin?.write('go\n')
					await worker.line(
						(line) =>
							line.startsWith('done') ||
							(line.startsWith('progress') && Number(line.slice(9)) >= killAfterBatch * BATCH),
					)
					await sleep(delayMs)
					worker.process.kill('SIGKILL')
					const exit = await worker.exited
					// A sweep that finished before the signal is no kill: it does not count toward the 20.
					const killed = exit === 'SIGKILL' && !worker.lines.some((line) => line.startsWith('done'))
					if (!killed) expect(exit === 0 || exit === 'SIGKILL').toBe(true)
					waitedForBackendsMs = Math.max(waitedForBackendsMs, await killedBackendsGone(round))

					const after = await state(round)
					expect(after.problems).toEqual([])
					const mine = [...after.records.values()].filter((record) => record.ownerId === `r${round}`)
					expect(mine).toHaveLength(PER_ROUND + 5)
					const moved = mine.filter((record) => record.blacklistedAt !== null)
					for (const record of moved) {
						expect(expired.has(record.id)).toBe(true)
						expect(record).toMatchObject({ reason: 'expired', blacklistedAt: now })
					}
					// A new sweep finishes the job: it moves exactly the expired records still active.
					const report = await sweep(storeFor(round), { now: new Date(now), batchSize: 50 })
					expect(report.expired).toBe(PER_ROUND - moved.length)
					const done = await state(round)
					expect(done.problems).toEqual([])
					for (const record of done.records.values()) {
						if (record.ownerId !== `r${round}`) continue
						expect(record.blacklistedAt !== null).toBe(expired.has(record.id))
						if (alive.has(record.id)) expect(record.reason).toBeNull()
					}
					if (killed) {
						rounds.push({ killAfterBatch, delayMs, movedBeforeKill: moved.length, finishedByNewSweep: report.expired })
					} else finishedFirst++
					await dispose(round)
				}
				for (const worker of upcoming.values()) (await worker).process.kill('SIGKILL')
				const midSweep = rounds.filter((r) => r.movedBeforeKill > 0 && r.movedBeforeKill < PER_ROUND).length
				Object.assign(figures.figures, {
					store: kind,
					kills: rounds.length,
					sweepsThatFinishedBeforeTheSignal: finishedFirst,
					longestWaitForKilledBackendsMs: Math.round(waitedForBackendsMs),
					seed: SEED,
					recordsPerRound: PER_ROUND,
					batchSize: BATCH,
					killAfterBatch: rounds.map((r) => r.killAfterBatch),
					killsMidSweep: midSweep,
					killsBeforeFirstMove: rounds.filter((r) => r.movedBeforeKill === 0).length,
					killsAfterLastMove: rounds.filter((r) => r.movedBeforeKill === PER_ROUND).length,
					movedBeforeKill: rounds.map((r) => r.movedBeforeKill),
					consistencyProblems: 0,
				})
				expect(rounds).toHaveLength(KILLS)
				// The delays spread over the sweep's duration: most kills land between two batches' moves.
				expect(midSweep).toBeGreaterThanOrEqual(KILLS / 2)
				figures.result = 'passed'
			} finally {
				writeFigures(`killed-sweep-${kind}`, figures)
			}
		},
		180_000,
	)
})

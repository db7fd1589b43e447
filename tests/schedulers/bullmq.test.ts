/**
 * The BullMQ recipe (examples/schedulers/bullmq.ts) on real Redis: three app instances in three OS
 * processes share one schedule and sweep each tick exactly once; a slow sweep on PostgreSQL never
 * runs next to another across three workers; every instance closes cleanly.
 */
import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { createKeyward, isKeywardError, type KeyRecord, memoryStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'
import { testRecord } from 'keyward/testing'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { SCHEDULER_ID, type SweepRun, type SweepWorker, startSweepWorker } from '../../examples/schedulers/bullmq.js'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'
import { KEY_SHAPED, RecipeProcess, sleep, slowMoves, waitFor, wipeRedisPrefix } from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')

interface SweepEvent {
	event: 'sweep'
	jobId: string
	tick: string
	worker: string
	startedAt: string
	finishedAt: string
	expired: number
	purged: number
	aborted: boolean
	now: string
}

/** Removes a test's queue (jobs, scheduler, global concurrency) and checks nothing of it is left. */
async function obliterate(url: string, prefix: string, queueName: string): Promise<void> {
	const queue = new Queue(queueName, { connection: { url }, prefix })
	try {
		await queue.obliterate({ force: true })
	} finally {
		await queue.close()
	}
	await wipeRedisPrefix(url, `${prefix}:`)
}

/** The intervals [startedAt, finishedAt] of the runs, in order: none may overlap the next. */
function overlaps(runs: { startedAt: number; finishedAt: number }[]): number {
	const sorted = [...runs].sort((a, b) => a.startedAt - b.startedAt)
	let count = 0
	for (let i = 1; i < sorted.length; i++) {
		if ((sorted[i]?.startedAt ?? 0) < (sorted[i - 1]?.finishedAt ?? 0)) count++
	}
	return count
}

describe.skipIf(!redisUrl)('BullMQ recipe › three instances in three processes, one schedule', () => {
	const url = redisUrl as string
	const namespace = uniqueNamespace('bullmq')
	const prefix = uniqueNamespace('bull')
	const queueName = `sweep-${randomUUID().slice(0, 8)}`
	const store = redisStore({ url, namespace })
	const instances: RecipeProcess[] = []

	afterAll(async () => {
		for (const instance of instances) instance.kill()
		await obliterate(url, prefix, queueName)
		await wipeRedisPrefix(url, `${namespace}:`)
		await store.close()
	}, 60_000)

	it('sweeps every tick exactly once, sweeps keys that expire between ticks, and every instance exits on SIGTERM', async () => {
		const keyward = createKeyward({ store, prefix: 'sk' })
		const before = await Promise.all(
			[1, 2, 3, 4, 5].map(() => store.insert(testRecord({ expiresAt: new Date(Date.now() - 60_000) }))),
		)
		expect(before).toHaveLength(5)

		const events = () =>
			instances.flatMap((instance) =>
				instance.lines
					.filter((line) => line.startsWith('{"event":"sweep"'))
					.map((line) => JSON.parse(line) as SweepEvent),
			)
		const start = (name: string) => {
			const instance = new RecipeProcess('examples/schedulers/bullmq.ts', {
				REDIS_URL: url,
				DATABASE_URL: '',
				KEYWARD_NAMESPACE: namespace,
				BULLMQ_PREFIX: prefix,
				SWEEP_QUEUE: queueName,
				SWEEP_EVERY_MS: '1000',
				WORKER_NAME: name,
				LOG_FORMAT: 'json',
			})
			instances.push(instance)
			return instance.line(/"event":"ready"/, 60_000)
		}
		await Promise.all([start('w1'), start('w2')])
		// The third instance joins a running schedule (a rolling deploy): its upsert must not add ticks.
		await waitFor('the first sweep', () => (events().length > 0 ? true : undefined), 30_000)
		await start('w3')

		// Keys that expire while the schedule runs, between ticks, and one that must stay.
		const soon = await Promise.all([1, 2, 3, 4].map(() => keyward.issue({ ownerId: 'soon', expiresIn: '1500ms' })))
		const later = await Promise.all([1, 2, 3].map(() => keyward.issue({ ownerId: 'later', expiresIn: '3200ms' })))
		const lasting = await keyward.issue({ ownerId: 'lasting', expiresIn: '1h' })
		const expiring = [...soon, ...later].map(({ record }) => record)

		await waitFor(
			'the sweeps of all 12 expired keys and 6 ticks',
			() => {
				const all = events()
				return all.reduce((sum, event) => sum + event.expired, 0) === 12 && all.length >= 6 ? true : undefined
			},
			30_000,
		)
		await sleep(1_500)
		const stopAt = Date.now()
		expect(await Promise.all(instances.map((instance) => instance.terminate()))).toEqual([0, 0, 0])
		for (const instance of instances) {
			expect(instance.lines).toContain(JSON.stringify({ event: 'closed', worker: workerOf(instance) }))
			expect(instance.lines.filter((line) => KEY_SHAPED.test(line))).toEqual([])
		}

		const runs = events()
		const ticks = runs.map((run) => Date.parse(run.tick)).sort((a, b) => a - b)
		// One job per tick, named after the tick, processed once: no id and no tick twice.
		for (const run of runs) expect(run.jobId).toBe(`repeat:${SCHEDULER_ID}:${Date.parse(run.tick)}`)
		expect(new Set(runs.map((run) => run.jobId)).size).toBe(runs.length)
		expect(new Set(ticks).size).toBe(runs.length)
		// Ticks are whole seconds apart: 1 s, or 2 s where BullMQ skipped a tick whose job a loaded machine
		// picked up more than a second late (it never queues them up). The runs add up to the ticks that went
		// by, less the skipped ones and the one under way at the end.
		const first = ticks[0] as number
		const last = ticks.at(-1) as number
		const gaps = ticks.slice(1).map((tick, i) => tick - (ticks[i] as number))
		for (const gap of gaps) expect(gap % 1000 === 0 && gap >= 1000).toBe(true)
		const skipped = gaps.reduce((sum, gap) => sum + gap / 1000 - 1, 0)
		expect(skipped).toBeLessThanOrEqual(1)
		expect(runs.length).toBe((last - first) / 1000 + 1 - skipped)
		const elapsed = Math.floor((stopAt - first) / 1000) + 1
		expect(runs.length).toBeGreaterThanOrEqual(elapsed - 2 - skipped)
		expect(runs.length).toBeLessThanOrEqual(elapsed)
		// Never two sweeps at once, across the three processes.
		expect(
			overlaps(runs.map((run) => ({ startedAt: Date.parse(run.startedAt), finishedAt: Date.parse(run.finishedAt) }))),
		).toBe(0)

		// Each expired key moved once, by a sweep whose instant is at or after its expiry; the lasting key stays active.
		expect(runs.reduce((sum, run) => sum + run.expired, 0)).toBe(12)
		const sweepInstants = new Set(runs.map((run) => Date.parse(run.now)))
		for (const record of expiring) {
			const swept = (await keyward.get(record.id)) as KeyRecord
			expect(swept).toMatchObject({ reason: 'expired' })
			expect(sweepInstants.has(swept.blacklistedAt?.getTime() ?? 0)).toBe(true)
			expect(swept.blacklistedAt?.getTime()).toBeGreaterThanOrEqual(record.expiresAt?.getTime() ?? Number.NaN)
		}
		expect((await keyward.get(lasting.record.id))?.blacklistedAt).toBeNull()
		console.log(
			`bullmq: ${runs.length + skipped} ticks (${skipped} skipped), ${runs.length} sweeps, by worker ${JSON.stringify(
				Object.fromEntries(['w1', 'w2', 'w3'].map((name) => [name, runs.filter((run) => run.worker === name).length])),
			)}`,
		)
	}, 120_000)

	function workerOf(instance: RecipeProcess): string {
		const ready = instance.lines.find((line) => line.includes('"event":"ready"')) ?? '{}'
		return (JSON.parse(ready) as { worker: string }).worker
	}
})

describe.skipIf(!redisUrl || !databaseUrl)('BullMQ recipe › a slow sweep on PostgreSQL, three workers', () => {
	const url = redisUrl as string
	const prefix = uniqueNamespace('bull')
	const queueName = `sweep-${randomUUID().slice(0, 8)}`
	const schema = uniqueNamespace('sched')
	const store = postgresStore({ url: databaseUrl as string, schema, namespace: 'bullmq' })

	afterAll(async () => {
		await obliterate(url, prefix, queueName)
		await store.close()
		const admin = new pg.Client({ connectionString: databaseUrl })
		await admin.connect()
		try {
			await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
		} finally {
			await admin.end()
		}
	}, 60_000)

	it('never runs two sweeps at once when a sweep outlasts the interval, and close() waits for the running one', async () => {
		for (let i = 0; i < 3; i++) await store.insert(testRecord({ expiresAt: new Date(Date.now() - 60_000) }))
		const { store: slow, probe } = slowMoves(store, 1_800)
		const runs: SweepRun[] = []
		const workers: SweepWorker[] = []
		for (const name of ['a', 'b', 'c']) {
			workers.push(
				await startSweepWorker(slow, {
					connection: { url },
					prefix,
					queueName,
					every: 1000,
					workerName: name,
					log: () => {},
					onSweep: (run) => runs.push(run),
				}),
			)
		}
		await waitFor('three slow sweeps', () => (runs.length >= 3 ? true : undefined), 30_000)
		await Promise.all(workers.map((worker) => worker.close()))
		expect(probe.active).toBe(0) // close() waited for the sweep in progress

		expect(probe.maxActive).toBe(1)
		expect(overlaps(runs.map((run) => ({ startedAt: +run.startedAt, finishedAt: +run.finishedAt })))).toBe(0)
		expect(new Set(runs.map((run) => run.jobId)).size).toBe(runs.length)
		expect(new Set(runs.map((run) => +run.tick)).size).toBe(runs.length)
		expect(runs.reduce((sum, run) => sum + run.report.expired, 0)).toBe(3)
		expect(await store.count({ expiredBy: new Date() })).toBe(0)
	}, 60_000)
})

describe.skipIf(!redisUrl)('BullMQ recipe › shutdown', () => {
	const url = redisUrl as string
	const prefix = uniqueNamespace('bull')
	const queueName = `sweep-${randomUUID().slice(0, 8)}`

	afterAll(async () => {
		await obliterate(url, prefix, queueName)
	}, 60_000)

	it("close() stops a running sweep between batches through the job's abort signal", async () => {
		const { store, probe } = slowMoves(memoryStore(), 400)
		for (let i = 0; i < 10; i++) await store.insert(testRecord({ expiresAt: new Date(Date.now() - 60_000) }))
		const runs: SweepRun[] = []
		const sweeper = await startSweepWorker(store, {
			connection: { url },
			prefix,
			queueName,
			every: 60_000,
			batchSize: 1,
			log: () => {},
			onSweep: (run) => runs.push(run),
		})
		await waitFor('the first batch', () => (probe.calls > 0 ? true : undefined), 30_000)
		await sweeper.close()
		expect(probe.active).toBe(0)
		expect(runs).toHaveLength(1)
		expect(runs[0]?.report.aborted).toBe(true)
		const moved = runs[0]?.report.expired ?? 0
		expect(moved).toBeGreaterThanOrEqual(1)
		expect(moved).toBeLessThan(10)
		expect(await store.count({ expiredBy: new Date() })).toBe(10 - moved) // nothing half-moved
	}, 60_000)
})

describe('BullMQ recipe › options', () => {
	it('refuses bad options before connecting', async () => {
		const store = memoryStore()
		const connection = { url: 'redis://127.0.0.1:1' }
		const typo = await startSweepWorker(store, { connection, retension: '30d' } as never).catch(
			(error: unknown) => error,
		)
		expect(isKeywardError(typo, 'invalid_option')).toBe(true)
		expect((typo as Error).message).toContain('"retension" is not an option of startSweepWorker()')
		const both = await startSweepWorker(store, { connection, every: 1000, pattern: '* * * * *' }).catch(
			(error: unknown) => error,
		)
		expect(isKeywardError(both, 'invalid_option')).toBe(true)
		const zero = await startSweepWorker(store, { connection, every: 0 }).catch((error: unknown) => error)
		expect(isKeywardError(zero, 'invalid_option')).toBe(true)
	})
})

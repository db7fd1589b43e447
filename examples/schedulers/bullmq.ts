/**
 * Recipe: one sweep schedule shared by many app instances, with a BullMQ job scheduler on Redis.
 *
 *   const sweeper = await startSweepWorker(store, { connection: { url: process.env.REDIS_URL }, pattern: '*\/5 * * * *' })
 *   process.on('SIGTERM', () => sweeper.close())
 *
 * Every instance calls it at startup. They all upsert the same job scheduler (`keyward-sweep`), which
 * is idempotent, so there is one schedule however many instances run. BullMQ adds one job per tick,
 * with a job id made of the scheduler id and the tick's instant, and a job is processed by one worker
 * only (it holds the job's lock). The queue's global concurrency is 1, so even a sweep slower than the
 * interval never runs next to the following tick's: the late tick waits, or BullMQ skips ticks that
 * went by meanwhile.
 *
 * Run it (Redis required; the store is PostgreSQL when DATABASE_URL is set, else Redis):
 *   REDIS_URL=redis://127.0.0.1:6379 SWEEP_EVERY_MS=2000 npx tsx examples/schedulers/bullmq.ts
 * in two or three terminals: each tick is swept by one of them. Environment: KEYWARD_NAMESPACE,
 * SWEEP_QUEUE (keyward-sweep), BULLMQ_PREFIX (bull), SWEEP_EVERY_MS or SWEEP_PATTERN, SWEEP_RETENTION,
 * WORKER_NAME, LOG_FORMAT=json for one JSON object per line.
 */
import { hostname } from 'node:os'
import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq'
import { type Duration, type KeyStore, KeywardError, parseDuration, type SweepReport, sweep } from 'keyward'
import { sweepLine } from './croner.js'
import { checkBatchSize, checkOptions, errorMessage, isMain, stopOnSignals, storeFromEnv } from './support.js'

/** The id of the one job scheduler every instance upserts. */
export const SCHEDULER_ID = 'keyward-sweep'

/** Options of {@link startSweepWorker}. */
export interface SweepWorkerOptions {
	/** How BullMQ reaches Redis, such as `{ url: process.env.REDIS_URL }` (every instance: the same Redis). */
	readonly connection: ConnectionOptions
	/**
	 * BullMQ's key prefix in Redis.
	 * @defaultValue `'bull'`
	 */
	readonly prefix?: string
	/**
	 * The queue's name; every instance of the app uses the same one.
	 * @defaultValue `'keyward-sweep'`
	 */
	readonly queueName?: string
	/** Sweep every this many milliseconds (instead of `pattern`). */
	readonly every?: number
	/**
	 * When to sweep, as a cron pattern (5 or 6 fields), if `every` is not given.
	 * @defaultValue `'*\/5 * * * *'` (every 5 minutes)
	 */
	readonly pattern?: string
	/** Purge blacklisted keys older than this. @defaultValue keep forever */
	readonly retention?: Duration
	/** Records per store call; a shutdown takes effect between batches. @defaultValue `500` */
	readonly batchSize?: number
	/** This instance's name in log lines. @defaultValue `<hostname>:<pid>` */
	readonly workerName?: string
	/** Where the one line per sweep (and failures) go. @defaultValue `console.log` */
	readonly log?: (line: string) => void
	/** Called after each sweep this instance ran (metrics, structured logs, tests). */
	readonly onSweep?: (run: SweepRun) => void
}

/** One sweep, run by one instance for one tick. */
export interface SweepRun {
	/** BullMQ's job id: `repeat:keyward-sweep:<tick in ms>`, the same on every instance for one tick. */
	readonly jobId: string
	/** The tick this sweep is for. */
	readonly tick: Date
	/** The instance that ran it. */
	readonly worker: string
	/** When the sweep started and finished on this instance. */
	readonly startedAt: Date
	readonly finishedAt: Date
	/** What the sweep did. */
	readonly report: SweepReport
}

/** An instance's share of the schedule: its queue handle and its worker. */
export interface SweepWorker {
	/** The queue (for `getJobScheduler()`, `getJobCounts()`). */
	readonly queue: Queue
	/** This instance's worker. */
	readonly worker: Worker
	/**
	 * Stops this instance: a sweep it is running stops between batches (the next tick finishes the job),
	 * then the worker and queue connections close. The schedule stays for the other instances; see
	 * {@link removeSweepSchedule} to end it. Safe to call twice.
	 */
	close(): Promise<void>
}

const KNOWN = [
	'connection',
	'prefix',
	'queueName',
	'every',
	'pattern',
	'retention',
	'batchSize',
	'workerName',
	'log',
	'onSweep',
] as const

/**
 * Joins the shared sweep schedule: upserts the one job scheduler (idempotent across instances),
 * sets the queue's global concurrency to 1, and starts this instance's worker, which runs `sweep()`
 * on `store` for each tick it takes. Call it once per app instance.
 *
 * @param store - the store to sweep (`redisStore`, `postgresStore`: one every instance shares)
 * @param options - see {@link SweepWorkerOptions}
 * @returns a {@link SweepWorker}; call `close()` when the instance shuts down
 * @throws KeywardError `invalid_option` for an unknown option, a bad `retention` or `batchSize`, or
 *   both `every` and `pattern`; BullMQ's error when Redis cannot be reached
 * @example
 * ```ts
 * import { redisStore } from 'keyward/redis'
 *
 * const store = redisStore({ url: process.env.REDIS_URL as string })
 * const sweeper = await startSweepWorker(store, {
 *   connection: { url: process.env.REDIS_URL },
 *   pattern: '*\/5 * * * *',
 *   retention: '90d',
 * })
 * process.once('SIGTERM', () => sweeper.close())
 * ```
 */
export async function startSweepWorker(store: KeyStore, options: SweepWorkerOptions): Promise<SweepWorker> {
	checkOptions(options, KNOWN, 'startSweepWorker()')
	const {
		connection,
		prefix = 'bull',
		queueName = 'keyward-sweep',
		every,
		retention,
		workerName = `${hostname()}:${process.pid}`,
		log = console.log,
		onSweep,
	} = options
	if (retention !== undefined) parseDuration(retention, 'retention')
	const batchSize = checkBatchSize(options.batchSize)
	if (every !== undefined && options.pattern !== undefined) {
		throw new KeywardError('invalid_option', 'give startSweepWorker() either every or pattern, not both')
	}
	if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) {
		throw new KeywardError('invalid_option', `every must be a whole, positive number of milliseconds (got ${every})`)
	}
	const repeat = every !== undefined ? { every } : { pattern: options.pattern ?? '*/5 * * * *' }

	const queue = new Queue(queueName, { connection, prefix })
	queue.on('error', (error) => log(`keyward sweep queue error: ${errorMessage(error)}`))
	try {
		// One sweep at a time across all instances, even when one runs longer than the interval.
		await queue.setGlobalConcurrency(1)
		await queue.upsertJobScheduler(SCHEDULER_ID, repeat, {
			name: 'sweep',
			// A failed sweep is not retried: the next tick sweeps again. Keep a short history to inspect.
			opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
		})
	} catch (error) {
		await queue.close()
		throw error
	}

	const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<SweepReport> => {
		const startedAt = new Date()
		const report = await sweep(store, { retention, batchSize, signal })
		const run: SweepRun = {
			jobId: job.id ?? '',
			tick: tickOf(job),
			worker: workerName,
			startedAt,
			finishedAt: new Date(),
			report,
		}
		log(`${sweepLine(report)} [tick ${run.tick.toISOString()}, ${workerName}]`)
		onSweep?.(run)
		return report
	}
	const worker = new Worker(queueName, processor, { connection, prefix, concurrency: 1, name: workerName })
	worker.on('failed', (job, error) =>
		log(`keyward sweep failed [tick ${job ? tickOf(job).toISOString() : '?'}, ${workerName}]: ${errorMessage(error)}`),
	)
	worker.on('error', (error) => log(`keyward sweep worker error: ${errorMessage(error)}`))
	await worker.waitUntilReady()

	let closing: Promise<void> | undefined
	return {
		queue,
		worker,
		close() {
			closing ??= (async () => {
				worker.cancelAllJobs('the instance is shutting down') // aborts the sweep's signal: it stops between batches
				await worker.close()
				await queue.close()
			})()
			return closing
		},
	}
}

/**
 * Ends the shared schedule (when the app is decommissioned, or to change from `every` to `pattern`
 * cleanly). Running instances keep their workers but get no more ticks.
 *
 * @param queue - the sweep queue, such as `sweeper.queue`
 * @returns `true` if there was a schedule to remove
 * @example
 * ```ts
 * await removeSweepSchedule(sweeper.queue)
 * ```
 */
export function removeSweepSchedule(queue: Queue): Promise<boolean> {
	return queue.removeJobScheduler(SCHEDULER_ID)
}

/** The tick a scheduler job stands for: the instant in its id (`repeat:<scheduler>:<ms>`). */
function tickOf(job: Job): Date {
	const ms = Number(job.id?.slice(job.id.lastIndexOf(':') + 1))
	return new Date(Number.isSafeInteger(ms) ? ms : job.timestamp)
}

if (isMain(import.meta.url)) {
	const env = process.env
	if (!env.REDIS_URL) {
		console.error('Set REDIS_URL: BullMQ keeps the shared schedule in Redis (e.g. REDIS_URL=redis://127.0.0.1:6379)')
		process.exit(2)
	}
	const { store, label, close: closeStore } = storeFromEnv()
	const json = env.LOG_FORMAT === 'json'
	const workerName = env.WORKER_NAME || `${hostname()}:${process.pid}`
	const sweeper = await startSweepWorker(store, {
		connection: { url: env.REDIS_URL },
		prefix: env.BULLMQ_PREFIX || undefined,
		queueName: env.SWEEP_QUEUE || undefined,
		...(env.SWEEP_EVERY_MS ? { every: Number(env.SWEEP_EVERY_MS) } : { pattern: env.SWEEP_PATTERN || '*/5 * * * *' }),
		retention: (env.SWEEP_RETENTION || undefined) as Duration | undefined,
		workerName,
		log: json ? () => {} : console.log,
		onSweep: json
			? ({ report, ...run }) => console.log(JSON.stringify({ event: 'sweep', ...run, ...report }))
			: undefined,
	})
	const scheduler = await sweeper.queue.getJobScheduler(SCHEDULER_ID)
	const ready = `${workerName} joined the sweep schedule on queue ${sweeper.queue.name} (${scheduler?.every ? `every ${scheduler.every} ms` : scheduler?.pattern}), sweeping ${label}`
	console.log(json ? JSON.stringify({ event: 'ready', worker: workerName }) : ready)
	stopOnSignals(async () => {
		await sweeper.close()
		await closeStore()
		if (json) console.log(JSON.stringify({ event: 'closed', worker: workerName }))
	})
}

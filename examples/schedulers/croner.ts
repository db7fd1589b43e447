/**
 * Recipe: sweep expired keys from inside the app process, on a cron pattern, with croner.
 *
 *   const sweeps = scheduleSweeps(keyward, { pattern: '*\/5 * * * *', retention: '90d' })
 *   process.on('SIGTERM', () => sweeps.stop())   // stops between batches, waits for the running sweep
 *
 * One process, one schedule: `protect` skips a tick while the previous sweep is still going, so two
 * sweeps of this process never run at once. Several app instances each running this recipe sweep
 * several times per tick: on the Redis and PostgreSQL stores that is harmless (each key is moved
 * exactly once, whoever gets there first), only wasted work; a keyvStore has no atomic move across
 * processes, so run it in one instance there. To sweep once per tick, use the BullMQ recipe
 * (bullmq.ts) or one cron line.
 *
 * Run it: `npx tsx examples/schedulers/croner.ts` (memory store; REDIS_URL or DATABASE_URL pick a
 * server store, KEYWARD_NAMESPACE its namespace; SWEEP_PATTERN the schedule, default every 5 seconds
 * for the demo). It issues two keys that expire in 3 s, sweeps them, and stops on Ctrl-C.
 */
import { Cron } from 'croner'
import { createKeyward, type Duration, type Keyward, parseDuration, type SweepReport } from 'keyward'
import { checkBatchSize, checkOptions, errorMessage, isMain, stopOnSignals, storeFromEnv } from './support.js'

/** Options of {@link scheduleSweeps}. */
export interface ScheduleSweepsOptions {
	/**
	 * When to sweep: a cron pattern, 5 fields (minute precision) or 6 (seconds first).
	 * @defaultValue `'*\/5 * * * *'` (every 5 minutes)
	 */
	readonly pattern?: string
	/**
	 * Purge blacklisted keys older than this (see `sweep()`).
	 * @defaultValue keep forever
	 */
	readonly retention?: Duration
	/**
	 * Records per store call; a stop takes effect between batches.
	 * @defaultValue `500`
	 */
	readonly batchSize?: number
	/**
	 * The time zone the pattern is read in, such as `'Europe/Paris'`.
	 * @defaultValue the process's
	 */
	readonly timezone?: string
	/**
	 * Where the one line per run goes.
	 * @defaultValue `console.log`
	 */
	readonly log?: (line: string) => void
	/** Called with each finished sweep's report (metrics, tests). */
	readonly onReport?: (report: SweepReport) => void
}

/** A running schedule, made by {@link scheduleSweeps} or {@link scheduleTask}. */
export interface Schedule {
	/** The croner job (for `nextRun()`, `isBusy()`, `pause()`). */
	readonly job: Cron
	/**
	 * Runs the task now, outside the schedule, unless a run is in progress.
	 * @returns `true` if it ran, `false` if it was skipped because a run was in progress or the schedule is stopped
	 */
	runNow(): Promise<boolean>
	/**
	 * Stops the schedule: no more ticks, the running task (if any) is asked to stop through its
	 * `AbortSignal`, and the returned promise waits for it. Safe to call twice.
	 */
	stop(): Promise<void>
}

/** Options of {@link scheduleTask}. */
export interface ScheduleTaskOptions {
	/** The task's name, for log lines. */
	readonly name: string
	/** See {@link ScheduleSweepsOptions.timezone}. */
	readonly timezone?: string
	/** Where the "skipped" and "failed" lines go. */
	readonly log: (line: string) => void
}

/**
 * Runs `task` on a croner schedule, never twice at once in this process: a tick that comes while a run
 * is still going is skipped and logged (croner's `protect`). `stop()` aborts the signal the task was
 * given and waits for it. A task that throws is logged, never thrown into the timer.
 *
 * @param pattern - a cron pattern (5 or 6 fields)
 * @param task - the work; it should stop early when `signal` aborts
 * @param options - see {@link ScheduleTaskOptions}
 * @returns a {@link Schedule}
 * @throws TypeError from croner for a bad pattern or time zone
 * @example
 * ```ts
 * const schedule = scheduleTask('0 * * * *', (signal) => doHourlyWork(signal), { name: 'hourly', log: console.log })
 * await schedule.stop()
 * ```
 */
export function scheduleTask(
	pattern: string,
	task: (signal: AbortSignal) => Promise<void>,
	options: ScheduleTaskOptions,
): Schedule {
	const { name, log } = options
	const controller = new AbortController()
	let running: Promise<void> | undefined
	let stopping: Promise<void> | undefined

	const run = (): Promise<void> => {
		running = task(controller.signal)
			.catch((error: unknown) => log(`${name} failed: ${errorMessage(error)}`))
			.finally(() => {
				running = undefined
			})
		return running
	}

	const job = new Cron(
		pattern,
		{
			timezone: options.timezone,
			// A tick while the previous run is still going is skipped, not queued.
			protect: (self) =>
				log(`${name}: skipped a tick, the run started at ${self.currentRun()?.toISOString()} is still going`),
		},
		run,
	)

	return {
		job,
		async runNow() {
			if (running !== undefined || stopping !== undefined) return false
			await run()
			return true
		},
		stop() {
			stopping ??= (async () => {
				job.stop()
				controller.abort()
				await running
			})()
			return stopping
		},
	}
}

const KNOWN = ['pattern', 'retention', 'batchSize', 'timezone', 'log', 'onReport'] as const

/**
 * Sweeps expired keys on a cron schedule inside the app process, with overlap prevention, one log
 * line per run, and a `stop()` for shutdown that interrupts a running sweep between batches (nothing
 * is left half-moved; the next sweep finishes the job).
 *
 * @param keyward - the instance whose store to sweep
 * @param options - see {@link ScheduleSweepsOptions}
 * @returns a {@link Schedule}; call `stop()` when the app shuts down
 * @throws KeywardError `invalid_option` for an unknown option, a bad `retention` or `batchSize`;
 *   TypeError from croner for a bad pattern
 * @example
 * ```ts
 * import { createKeyward } from 'keyward'
 * import { redisStore } from 'keyward/redis'
 *
 * const keyward = createKeyward({ store: redisStore({ url: process.env.REDIS_URL as string }) })
 * const sweeps = scheduleSweeps(keyward, { pattern: '*\/5 * * * *', retention: '90d' })
 * process.once('SIGTERM', () => sweeps.stop())
 * ```
 */
export function scheduleSweeps(keyward: Keyward, options: ScheduleSweepsOptions = {}): Schedule {
	checkOptions(options, KNOWN, 'scheduleSweeps()')
	const { pattern = '*/5 * * * *', retention, timezone, log = console.log, onReport } = options
	if (retention !== undefined) parseDuration(retention, 'retention')
	const batchSize = checkBatchSize(options.batchSize)

	return scheduleTask(
		pattern,
		async (signal) => {
			const report = await keyward.sweep({ retention, batchSize, signal })
			log(sweepLine(report))
			onReport?.(report)
		},
		{ name: 'keyward sweep', timezone, log },
	)
}

/**
 * One log line for a sweep report.
 *
 * @param report - what `sweep()` answered
 * @returns such as `keyward sweep: 3 expired, 0 purged, 3 scanned in 4.2 ms`
 * @example
 * ```ts
 * console.log(sweepLine(await keyward.sweep()))
 * ```
 */
export function sweepLine(report: SweepReport): string {
	const stopped = report.aborted ? ' (stopped early: the next sweep finishes the job)' : ''
	return `keyward sweep: ${report.expired} expired, ${report.purged} purged, ${report.scanned} scanned in ${report.durationMs.toFixed(1)} ms${stopped}`
}

if (isMain(import.meta.url)) {
	const { store, label, close } = storeFromEnv()
	const keyward = createKeyward({ store, prefix: 'sk' })
	const pattern = process.env.SWEEP_PATTERN || '*/5 * * * * *'
	for (const name of ['demo key 1', 'demo key 2']) {
		const { record } = await keyward.issue({ ownerId: 'demo_user', name, expiresIn: '3s' })
		console.log(`issued ${record.hint}… (${name}), expires ${record.expiresAt?.toISOString()}`)
	}
	const sweeps = scheduleSweeps(keyward, {
		pattern,
		retention: (process.env.SWEEP_RETENTION || undefined) as Duration | undefined,
	})
	console.log(`sweeping ${label} on "${pattern}", next at ${sweeps.job.nextRun()?.toISOString()}; Ctrl-C stops`)
	stopOnSignals(async () => {
		await sweeps.stop()
		await close()
	})
}

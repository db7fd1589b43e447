import type { Command } from 'commander'
import type { Duration } from '../../src/duration.js'
import { type SweepReport, sweep } from '../../src/sweep.js'
import {
	type CliContext,
	durationArg,
	examples,
	type StoreOptions,
	storeOptions,
	wholeArg,
	withStore,
	writeJson,
} from '../context.js'
import { EXIT } from '../errors.js'

interface SweepCommandOptions extends StoreOptions {
	retention?: Duration
	batchSize?: number
	dryRun?: boolean
	quiet?: boolean
}

const SIGNAL_EXIT = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated } as const
type StopSignal = keyof typeof SIGNAL_EXIT

/**
 * Adds `keyward sweep`: moves expired keys to the blacklist and purges old blacklist entries.
 *
 * @param program - the root command
 * @param context - where the command writes and reports its exit code
 * @returns the `sweep` command
 * @example
 * ```sh
 * keyward sweep --store redis://127.0.0.1:6379 --retention 90d
 * ```
 */
export function sweepCommand(program: Command, context: CliContext): Command {
	const command = storeOptions(
		program
			.command('sweep')
			.summary('move expired keys to the blacklist and purge old entries (run it from cron)')
			.description(
				'Moves every active key whose expiry has passed to the blacklist (reason "expired"), then, with ' +
					'--retention, deletes blacklist entries older than the retention. Safe to run from several hosts at ' +
					'once; SIGINT/SIGTERM stop it between batches (exit 130/143) and the next run finishes the job. ' +
					'On a terminal it shows a progress bar and a summary; otherwise it prints one summary line.',
			),
	)
		.option(
			'--retention <duration>',
			'purge blacklist entries older than this, such as 90d (default: keep forever)',
			durationArg('retention'),
		)
		.option('--batch-size <n>', 'records per store call, 1–10000 (default: 500)', wholeArg(1, 10_000))
		.option('--dry-run', 'change nothing; report what a sweep would move and purge')
		.option('-q, --quiet', 'print nothing on success (errors still go to stderr)')
		.action((options: SweepCommandOptions) => runSweep(context, options))
	return examples(command, [
		'keyward sweep --store redis://127.0.0.1:6379 --retention 90d',
		'KEYWARD_STORE=postgres://app@db/app keyward sweep --namespace billing --json',
		'keyward sweep --store sqlite://./keys.db --dry-run',
	])
}

async function runSweep(context: CliContext, options: SweepCommandOptions): Promise<void> {
	const controller = new AbortController()
	let stoppedBy: StopSignal | undefined
	const onSignal = (signal: StopSignal) => {
		if (stoppedBy !== undefined) {
			// A second signal: stop now. Every move is atomic, so nothing is left half-moved.
			process.exit(SIGNAL_EXIT[signal])
		}
		stoppedBy = signal
		controller.abort()
		// Only a person at a terminal needs telling now; a log gets the one summary line, which says it.
		if (!options.quiet && !options.json && context.stderr.isTTY === true) {
			context.stderr.write(`\nkeyward sweep: ${signal}, stopping after the current batch\n`)
		}
	}
	const onInt = () => onSignal('SIGINT')
	const onTerm = () => onSignal('SIGTERM')
	process.on('SIGINT', onInt)
	process.on('SIGTERM', onTerm)
	try {
		await withStore(context, options, async ({ store, target }) => {
			const now = new Date()
			const base = {
				now,
				...(options.retention !== undefined && { retention: options.retention }),
				...(options.batchSize !== undefined && { batchSize: options.batchSize }),
			}
			const bar = !options.json && !options.quiet && !options.dryRun && context.stderr.isTTY === true
			let onProgress: ((report: SweepReport) => void) | undefined
			let progress: ProgressBar | undefined
			if (bar) {
				// The total comes from a dry run at the same instant: what this sweep will find, unless another sweeps too.
				const planned = await sweep(store, { ...base, dryRun: true, signal: controller.signal })
				progress = new ProgressBar(context, planned.expired + planned.purged)
				onProgress = (report) => progress?.update(report)
			}
			const report = await sweep(store, {
				...base,
				dryRun: options.dryRun === true,
				signal: controller.signal,
				...(onProgress !== undefined && { onProgress }),
			})
			progress?.finish(report)
			const where = `${target.redacted}${options.namespace === undefined ? '' : ` (namespace ${options.namespace})`}`
			if (options.json) writeJson(context.stdout, { ...report, now: report.now.toISOString() })
			else if (!options.quiet) {
				context.stdout.write(
					context.stdout.isTTY === true ? summary(report, where, options) : logLine(report, where, stoppedBy),
				)
			}
		})
	} finally {
		process.off('SIGINT', onInt)
		process.off('SIGTERM', onTerm)
	}
	if (stoppedBy !== undefined) context.exitCode = SIGNAL_EXIT[stoppedBy]
}

/** One line for a log file: `keyward sweep: expired=12 purged=3 …`. */
function logLine(report: SweepReport, where: string, signal: StopSignal | undefined): string {
	const fields = [
		`expired=${report.expired}`,
		`purged=${report.purged}`,
		`scanned=${report.scanned}`,
		`duration_ms=${Math.round(report.durationMs)}`,
		`dry_run=${report.dryRun}`,
		`aborted=${report.aborted}`,
		`now=${report.now.toISOString()}`,
		`store=${where.replaceAll(' ', '_')}`,
		...(signal === undefined ? [] : [`signal=${signal}`]),
	]
	return `keyward sweep: ${report.aborted ? 'interrupted' : 'done'} ${fields.join(' ')}\n`
}

/** A few lines for a person at a terminal. */
function summary(report: SweepReport, where: string, options: SweepCommandOptions): string {
	const seconds = (report.durationMs / 1000).toFixed(2)
	const would = report.dryRun ? 'would be ' : ''
	const head = report.aborted
		? `Sweep of ${where} interrupted after ${seconds} s; run it again to finish.`
		: `${report.dryRun ? 'Dry run on' : 'Swept'} ${where} in ${seconds} s.`
	const purge =
		options.retention === undefined
			? 'purged   0 (no --retention: blacklist entries are kept)'
			: `purged   ${report.purged} ${would}deleted, blacklisted more than ${options.retention} ago`
	return `${head}\n  expired  ${report.expired} ${would}moved to the blacklist\n  ${purge}\n  scanned  ${report.scanned}\n`
}

/** A one-line progress bar on stderr, redrawn in place. */
class ProgressBar {
	private last = ''
	constructor(
		private readonly context: CliContext,
		private readonly total: number,
	) {
		this.draw(0, 0, 0)
	}

	update(report: SweepReport): void {
		this.draw(report.expired + report.purged, report.expired, report.purged)
	}

	finish(report: SweepReport): void {
		this.update(report)
		this.context.stderr.write('\n')
	}

	private draw(done: number, expired: number, purged: number): void {
		const total = Math.max(this.total, done)
		const ratio = total === 0 ? 1 : done / total
		const width = Math.max(10, Math.min(40, (this.context.stderr.columns ?? 80) - 50))
		const filled = Math.round(ratio * width)
		const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${done}/${total} (expired ${expired}, purged ${purged})`
		if (line === this.last) return
		this.last = line
		this.context.stderr.write(`\r\x1b[2K${line}`)
	}
}

import { type Duration, parseDuration, typeOf } from './duration.js'
import { invalidOption } from './errors.js'
import { MAX_INSTANT } from './issue.js'
import { checkKnown, instant, systemClock, wholeNumber } from './options.js'
import { callStore, checkStore, type KeyStore } from './store.js'

/** Options of {@link sweep}. */
export interface SweepOptions {
	/**
	 * The sweep's instant: records with `expiresAt <= now` are moved, and each gets `blacklistedAt = now`.
	 * @defaultValue the current time (the instance's clock, when called as `keyward.sweep()`)
	 */
	readonly now?: Date
	/**
	 * Records moved or purged per store call, 1–10000. Smaller batches stop sooner on abort.
	 * @defaultValue `500`
	 */
	readonly batchSize?: number
	/**
	 * How long blacklisted records (expired and revoked alike) stay recognisable; older ones are
	 * purged and their keys answer `unknown_key` afterwards.
	 * @defaultValue keep forever (nothing is purged)
	 */
	readonly retention?: Duration
	/**
	 * Move and purge nothing; report in `expired` and `purged` how many records a real sweep would.
	 * @defaultValue `false`
	 */
	readonly dryRun?: boolean
	/** Stops the sweep between batches; it then resolves with the partial report and `aborted: true`. */
	readonly signal?: AbortSignal
	/** Called after every batch with the report so far. */
	readonly onProgress?: (report: SweepReport) => void
}

/** What a sweep did. */
export interface SweepReport {
	/** Active records moved to the blacklist as expired (with `dryRun`: that would be moved). */
	expired: number
	/** Blacklisted records purged for being older than the retention (with `dryRun`: that would be purged). */
	purged: number
	/** Records the store examined. Equals `expired + purged` on stores with an expiry index. */
	scanned: number
	/** Wall time of the sweep in milliseconds. */
	durationMs: number
	/** `true` when `signal` stopped the sweep before it finished. */
	aborted: boolean
	/** `true` for a dry run. */
	dryRun: boolean
	/** The sweep's instant. */
	now: Date
}

const KNOWN = {
	now: true,
	batchSize: true,
	retention: true,
	dryRun: true,
	signal: true,
	onProgress: true,
} satisfies Record<keyof SweepOptions, true>

/**
 * Moves every active record with `expiresAt <= now` to the blacklist (reason `expired`), then purges
 * blacklisted records older than `retention`. Call it from the host's scheduler; nothing in keyward
 * calls it for you, and `verify()` never depends on it having run.
 *
 * It works in batches, is safe to run from several callers at once (each record is moved exactly
 * once, and the reports add up), and running it again finishes an interrupted sweep.
 *
 * @param store - the store to sweep
 * @param options - see {@link SweepOptions}
 * @returns a {@link SweepReport}
 * @throws KeywardError `invalid_option` for a bad option, `invalid_store` for a bad store,
 *   `store_unavailable` when the store fails (batches done before the failure stay done)
 * @example
 * ```ts
 * import { sweep } from 'keyward'
 * const report = await sweep(store, { retention: '90d' })
 * console.log(`${report.expired} expired, ${report.purged} purged`)
 * ```
 */
export async function sweep(store: KeyStore, options: SweepOptions = {}): Promise<SweepReport> {
	return runSweep(checkStore(store), options, systemClock)
}

/** @internal */
export async function runSweep(store: KeyStore, options: SweepOptions, clock: () => Date): Promise<SweepReport> {
	checkKnown(options, KNOWN, 'sweep()')
	const now = instant(options.now, 'now', clock)
	const batchSize = wholeNumber(options.batchSize ?? 500, 'batchSize', 1, 10_000)
	const retainedSince =
		options.retention === undefined ? null : now.getTime() - parseDuration(options.retention, 'retention')
	// A retention reaching before the earliest instant a Date can hold keeps everything: nothing to purge.
	const purgeBefore = retainedSince === null || retainedSince < -MAX_INSTANT ? null : new Date(retainedSince)
	const { signal, onProgress } = options
	if (signal !== undefined && !(signal instanceof AbortSignal)) {
		throw invalidOption(`signal must be an AbortSignal (got ${typeOf(signal)})`)
	}
	if (onProgress !== undefined && typeof onProgress !== 'function') {
		throw invalidOption(`onProgress must be a function (got ${typeOf(onProgress)})`)
	}

	const started = performance.now()
	const report: SweepReport = {
		expired: 0,
		purged: 0,
		scanned: 0,
		durationMs: 0,
		aborted: false,
		dryRun: options.dryRun === true,
		now,
	}
	const progress = () => {
		report.durationMs = performance.now() - started
		onProgress?.({ ...report })
	}

	if (signal?.aborted) {
		report.aborted = true
	} else if (report.dryRun) {
		report.expired = await callStore(store, 'sweep', () => store.count({ expiredBy: now }))
		if (purgeBefore !== null) {
			report.purged = await callStore(store, 'sweep', () => store.count({ blacklistedBefore: purgeBefore }))
		}
		report.scanned = report.expired + report.purged
		progress()
	} else {
		await inBatches(batchSize, signal, report, async () => {
			const { moved, scanned } = await callStore(store, 'sweep', () => store.moveExpired({ now, limit: batchSize }))
			report.expired += moved.length
			report.scanned += scanned
			progress()
			return moved.length
		})
		if (purgeBefore !== null) {
			await inBatches(batchSize, signal, report, async () => {
				const { purged, scanned } = await callStore(store, 'sweep', () =>
					store.purgeBlacklisted({ before: purgeBefore, limit: batchSize }),
				)
				report.purged += purged
				report.scanned += scanned
				progress()
				return purged
			})
		}
	}
	report.durationMs = performance.now() - started
	return report
}

/** Runs `batch` until it does less than a full batch, or the signal aborts between batches. */
async function inBatches(
	batchSize: number,
	signal: AbortSignal | undefined,
	report: SweepReport,
	batch: () => Promise<number>,
): Promise<void> {
	while (!report.aborted) {
		if (signal?.aborted) {
			report.aborted = true
			return
		}
		if ((await batch()) < batchSize) return
	}
}

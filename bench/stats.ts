/**
 * Small helpers the benchmark modules share: medians, rates, number formatting, markdown tables,
 * and a time-boxed loop that keeps a fixed number of operations in flight.
 */
import { performance } from 'node:perf_hooks'
import type { BenchTarget } from './types.js'

/**
 * The median of some numbers (the mean of the middle two for an even count).
 *
 * @param values - at least one number
 * @returns the median, or `NaN` for an empty list
 * @example
 * ```ts
 * median([3, 1, 2]) // 2
 * ```
 */
export function median(values: readonly number[]): number {
	if (values.length === 0) return Number.NaN
	const sorted = [...values].sort((a, b) => a - b)
	const middle = sorted.length >> 1
	return sorted.length % 2 === 1
		? (sorted[middle] as number)
		: ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/**
 * Formats a count or rate for a table: `12,345`, `1.23 M`, `0.42`.
 *
 * @param value - the number
 * @param digits - fraction digits for values under 100
 * @returns the number as text
 * @example
 * ```ts
 * formatNumber(1234567) // '1.23 M'
 * ```
 */
export function formatNumber(value: number, digits = 2): string {
	if (!Number.isFinite(value)) return 'n/a'
	const abs = Math.abs(value)
	if (abs >= 10_000_000) return `${(value / 1_000_000).toFixed(1)} M`
	if (abs >= 1_000_000) return `${(value / 1_000_000).toFixed(2)} M`
	if (abs >= 100) return Math.round(value).toLocaleString('en-US')
	return value.toFixed(digits)
}

/**
 * Formats a ratio as a percentage: `0.941` → `94.1%`.
 *
 * @param ratio - the ratio
 * @returns the percentage as text
 * @example
 * ```ts
 * percent(0.941) // '94.1%'
 * ```
 */
export function percent(ratio: number): string {
	return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)}%` : 'n/a'
}

/**
 * A markdown table, its columns padded to line up in the raw text. `|` in a cell is escaped.
 *
 * @param header - the column titles
 * @param rows - the rows, one cell per column
 * @returns the table, one line per row, ending with a newline
 * @example
 * ```ts
 * table(['store', 'ops/s'], [['memory', '1,000']])
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
	const escaped = [header, ...rows].map((cells) => cells.map((cell) => cell.replaceAll('|', '\\|')))
	const widths = header.map((_, i) => Math.max(3, ...escaped.map((cells) => (cells[i] ?? '').length)))
	const line = (cells: readonly string[]) =>
		`| ${widths.map((width, i) => (cells[i] ?? '').padEnd(width)).join(' | ')} |`
	const [head, ...body] = escaped as [string[], ...string[][]]
	return `${[line(head), `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`, ...body.map(line)].join('\n')}\n`
}

/**
 * A target row, with `met` decided by the caller.
 *
 * @param name - what is measured
 * @param target - the target as stated
 * @param measured - what was measured, as text
 * @param met - whether the target was met
 * @returns a {@link BenchTarget}
 * @example
 * ```ts
 * target('Express: keyward (memory) / no auth', '>= 90%', '94.1%', true)
 * ```
 */
export function target(name: string, target: string, measured: string, met: boolean): BenchTarget {
	return { name, target, measured, met }
}

/** What {@link throughput} measured. */
export interface Throughput {
	/** Operations completed. */
	readonly ops: number
	/** Wall time, in milliseconds. */
	readonly ms: number
	/** Operations per second. */
	readonly perSecond: number
}

/**
 * Runs `operation` again and again for about `ms` milliseconds with `inFlight` calls outstanding at
 * once (1 = one after another), and answers how many completed per second. Every call is awaited;
 * a rejection rejects the whole run.
 *
 * @param operation - one call, given its sequence number
 * @param options - `ms`: how long to run; `inFlight`: concurrent calls; `limit`: stop after this many calls
 * @returns the {@link Throughput}
 * @example
 * ```ts
 * const { perSecond } = await throughput(() => keyward.verify(key), { ms: 1000, inFlight: 64 })
 * ```
 */
export async function throughput(
	operation: (index: number) => Promise<unknown>,
	options: { readonly ms: number; readonly inFlight: number; readonly limit?: number },
): Promise<Throughput> {
	const limit = options.limit ?? Number.POSITIVE_INFINITY
	const start = performance.now()
	const deadline = start + options.ms
	let next = 0
	let done = 0
	const worker = async () => {
		while (next < limit && performance.now() < deadline) {
			const index = next++
			await operation(index)
			done++
		}
	}
	await Promise.all(Array.from({ length: options.inFlight }, worker))
	const ms = performance.now() - start
	return { ops: done, ms, perSecond: (done / ms) * 1000 }
}

/**
 * Runs `operation` exactly `count` times with `inFlight` calls outstanding, and answers the rate.
 *
 * @param operation - one call, given its sequence number
 * @param count - how many calls
 * @param inFlight - concurrent calls (1 = one after another)
 * @returns the {@link Throughput}
 * @example
 * ```ts
 * const { perSecond } = await fixedCount((i) => keyward.issue({ ownerId: `u${i}` }), 1000, 64)
 * ```
 */
export function fixedCount(
	operation: (index: number) => Promise<unknown>,
	count: number,
	inFlight: number,
): Promise<Throughput> {
	return throughput(operation, { ms: Number.POSITIVE_INFINITY, inFlight, limit: count })
}

/**
 * A deterministic pseudo-random generator (mulberry32), so every run draws the same sequence.
 *
 * @param seed - any 32-bit integer
 * @returns a function answering numbers in [0, 1)
 * @example
 * ```ts
 * const random = seeded(42)
 * random() // the same first number on every run
 * ```
 */
export function seeded(seed: number): () => number {
	let state = seed >>> 0
	return () => {
		state = (state + 0x6d2b79f5) >>> 0
		let t = state
		t = Math.imul(t ^ (t >>> 15), t | 1)
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296
	}
}

/**
 * Issuing: keys issued per second on every store, one at a time and 64 in flight, and the heap the
 * memory store uses per key (measured in a child process with `--expose-gc`).
 */
import { createKeyward } from '../src/index.js'
import { ISSUE_FIELDS } from './issue-fields.js'
import { nextMessage, openStore, STORE_LABELS, type StoreKind, startChild, stopChild, uniqueName } from './servers.js'
import { fixedCount, formatNumber, median, table } from './stats.js'
import type { BenchContext, BenchModule, BenchSection } from './types.js'

/** Sizes of one run of the issuing benchmark. */
export interface IssueBenchOptions {
	readonly stores: readonly StoreKind[]
	/** Keys issued in one measured run. */
	readonly keys: number
	/** Measured runs per store and concurrency; the table gives the median. */
	readonly rounds: number
	/** Keys issued into the memory store whose heap is measured (the table scales it to 1M). */
	readonly heapKeys: number
}

/** The full run. */
export const ISSUE_FULL: IssueBenchOptions = {
	stores: ['memory', 'keyv', 'redis', 'postgres'],
	keys: 1000,
	rounds: 3,
	heapKeys: 1_000_000,
}

/** `--quick`. */
export const ISSUE_QUICK: IssueBenchOptions = {
	stores: ['memory', 'keyv', 'redis', 'postgres'],
	keys: 300,
	rounds: 3,
	heapKeys: 50_000,
}

const IN_FLIGHT = 64

/** One row of the issuing table. */
export interface IssueRow {
	readonly store: string
	readonly sequential: number
	readonly concurrent: number
}

/** What the heap child measured. */
export interface HeapMeasure {
	readonly keys: number
	readonly bytes: number
}

/**
 * Measures the memory store's heap for `keys` keys in a child process.
 *
 * @param keys - how many keys to issue
 * @returns the keys and the heap growth in bytes
 * @throws when the child fails
 * @example
 * ```ts
 * const { bytes } = await measureHeap(100_000)
 * ```
 */
export async function measureHeap(keys: number): Promise<HeapMeasure> {
	const child = startChild('heap.ts', [String(keys)], ['--expose-gc', '--max-old-space-size=4096'])
	try {
		return await nextMessage<HeapMeasure>(child, 600_000)
	} finally {
		await stopChild(child)
	}
}

/**
 * The issuing section.
 *
 * @param options - sizes: {@link ISSUE_FULL}, {@link ISSUE_QUICK} or smaller, for a smoke test
 * @returns a {@link BenchModule}
 * @example
 * ```ts
 * const section = await issueBench({ ...ISSUE_QUICK, stores: ['memory'], heapKeys: 1000 })(context)
 * ```
 */
export function issueBench(options: IssueBenchOptions): BenchModule {
	return async function issue(context: BenchContext): Promise<BenchSection> {
		const rows: IssueRow[] = []
		for (const kind of options.stores) {
			context.log(`issue: ${STORE_LABELS[kind]}`)
			const opened = await openStore(kind, { ...context, name: uniqueName('issue') })
			try {
				const keyward = createKeyward({ store: opened.store, prefix: 'sk' })
				let next = 0
				const issueOne = () => keyward.issue(ISSUE_FIELDS(next++))
				await fixedCount(issueOne, Math.min(options.keys, 200), IN_FLIGHT) // warm-up (and the table exists)
				const rate = async (inFlight: number) => {
					const runs: number[] = []
					for (let round = 0; round < options.rounds; round++) {
						runs.push((await fixedCount(issueOne, options.keys, inFlight)).perSecond)
					}
					return median(runs)
				}
				rows.push({ store: STORE_LABELS[kind], sequential: await rate(1), concurrent: await rate(IN_FLIGHT) })
			} finally {
				await opened.close()
			}
		}
		context.log(`issue: memoryStore heap for ${formatNumber(options.heapKeys)} keys`)
		const heap = await measureHeap(options.heapKeys)
		const perKey = heap.bytes / heap.keys
		const scaled = heap.keys === 1_000_000 ? 'measured' : `scaled from ${formatNumber(heap.keys)} keys`
		const markdown = [
			`Each run issues ${formatNumber(options.keys)} keys (one of 1,000 owners, a name, a 30-day expiry, one scope),`,
			`one at a time ("sequential") or ${IN_FLIGHT} in flight, into a store that grows over the runs; the`,
			`table gives the median of ${options.rounds} runs after a warm-up. Every key costs a CSPRNG draw, a`,
			'SHA-256 and one store insert (PostgreSQL: one `INSERT`; Redis: one Lua script).',
			'',
			table(
				['store', 'sequential keys/s', `${IN_FLIGHT} in flight keys/s`],
				rows.map((row) => [row.store, formatNumber(row.sequential), formatNumber(row.concurrent)]),
			),
			`**memoryStore heap**: ${formatNumber(perKey, 0)} bytes per key, **${formatNumber((perKey * 1_000_000) / 2 ** 20, 0)} MiB`,
			`per 1M keys** (${scaled}): \`heapUsed\` after minus before issuing ${formatNumber(heap.keys)} keys, each`,
			'after two forced garbage collections, in a child process started with `--expose-gc`.',
		].join('\n')
		return { id: 'issue', title: 'Issuing', markdown, targets: [] }
	}
}

/** The issuing section at the runner's size. */
const issue: BenchModule = (context) => issueBench(context.quick ? ISSUE_QUICK : ISSUE_FULL)(context)
export default issue

/**
 * Verification cost: `verify()` operations per second on every store, for valid, malformed and
 * unknown keys, one at a time and 64 in flight, and the store round trips each verification costs.
 * With `keyward/cache`, the same for Redis and PostgreSQL behind a verification cache.
 */
import { verifyCache } from '../adapters/cache.js'
import { createKeyward, type Keyward } from '../src/index.js'
import { ALPHABET, BODY_LENGTH, formatKey } from '../src/key-format.js'
import type { KeyStore } from '../src/store.js'
import {
	type BenchStore,
	openStore,
	type PrivateRedis,
	STORE_LABELS,
	type StoreKind,
	startPrivateRedis,
	uniqueName,
} from './servers.js'
import { fixedCount, formatNumber, median, seeded, table, target, throughput } from './stats.js'
import type { BenchContext, BenchModule, BenchSection, BenchTarget } from './types.js'

/** Sizes of one run of the verification benchmark. */
export interface VerifyBenchOptions {
	readonly stores: readonly StoreKind[]
	/** Keys issued to each store before measuring; valid verifications cycle through them. */
	readonly keys: number
	/** Warm-up per measurement. */
	readonly warmupMs: number
	/** One measured run. */
	readonly runMs: number
	/** Measured runs per measurement; the table gives the median. */
	readonly rounds: number
	/** Verifications whose round trips are counted, per kind of key. */
	readonly countSamples: number
	/** Also measure Redis and PostgreSQL behind `verifyCache()`. */
	readonly cached: boolean
}

/** The full run. */
export const VERIFY_FULL: VerifyBenchOptions = {
	stores: ['memory', 'keyv', 'redis', 'postgres'],
	keys: 5000,
	warmupMs: 200,
	runMs: 500,
	rounds: 3,
	countSamples: 1000,
	cached: true,
}

/** `--quick`. */
export const VERIFY_QUICK: VerifyBenchOptions = {
	stores: ['memory', 'keyv', 'redis', 'postgres'],
	keys: 500,
	warmupMs: 30,
	runMs: 100,
	rounds: 3,
	countSamples: 100,
	cached: true,
}

/** Concurrent verifications in the "in flight" column. */
const IN_FLIGHT = 64
/** The seed of the unknown keys, the same in every run. */
const SEED = 0x6b657977

type KeyKind = 'valid' | 'malformed' | 'unknown'
const KEY_KINDS: readonly KeyKind[] = ['valid', 'malformed', 'unknown']

/** One row of the table. */
export interface VerifyRow {
	readonly store: string
	readonly key: KeyKind
	readonly sequential: number
	readonly concurrent: number
	/** KeyStore method calls per verification. */
	readonly storeCalls: number
	/** Server round trips per verification (Redis commands, PostgreSQL statements); `null` for in-process stores. */
	readonly roundTrips: number | null
}

/** Counts the calls made to a store's methods. */
function countingStore(store: KeyStore): { store: KeyStore; calls(): number } {
	let calls = 0
	const counted = new Proxy(store, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver)
			if (typeof value !== 'function') return value
			return (...args: unknown[]) => {
				calls++
				return value.apply(target, args)
			}
		},
	})
	return { store: counted, calls: () => calls }
}

/** Well-formed keys with valid checksums that no store holds, drawn from a fixed seed. */
function unknownKeys(count: number): string[] {
	const random = seeded(SEED)
	return Array.from({ length: count }, () => {
		let body = ''
		for (let i = 0; i < BODY_LENGTH; i++) body += ALPHABET[Math.floor(random() * ALPHABET.length)]
		return formatKey('sk', body)
	})
}

/** A valid key with its last checksum character changed: right length and alphabet, wrong checksum. */
function malformed(key: string): string {
	const last = key.at(-1) as string
	return key.slice(0, -1) + (last === 'a' ? 'b' : 'a')
}

async function issueKeys(keyward: Keyward, count: number): Promise<string[]> {
	const keys: string[] = []
	await fixedCount(
		async (i) => {
			const { key } = await keyward.issue({ ownerId: `owner-${i % 1000}`, expiresIn: '30d' })
			keys.push(key)
		},
		count,
		IN_FLIGHT,
	)
	return keys
}

interface Measured {
	readonly label: string
	/** Timed: over the store itself. */
	readonly keyward: Keyward
	/** Counted: the same store behind a call-counting wrapper (which would slow the timed calls down). */
	readonly counted: Keyward
	readonly inputs: Record<KeyKind, readonly string[]>
	readonly calls: () => number
	/** Server round trips so far, or `undefined` when the store has no server. */
	readonly roundTrips?: () => Promise<number>
}

async function measure(target: Measured, options: VerifyBenchOptions): Promise<VerifyRow[]> {
	const rows: VerifyRow[] = []
	// One pass over the valid keys first: the JIT warms up, and a cache holds every key, as in production.
	for (const keyward of [target.keyward, target.counted]) {
		await fixedCount((i) => keyward.verify(target.inputs.valid[i]), target.inputs.valid.length, IN_FLIGHT)
	}
	for (const kind of KEY_KINDS) {
		const inputs = target.inputs[kind]
		const verify = (i: number) => target.keyward.verify(inputs[i % inputs.length])
		const rate = async (inFlight: number) => {
			await throughput(verify, { ms: options.warmupMs, inFlight })
			const runs: number[] = []
			for (let round = 0; round < options.rounds; round++) {
				runs.push((await throughput(verify, { ms: options.runMs, inFlight })).perSecond)
			}
			return median(runs)
		}
		const sequential = await rate(1)
		const concurrent = await rate(IN_FLIGHT)
		// Counted on a fresh pass over the keys, one at a time (a cache is warm by now, as in production).
		const calls = target.calls()
		const trips = await target.roundTrips?.()
		await fixedCount((i) => target.counted.verify(inputs[i % inputs.length]), options.countSamples, 1)
		const storeCalls = (target.calls() - calls) / options.countSamples
		const roundTrips =
			trips === undefined
				? null
				: ((await (target.roundTrips as () => Promise<number>)()) - trips) / options.countSamples
		rows.push({ store: target.label, key: kind, sequential, concurrent, storeCalls, roundTrips })
	}
	return rows
}

async function withStore<T>(
	context: BenchContext,
	kind: StoreKind,
	redisUrl: string,
	work: (opened: BenchStore) => Promise<T>,
): Promise<T> {
	const opened = await openStore(kind, { redisUrl, databaseUrl: context.databaseUrl, name: uniqueName('verify') })
	try {
		return await work(opened)
	} finally {
		await opened.close()
	}
}

/**
 * Measures one store (optionally behind a cache). Redis round trips are counted on `redisUrl`'s
 * `INFO commandstats`, which must be a server no one else uses (see `startPrivateRedis`).
 */
async function measureStore(
	context: BenchContext,
	kind: StoreKind,
	options: VerifyBenchOptions,
	cached: boolean,
	redis: { url: string; counter?: PrivateRedis },
): Promise<VerifyRow[]> {
	return withStore(context, kind, redis.url, async (opened) => {
		const counting = countingStore(opened.store)
		const instance = (store: KeyStore) => {
			const cache = cached ? verifyCache({ max: Math.max(options.keys, 1000), ttl: '10s' }) : undefined
			return createKeyward({ store, prefix: 'sk', ...(cache && { cache }) })
		}
		const keyward = instance(opened.store)
		const counted = instance(counting.store)
		const valid = await issueKeys(keyward, options.keys)
		const inputs = { valid, malformed: valid.map(malformed), unknown: unknownKeys(options.keys) }
		const counter = redis.counter
		const roundTrips =
			kind === 'postgres'
				? async () => opened.queries()
				: kind === 'redis' && counter
					? () => counter.commands()
					: undefined
		const label = `${STORE_LABELS[kind]}${cached ? ' + verifyCache(10 s)' : ''}`
		return measure({ label, keyward, counted, inputs, calls: counting.calls, roundTrips }, options)
	})
}

/**
 * The verification section: a table of ops/s and round trips per store and kind of key, and the
 * targets (one round trip for a valid key, none for a malformed one).
 *
 * @param options - sizes: {@link VERIFY_FULL}, {@link VERIFY_QUICK} or smaller, for a smoke test
 * @returns a {@link BenchModule}
 * @example
 * ```ts
 * const section = await verifyBench({ ...VERIFY_QUICK, stores: ['memory'] })(context)
 * ```
 */
export function verifyBench(options: VerifyBenchOptions): BenchModule {
	return async function verify(context: BenchContext): Promise<BenchSection> {
		const privateRedis = options.stores.includes('redis') ? await startPrivateRedis() : undefined
		const rows: VerifyRow[] = []
		try {
			for (const kind of options.stores) {
				context.log(`verify: ${STORE_LABELS[kind]}`)
				const redis =
					kind === 'redis' && privateRedis
						? { url: privateRedis.url, counter: privateRedis }
						: { url: context.redisUrl }
				rows.push(...(await measureStore(context, kind, options, false, redis)))
				if (options.cached && (kind === 'redis' || kind === 'postgres')) {
					context.log(`verify: ${STORE_LABELS[kind]} + verifyCache`)
					rows.push(...(await measureStore(context, kind, options, true, redis)))
				}
			}
		} finally {
			await privateRedis?.stop()
		}
		const targets: BenchTarget[] = []
		for (const row of rows) {
			if (row.store.includes('verifyCache')) continue
			const trips = row.roundTrips ?? row.storeCalls
			const what = row.roundTrips === null ? 'store calls' : 'round trips'
			if (row.key === 'valid') {
				targets.push(target(`${row.store}: ${what} per valid verify`, '= 1', formatNumber(trips), trips === 1))
			}
			if (row.key === 'malformed') {
				targets.push(target(`${row.store}: ${what} per malformed verify`, '= 0', formatNumber(trips), trips === 0))
			}
		}
		const seconds = (ms: number) => `${ms / 1000} s`
		const redisWhere = privateRedis
			? 'redisStore is measured on a private redis-server started for the run (so `INFO commandstats` counts only its commands)'
			: 'redisStore is measured on the shared Redis server (no redis-server binary for a private one: its round trips count every client)'
		const markdown = [
			`\`verify()\` in this process, on stores holding ${formatNumber(options.keys)} keys each. "valid" cycles through`,
			'the issued keys; "malformed" is each of them with its last checksum character changed; "unknown" is',
			`well-formed keys with valid checksums drawn from a fixed seed. Each figure is the median of ${options.rounds}`,
			`runs of ${seconds(options.runMs)} after a ${seconds(options.warmupMs)} warm-up, one verification at a time`,
			`("sequential") or ${IN_FLIGHT} in flight. Counts come from ${formatNumber(options.countSamples)} further sequential`,
			'verifications through a second instance over the same store (so no wrapper slows the timed calls):',
			'store calls by a wrapper around its `KeyStore`, round trips by `INFO commandstats` deltas (Redis) and',
			'by a counting wrapper around the `pg.Pool` handed to `postgresStore({ pool })` (PostgreSQL;',
			`\`pg_stat_statements\` is not loaded on the server). ${redisWhere}; PostgreSQL is the shared server.`,
			'',
			table(
				[
					'store',
					'key',
					'sequential ops/s',
					`${IN_FLIGHT} in flight ops/s`,
					'store calls / verify',
					'round trips / verify',
				],
				rows.map((row) => [
					row.store,
					row.key,
					formatNumber(row.sequential),
					formatNumber(row.concurrent),
					formatNumber(row.storeCalls),
					row.roundTrips === null ? 'n/a (in process)' : formatNumber(row.roundTrips),
				]),
			),
			options.cached
				? [
						"The `+ verifyCache(10 s)` rows put `verifyCache({ max, ttl: '10s' })` from `keyward/cache` in front of",
						'the same store: a valid key verified in the last 10 s is answered from memory (expiry is still',
						'judged on every call), so a revocation made by another process takes effect here within 10 s.',
						'Unknown keys are never cached, so they cost a round trip with or without the cache.',
					].join('\n')
				: '',
		].join('\n')
		return { id: 'verify', title: 'Verification cost', markdown, targets }
	}
}

/** The verification section at the runner's size. */
const verify: BenchModule = (context) => verifyBench(context.quick ? VERIFY_QUICK : VERIFY_FULL)(context)
export default verify

/**
 * Sweep scaling: the time to sweep a fixed 10,000 expired keys while the store holds 10k, 100k and
 * 1M keys in all, on memoryStore, redisStore, postgresStore and keyvStore over `new Keyv()` (to 100k).
 * A store with an expiry index should take about the same time at every size.
 *
 * Run alone: `npx tsx bench/sweep.ts [--quick]` (prints the section, writes the chart to the OS temp dir);
 * `SWEEP_STORES=redis,postgres` measures only those stores.
 */
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createClient } from '@keyv/redis'
import Keyv from 'keyv'
import { type KeyRecord, type KeyStore, keyvStore, memoryStore, recordToJSON, sweep } from 'keyward'
import { type PostgresKeyStore, postgresStore } from 'keyward/postgres'
import { type RedisKeyStore, redisStore } from 'keyward/redis'
import pg from 'pg'
import type { BenchContext, BenchModule, BenchSection, BenchTarget } from './types.js'

/** The expired keys every measured sweep moves. */
const EXPIRED = 10_000
/** The instant every sweep runs at; the same in every run. */
const NOW = new Date(Date.UTC(2030, 0, 1))
const CREATED = new Date(NOW.getTime() - 90 * 86_400_000)
/** Expired keys expire in the hour before NOW; the others 30 days after it. */
const EXPIRED_FROM = NOW.getTime() - 3_600_000
const FUTURE_FROM = NOW.getTime() + 30 * 86_400_000
/** Seed of the record generator: the same keys (ids and hashes) in every run. */
const SEED = 0x6b657977

type StoreKind = 'memory' | 'redis' | 'postgres' | 'keyv'

interface Plan {
	readonly totals: Record<StoreKind, readonly number[]>
	/** Measured sweeps per point, after a warm-up sweep (keyv: at its first point only, its sweeps are slow). */
	readonly runs: Record<StoreKind, number>
}

const FULL: Plan = {
	totals: {
		memory: [10_000, 100_000, 1_000_000],
		redis: [10_000, 100_000, 1_000_000],
		postgres: [10_000, 100_000, 1_000_000],
		keyv: [10_000, 100_000],
	},
	runs: { memory: 5, redis: 5, postgres: 5, keyv: 3 },
}

const QUICK: Plan = {
	totals: {
		memory: [10_000, 100_000],
		redis: [10_000, 100_000],
		postgres: [10_000, 100_000],
		keyv: [], // a keyv sweep of 10,000 keys takes seconds (no index): full run only
	},
	runs: { memory: 3, redis: 3, postgres: 3, keyv: 1 },
}

const LABELS: Record<StoreKind, string> = {
	memory: 'memoryStore',
	redis: 'redisStore',
	postgres: 'postgresStore',
	keyv: 'keyvStore (new Keyv())',
}

const COLORS: Record<StoreKind, string> = {
	memory: '#2b6cb0',
	redis: '#c53030',
	postgres: '#2f855a',
	keyv: '#b7791f',
}

/** One measured point: a store holding `total` keys, `EXPIRED` of them expired. */
interface Point {
	readonly kind: StoreKind
	readonly total: number
	/** Median seconds of the measured sweeps. */
	readonly seconds: number
	/** Every measured sweep, in seconds. */
	readonly samples: readonly number[]
	/** Keys each sweep moved (always `EXPIRED` when the store is right). */
	readonly expired: number
	/** Records the store examined in the median sweep. */
	readonly scanned: number
	/** PostgreSQL: buffers one batch of 500 touches (EXPLAIN ANALYZE, BUFFERS), in all and in the expiry index scan. */
	readonly buffers?: { readonly batch: number; readonly indexScan: number }
}

/** A deterministic generator of records (mulberry32): the same keys in every run. */
class RecordMaker {
	private state: number
	constructor(seed: number) {
		this.state = seed >>> 0
	}
	private next(): number {
		this.state = (this.state + 0x6d2b79f5) >>> 0
		let t = this.state
		t = Math.imul(t ^ (t >>> 15), t | 1)
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
		return (t ^ (t >>> 14)) >>> 0
	}
	private bytes(n: number): Buffer {
		const out = Buffer.alloc(n)
		for (let i = 0; i < n; i += 4) out.writeUInt32LE(this.next(), i)
		return out
	}
	record(expiresAt: number, n: number): KeyRecord {
		const id = this.bytes(16).toString('hex')
		return {
			id: `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`,
			hash: this.bytes(32).toString('base64url'),
			prefix: 'kw',
			hint: 'kw_bnch',
			ownerId: `owner-${n % 1000}`,
			name: '',
			createdAt: CREATED,
			expiresAt: new Date(expiresAt),
			scopes: ['read'],
			metadata: {},
			lastUsedAt: null,
			replacedBy: null,
			blacklistedAt: null,
			reason: null,
			note: null,
		}
	}
}

/** A store under test and how to fill it quickly. */
interface Subject {
	readonly store: KeyStore
	/** Adds `count` keys that expire after NOW (at `from + i` ms); `label` keeps their ids apart from earlier batches. */
	addFuture(count: number, from: number, label: string): Promise<void>
	/**
	 * Puts the same 10,000 expired keys in the active set: the first call adds them, later calls restore
	 * them after a sweep moved them (the store's total stays fixed). Not timed.
	 */
	seedExpired(): Promise<void>
	/** Settles the store between runs (PostgreSQL: vacuum and analyze, as autovacuum would). Not timed. */
	settle(): Promise<void>
	/** Drops everything the benchmark created. */
	drop(): Promise<void>
	/** PostgreSQL only: the buffers one sweep batch touches, from a rolled-back `EXPLAIN (ANALYZE, BUFFERS)`. */
	explainBatch?(): Promise<{ batch: number; indexScan: number }>
}

/** Inserts through `store.insert`, `concurrency` at a time. */
async function insertAll(store: KeyStore, maker: RecordMaker, count: number, from: number, concurrency: number) {
	for (let done = 0; done < count; ) {
		const n = Math.min(concurrency, count - done)
		const batch: Promise<void>[] = []
		for (let i = 0; i < n; i++) batch.push(store.insert(maker.record(from + done + i, done + i)))
		await Promise.all(batch)
		done += n
	}
}

async function openSubject(kind: StoreKind, context: BenchContext): Promise<Subject> {
	const maker = new RecordMaker(SEED)
	const tag = randomUUID().slice(0, 8)
	const expired = Array.from({ length: EXPIRED }, (_, i) => maker.record(EXPIRED_FROM + i, i))
	if (kind === 'memory' || kind === 'keyv') {
		const store = kind === 'memory' ? memoryStore() : keyvStore(new Keyv({ throwOnErrors: true }))
		return {
			store,
			addFuture: (count, from) => insertAll(store, maker, count, from, 1000),
			async seedExpired() {
				await purgeMoved(store) // the swept records, so the same ones can be inserted again
				for (let i = 0; i < expired.length; i += 1000) {
					await Promise.all(expired.slice(i, i + 1000).map((record) => store.insert(record)))
				}
			},
			settle: async () => {},
			drop: async () => {},
		}
	}
	if (kind === 'redis') {
		const store: RedisKeyStore = redisStore({
			url: context.redisUrl,
			namespace: `kwbench_sweep_${tag}`,
			timeout: '30s',
		})
		const client = redisClient(context.redisUrl)
		await client.connect()
		const load = await redisLoader(store, client)
		return {
			store,
			async addFuture(count, from) {
				// Up to three pipelines in flight: Node builds the next batch while Redis applies the last.
				const inFlight = new Set<Promise<void>>()
				for (let done = 0; done < count; done += 5000) {
					const n = Math.min(5000, count - done)
					const batch = load(Array.from({ length: n }, (_, i) => maker.record(from + done + i, done + i)))
					inFlight.add(batch)
					void batch.finally(() => inFlight.delete(batch)).catch(() => {})
					if (inFlight.size >= 3) await Promise.race(inFlight)
				}
				await Promise.all(inFlight)
			},
			// Writes the active records over the swept ones, and takes them off the blacklist index.
			seedExpired: () => load(expired),
			settle: async () => {},
			drop: async () => {
				await store.close()
				await wipeRedis(client, store.namespace)
				await client.close()
			},
		}
	}
	// PostgreSQL: rows written with INSERT … SELECT generate_series into the store's own table layout.
	const table = `kwbench_sweep_${tag}`
	const store: PostgresKeyStore = postgresStore({ url: context.databaseUrl, table, namespace: 'bench', timeout: '60s' })
	await store.migrate()
	const pool = new pg.Pool({ connectionString: context.databaseUrl, max: 2 })
	pool.on('error', () => {})
	const T = `"${store.schema}"."${table}"`
	const insert = async (count: number, from: number, label: string) => {
		await pool.query(
			`INSERT INTO ${T} (namespace, id, hash, prefix, hint, owner_id, name, created_at, expires_at, scopes, metadata)
			SELECT 'bench', $1::text || '-' || g, md5($1::text || g) || substr(md5(g || $1::text), 1, 11), 'kw', 'kw_bnch',
				'owner-' || (g % 1000), '', $2::timestamptz,
				to_timestamp(($3::int8 + g) / 1000.0), ARRAY['read'], '{}'::jsonb
			FROM generate_series(0, $4::int - 1) g`,
			[label, CREATED.toISOString(), from, count],
		)
	}
	let seeded = false
	return {
		store,
		async addFuture(count, from, label) {
			// Two statements at once, one per connection: the unique indexes are the cost, and there are two cores.
			const half = Math.ceil(count / 2)
			await Promise.all([
				insert(half, from, `${label}a`),
				count > half ? insert(count - half, from + half, `${label}b`) : undefined,
			])
		},
		async seedExpired() {
			if (seeded) {
				await pool.query(
					`UPDATE ${T} SET blacklisted_at = NULL, reason = NULL, note = NULL
					WHERE namespace = 'bench' AND blacklisted_at IS NOT NULL`,
				)
			} else {
				await insert(EXPIRED, EXPIRED_FROM, 'e')
				seeded = true
			}
		},
		async settle() {
			await pool.query(`VACUUM (ANALYZE) ${T}`)
		},
		async explainBatch() {
			// The statement postgresStore's moveExpired sends (adapters/postgres.ts), with a short RETURNING.
			const client = await pool.connect()
			try {
				await client.query('BEGIN')
				const { rows } = await client.query(
					`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
					UPDATE ${T} SET blacklisted_at = $2::timestamptz, reason = 'expired', note = NULL
					WHERE ctid = ANY(ARRAY(
						SELECT ctid FROM ${T}
						WHERE namespace = $1 AND blacklisted_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $2::timestamptz
						ORDER BY expires_at LIMIT $3
						FOR UPDATE SKIP LOCKED
					))
					RETURNING id`,
					['bench', NOW.toISOString(), 500],
				)
				const plan = (rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan
				const blocks = (node: PlanNode) => (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0)
				const find = (node: PlanNode): PlanNode | undefined =>
					node['Node Type'] === 'Index Scan' ? node : (node.Plans ?? []).map(find).find(Boolean)
				const scan = find(plan)
				return { batch: blocks(plan), indexScan: scan === undefined ? Number.NaN : blocks(scan) }
			} finally {
				await client.query('ROLLBACK')
				client.release()
			}
		},
		async drop() {
			await store.close()
			await pool.query(`DROP TABLE IF EXISTS ${T}`)
			await pool.end()
		},
	}
}

/** A node of PostgreSQL's JSON plan. */
interface PlanNode {
	readonly 'Node Type': string
	readonly 'Shared Hit Blocks'?: number
	readonly 'Shared Read Blocks'?: number
	readonly Plans?: readonly PlanNode[]
}

const redisClient = (url: string) => createClient({ url })
type RedisClient = ReturnType<typeof redisClient>

async function wipeRedis(client: RedisClient, namespace: string): Promise<void> {
	for await (const keys of client.scanIterator({ MATCH: `${namespace}:*`, COUNT: 5000 })) {
		if (keys.length > 0) await client.unlink(keys)
	}
}

/**
 * Fills a redisStore's own layout with pipelined bulk commands (MSET, ZADD), many times faster than
 * one `insert` script per key. Checked first: a record written by `store.insert` must read back byte
 * for byte as this loader would write it, and a bulk-written record must read back through the store.
 */
async function redisLoader(store: RedisKeyStore, client: RedisClient) {
	const ns = store.namespace
	// keyv's serializer writes plain JSON for these records (no Buffers, no strings starting with ':');
	// JSON.stringify is several times faster, and the probe below proves the output is the same.
	const serialize = (record: KeyRecord) => JSON.stringify({ value: { keyward: 1, ns, record: recordToJSON(record) } })
	const probe = new RecordMaker(SEED ^ 0xffff).record(FUTURE_FROM, 0)
	await store.insert(probe)
	if ((await client.get(`${ns}::h:${probe.hash}`)) !== serialize(probe)) {
		throw new Error('bench/sweep: the redisStore record layout changed; update redisLoader()')
	}
	await store.blacklist(probe.id, { reason: 'revoked', at: NOW, note: null })
	await store.purgeBlacklisted({ before: new Date(NOW.getTime() + 1), limit: 1 })
	let checked = false

	/** Writes records as active ones, 5,000 per pipeline; a record on the blacklist index is taken off it. */
	return async (records: readonly KeyRecord[]) => {
		for (let done = 0; done < records.length; done += 5000) {
			const chunk = records.slice(done, done + 5000)
			const strings: [string, string][] = []
			const owners = new Map<string, { score: number; value: string }[]>()
			for (const record of chunk) {
				strings.push([`${ns}::h:${record.hash}`, serialize(record)], [`${ns}::i:${record.id}`, record.hash])
				const members = owners.get(record.ownerId) ?? []
				members.push({ score: record.createdAt.getTime(), value: record.hash })
				owners.set(record.ownerId, members)
			}
			const hashes = chunk.map((record) => record.hash)
			const multi = client.multi()
			multi.mSet(strings)
			multi.zAdd(
				`${ns}:__expiry`,
				chunk.map((record) => ({ score: record.expiresAt?.getTime() as number, value: record.hash })),
			)
			multi.zRem(`${ns}:__blacklist`, hashes)
			for (const [ownerId, members] of owners) multi.zAdd(`${ns}:__owner:${ownerId}`, members)
			await multi.execAsPipeline()
			if (!checked) {
				const first = chunk[0] as KeyRecord
				if (JSON.stringify(await store.getById(first.id)) !== JSON.stringify(first)) {
					throw new Error('bench/sweep: a bulk-loaded record reads back wrong through redisStore')
				}
				checked = true
			}
		}
	}
}

/** Deletes every blacklisted record (the keys the last sweep moved), so the total stays fixed. Not timed. */
async function purgeMoved(store: KeyStore): Promise<void> {
	const before = new Date(NOW.getTime() + 1)
	while ((await store.purgeBlacklisted({ before, limit: 10_000 })).purged > 0) {}
}

const median = (values: readonly number[]): number => {
	const sorted = [...values].sort((a, b) => a - b)
	const mid = sorted.length >> 1
	return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Measures one kind of store: one store per total, all filled first, then the sweeps interleaved
 * (10k, 100k, 1M, 10k, 100k, 1M, …), so a busy moment of the machine hits every size alike and the
 * ratio between sizes stays meaningful.
 */
async function measureStore(kind: StoreKind, totals: readonly number[], plan: Plan, context: BenchContext) {
	const subjects: {
		total: number
		subject: Subject
		samples: number[]
		scans: number[]
		moved: number[]
		buffers?: { batch: number; indexScan: number }
	}[] = []
	try {
		for (const total of totals) {
			const loadStarted = performance.now()
			const subject = await openSubject(kind, context)
			subjects.push({ total, subject, samples: [], scans: [], moved: [] })
			await subject.addFuture(total - EXPIRED, FUTURE_FROM, 'f')
			await subject.settle()
			context.log(
				`sweep: ${LABELS[kind]} holds ${total.toLocaleString('en')} keys (loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s)`,
			)
		}
		for (let run = 0; run <= plan.runs[kind]; run++) {
			for (const point of subjects) {
				const first = point.total === totals[0]
				// keyv has no index: a sweep of 100k keys takes minutes, so one sweep there (no warm-up) shows the slope.
				if (kind === 'keyv' && (first ? run === 0 && context.quick : run !== 1)) continue
				await point.subject.seedExpired()
				await point.subject.settle()
				if (run === 0 && point.subject.explainBatch !== undefined) {
					await point.subject.explainBatch() // warms the buffers; rolled back
					point.buffers = await point.subject.explainBatch()
				}
				const report = await sweep(point.subject.store, { now: NOW })
				if (run === 0) continue // warm-up
				point.samples.push(report.durationMs / 1000)
				point.scans.push(report.scanned)
				point.moved.push(report.expired)
			}
		}
	} finally {
		for (const { subject } of subjects) await subject.drop()
	}
	return subjects.map(({ total, samples, scans, moved, buffers }): Point => {
		const seconds = median(samples)
		context.log(`sweep: ${LABELS[kind]} at ${total.toLocaleString('en')} keys: ${seconds.toFixed(3)} s (median)`)
		return {
			kind,
			total,
			seconds,
			samples,
			expired: Math.min(...moved),
			scanned: median(scans),
			...(buffers !== undefined && { buffers }),
		}
	})
}

const fmtTotal = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`)
const fmtSeconds = (s: number) => (s < 0.1 ? s.toFixed(4) : s < 10 ? s.toFixed(3) : s.toFixed(1))
const fmtRate = (n: number) => Math.round(n).toLocaleString('en')

/** A line chart of sweep time against total keys, both axes logarithmic. Plain SVG, no dependency. */
export function sweepChart(points: readonly Point[], kinds: readonly StoreKind[]): string {
	const width = 720
	const height = 440
	const left = 70
	const right = 190
	const top = 40
	const bottom = 60
	const plotW = width - left - right
	const plotH = height - top - bottom
	const totals = points.map((p) => p.total)
	const times = points.map((p) => p.seconds).filter((s) => s > 0)
	const xMin = Math.log10(Math.min(...totals))
	const xMax = Math.max(Math.log10(Math.max(...totals)), xMin + 1)
	const yMin = Math.floor(Math.log10(Math.min(...times)))
	const yMax = Math.max(Math.ceil(Math.log10(Math.max(...times))), yMin + 1)
	const x = (total: number) => left + ((Math.log10(total) - xMin) / (xMax - xMin)) * plotW
	const y = (seconds: number) => top + plotH - ((Math.log10(seconds) - yMin) / (yMax - yMin)) * plotH
	const parts: string[] = [
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
		`<title>Time to sweep ${EXPIRED.toLocaleString('en')} expired keys as the total number of keys grows, per store (log-log)</title>`,
		`<rect width="${width}" height="${height}" fill="#ffffff"/>`,
		`<text x="${left + plotW / 2}" y="22" text-anchor="middle" font-size="15">Time to sweep ${EXPIRED.toLocaleString('en')} expired keys (median)</text>`,
	]
	for (let e = yMin; e <= yMax; e++) {
		const yy = y(10 ** e)
		parts.push(
			`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#e2e8f0"/>`,
			`<text x="${left - 8}" y="${yy + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)} s</text>`,
		)
	}
	for (const total of [...new Set(totals)].sort((a, b) => a - b)) {
		const xx = x(total)
		parts.push(
			`<line x1="${xx}" y1="${top}" x2="${xx}" y2="${top + plotH}" stroke="#e2e8f0"/>`,
			`<text x="${xx}" y="${top + plotH + 18}" text-anchor="middle">${fmtTotal(total)}</text>`,
		)
	}
	parts.push(
		`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#4a5568"/>`,
		`<text x="${left + plotW / 2}" y="${height - 16}" text-anchor="middle">total keys in the store (log scale)</text>`,
		`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">seconds (log scale)</text>`,
	)
	kinds.forEach((kind, i) => {
		const line = points.filter((p) => p.kind === kind).sort((a, b) => a.total - b.total)
		if (line.length === 0) return
		const color = COLORS[kind]
		parts.push(
			`<polyline fill="none" stroke="${color}" stroke-width="2" points="${line.map((p) => `${x(p.total).toFixed(1)},${y(p.seconds).toFixed(1)}`).join(' ')}"/>`,
			...line.map(
				(p) => `<circle cx="${x(p.total).toFixed(1)}" cy="${y(p.seconds).toFixed(1)}" r="4" fill="${color}"/>`,
			),
			`<line x1="${left + plotW + 16}" y1="${top + 14 + i * 22}" x2="${left + plotW + 40}" y2="${top + 14 + i * 22}" stroke="${color}" stroke-width="2"/>`,
			`<text x="${left + plotW + 46}" y="${top + 18 + i * 22}">${LABELS[kind]}</text>`,
		)
	})
	parts.push('</svg>')
	return `${parts.join('\n')}\n`
}

/** A table of the buffers one PostgreSQL batch touches at each size: a count that machine noise does not move. */
function pgBuffers(points: readonly Point[]): string[] {
	const rows = points.filter((p) => p.kind === 'postgres' && p.buffers !== undefined)
	if (rows.length === 0) return []
	return [
		'PostgreSQL work per batch, counted rather than timed: the buffers one batch of 500 touches ' +
			"(`EXPLAIN (ANALYZE, BUFFERS)` of the store's `moveExpired` statement, rolled back), and how many of them the " +
			'expiry-index scan that picks the rows reads. The rest is the update itself: a new row version and its entries ' +
			'in the other indexes, for each of the 500 rows.',
		'',
		'| total keys | buffers per batch | expiry-index scan |',
		'| ---: | ---: | ---: |',
		...rows.map(
			(p) =>
				`| ${p.total.toLocaleString('en')} | ${p.buffers?.batch.toLocaleString('en')} | ${p.buffers?.indexScan.toLocaleString('en')} |`,
		),
		'',
	]
}

function section(points: readonly Point[], plan: Plan, kinds: readonly StoreKind[], quick: boolean): BenchSection {
	const rows = points.map((p) => {
		const base = points.find((q) => q.kind === p.kind && q.total === plan.totals[p.kind][0])
		return `| ${LABELS[p.kind]} | ${p.total.toLocaleString('en')} | ${p.expired.toLocaleString('en')} | ${fmtSeconds(p.seconds)} | ${fmtRate(p.expired / p.seconds)} | ${p.scanned.toLocaleString('en')} | ${base === undefined ? 'n/a' : `${(p.seconds / base.seconds).toFixed(2)}×`} | ${p.samples.map(fmtSeconds).join(', ')} |`
	})
	const targets: BenchTarget[] = []
	for (const kind of ['redis', 'postgres'] as const) {
		const line = points.filter((p) => p.kind === kind)
		const first = line[0]
		const last = line[line.length - 1]
		if (first === undefined || last === undefined || first === last) continue
		const ratio = last.seconds / first.seconds
		targets.push({
			name: `Sweep: ${LABELS[kind]}, time at ${fmtTotal(last.total)} keys / at ${fmtTotal(first.total)}${quick ? ' (quick run: the target is stated at 1M)' : ''}`,
			target: '<= 1.5×',
			measured: `${ratio.toFixed(2)}×`,
			met: ratio <= 1.5,
		})
	}
	const markdown = [
		`Each point is a store holding the given total of keys, of which exactly ${EXPIRED.toLocaleString('en')} are expired; ` +
			'the rest expire in 30 days. `sweep(store, { now })` (default batch size, 500) moves the expired ones; the time is ' +
			"the sweep's own `durationMs`. " +
			'Each size is its own store (a fresh namespace or table), all filled before the first sweep; the sweeps then take ' +
			'turns between the sizes, so a busy moment of the machine slows every size alike. ' +
			`Per point: one warm-up sweep, then the median of ${plan.runs.redis} sweeps ` +
			`(keyv: ${plan.runs.keyv} at its smallest total after a warm-up, then a single sweep at 100k, which takes minutes). ` +
			`Between sweeps (not timed) the same ${EXPIRED.toLocaleString('en')} expired keys are put back in the active set, so the ` +
			'total stays fixed: memory and keyv purge and insert them again, Redis rewrites them in bulk, PostgreSQL runs one ' +
			'`UPDATE` and then `VACUUM (ANALYZE)`, as autovacuum would. ' +
			'Keys come from a seeded generator (the same ids and hashes every run). Memory and keyv are filled through ' +
			"`store.insert` (1,000 in flight); Redis in pipelined `MSET`/`ZADD` batches into the store's own layout (checked " +
			"against a record written by `store.insert`); PostgreSQL with `INSERT … SELECT generate_series` into the store's own " +
			'table. Each run uses a fresh Redis namespace and PostgreSQL table, dropped afterwards.' +
			(quick
				? ' **Quick run**: totals to 100k, 3 sweeps per point, no keyvStore; the 1M points and keyv are measured by the full run.'
				: ''),
		'',
		'| store | total keys | swept | seconds (median) | keys swept / s | scanned | vs smallest total | every sweep (s) |',
		'| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
		...rows,
		'',
		'![Sweep time against total keys](benchmarks-sweep.svg)',
		'',
		...pgBuffers(points),
		'**Reading it.** `scanned` is how many records the store examined. With an expiry index (memory, Redis, PostgreSQL) it equals the ' +
			'keys swept, whatever the total, so the time stays flat as the store grows. `keyvStore` has no index: every batch iterates ' +
			'over every entry, so its cost grows with the total (it is the store to leave behind for a fleet; see docs/stores.md).',
		'',
		'**What changed to get here.** `memoryStore` scanned every active record on each `moveExpired`, `count` and `listExpiring` ' +
			'call (a 1M-key store paid for 1M records per batch). It now keeps two binary heaps, on `expiresAt` for active records ' +
			'and on `blacklistedAt` for the blacklist, with lazy deletion (a revoked or updated record leaves a dead entry that is ' +
			'skipped when reached, and the heap is rebuilt once dead entries outnumber live ones), and declares `expiryIndex: true`.',
		'',
		'**Where the time goes** (`node --cpu-prof`, and `INFO commandstats` on a private redis-server). On Redis a batch of ' +
			'500 is one `ZRANGEBYSCORE … LIMIT`, one `MGET`, and one compare-and-set script; the script (on the server) and JSON ' +
			'(de)serialisation of the records (in Node) take most of it, and both grow with the batch, not with the total. ' +
			'`ZRANGEBYSCORE` grows with log(total) but runs about twenty times per sweep, a few milliseconds in all. On PostgreSQL ' +
			'each batch is one `UPDATE … WHERE ctid = ANY(ARRAY(SELECT … ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED))` ' +
			'on the partial expiry index, which reads only the rows it moves. The spread between single sweeps (last column) is ' +
			'the shared machine, not the store: compare medians.',
	].join('\n')
	return {
		id: 'sweep',
		title: 'Sweep scaling',
		markdown,
		files: [{ name: 'benchmarks-sweep.svg', content: sweepChart(points, kinds) }],
		targets,
	}
}

/**
 * The sweep-scaling benchmark: see the file's header.
 *
 * @param context - from bench/run.ts
 * @returns the "Sweep scaling" section, with its chart
 */
const sweepBench: BenchModule = async (context) => {
	const plan = context.quick ? QUICK : FULL
	const only = process.env.SWEEP_STORES?.split(',') // for profiling one store: SWEEP_STORES=postgres
	const kinds = (['memory', 'redis', 'postgres', 'keyv'] as const).filter((kind) => only?.includes(kind) ?? true)
	const points: Point[] = []
	for (const kind of kinds) {
		if (plan.totals[kind].length === 0) continue
		const started = performance.now()
		points.push(...(await measureStore(kind, plan.totals[kind], plan, context)))
		context.log(`sweep: ${LABELS[kind]} done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
	}
	return section(points, plan, kinds, context.quick)
}

export default sweepBench

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
	const result = await sweepBench({
		quick: process.argv.includes('--quick'),
		redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
		databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
		log: (line) => console.error(line),
	})
	console.log(result.markdown)
	for (const target of result.targets) {
		console.log(`${target.met ? 'met   ' : 'MISSED'} ${target.name}: ${target.measured} (target ${target.target})`)
	}
	for (const file of result.files ?? []) {
		const path = join(tmpdir(), file.name)
		writeFileSync(path, file.content)
		console.error(`wrote ${path}`)
	}
}

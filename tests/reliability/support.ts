/**
 * What the reliability suite shares (not a test file): figures written to `.vitest/reliability/`,
 * worker scripts bundled once and run as real OS processes, a private redis-server a test may stop,
 * and consistency checks that read a store's raw data (Redis keys and sorted sets, the PostgreSQL table).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from '@keyv/redis'
import { build } from 'esbuild'
import type { KeyRecordJSON, KeyStore } from 'keyward'
import pg from 'pg'

/** The repository's root directory. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Where the scenarios write their figures (gitignored through `.vitest`), read by `report.ts`. */
export const FIGURES_DIR = join(ROOT, '.vitest', 'reliability')

// ---- figures ------------------------------------------------------------------------------------

/** One scenario's figures, as `report.ts` renders them. */
export interface Figures {
	/** The scenario's title in docs/reliability.md. */
	readonly title: string
	/** What the scenario asserts, in one or two sentences. */
	readonly claim: string
	/** `passed` once every assertion held; `failed` otherwise. */
	result?: 'passed' | 'failed'
	/** Counts and measurements, by name (numbers, strings, or small nested objects). */
	readonly figures: Record<string, unknown>
}

/**
 * Writes a scenario's figures to `.vitest/reliability/<file>.json`. Call it in a `finally`, after
 * setting `result`, so a failed run is recorded as failed.
 */
export function writeFigures(file: string, data: Figures): void {
	mkdirSync(FIGURES_DIR, { recursive: true })
	const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version }
	writeFileSync(
		join(FIGURES_DIR, `${file}.json`),
		`${JSON.stringify({ ...data, result: data.result ?? 'failed', machine, date: new Date().toISOString() }, null, 2)}\n`,
	)
}

/** Memory of this process, in MB with one decimal. */
export function memoryMb(): { heapUsedMb: number; rssMb: number } {
	const { heapUsed, rss } = process.memoryUsage()
	return { heapUsedMb: Math.round(heapUsed / 1e5) / 10, rssMb: Math.round(rss / 1e5) / 10 }
}

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same delays on every run. */
export { seeded as seededRandom } from '../../bench/stats.js'

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---- worker processes ---------------------------------------------------------------------------

/**
 * Bundles a worker script (`tests/reliability/workers/<name>.ts`) into one ES module, so each process
 * starts in a fraction of a second (`tsx` takes about two on this machine). Drivers stay external,
 * loaded from node_modules as the app would load them.
 * @returns the path of the bundle, unique to this call
 */
export async function bundleWorker(name: string): Promise<string> {
	const dir = join(FIGURES_DIR, 'bin')
	mkdirSync(dir, { recursive: true })
	const outfile = join(dir, `${name}-${process.pid}-${Date.now()}.mjs`)
	await build({
		entryPoints: [join(ROOT, 'tests', 'reliability', 'workers', `${name}.ts`)],
		outfile,
		bundle: true,
		platform: 'node',
		format: 'esm',
		target: 'node20',
		packages: 'external',
		logLevel: 'error',
	})
	return outfile
}

/** A worker process: its output lines, and its exit. */
export interface Worker {
	readonly process: ChildProcess
	/** Every line it wrote to stdout so far. */
	readonly lines: string[]
	/** Resolves with the first line that satisfies `test` (already written or later). */
	line(test: (line: string) => boolean, timeoutMs?: number): Promise<string>
	/** Resolves with the exit code (or the signal's name). */
	readonly exited: Promise<number | string>
	/** What it wrote to stderr. */
	stderr(): string
}

/** Starts `node <bundle>` with extra environment variables. */
export function startWorker(bundle: string, env: Record<string, string>): Worker {
	const child = spawn(process.execPath, [bundle], {
		cwd: ROOT,
		env: { ...process.env, ...env },
		stdio: ['pipe', 'pipe', 'pipe'],
	})
	const lines: string[] = []
	const waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = []
	let partial = ''
	let err = ''
	child.stdout?.setEncoding('utf8')
	child.stdout?.on('data', (chunk: string) => {
		partial += chunk
		let newline = partial.indexOf('\n')
		while (newline !== -1) {
			const line = partial.slice(0, newline)
			partial = partial.slice(newline + 1)
			lines.push(line)
			for (const waiter of [...waiters]) {
				if (waiter.test(line)) {
					waiters.splice(waiters.indexOf(waiter), 1)
					waiter.resolve(line)
				}
			}
			newline = partial.indexOf('\n')
		}
	})
	child.stderr?.setEncoding('utf8')
	child.stderr?.on('data', (chunk: string) => {
		err += chunk
	})
	const exited = new Promise<number | string>((resolve) =>
		child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
	)
	return {
		process: child,
		lines,
		exited,
		stderr: () => err,
		line(test, timeoutMs = 30_000) {
			const found = lines.find(test)
			if (found !== undefined) return Promise.resolve(found)
			return new Promise((resolve, reject) => {
				const timer = setTimeout(
					() => reject(new Error(`worker wrote no matching line within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`)),
					timeoutMs,
				)
				const waiter = {
					test,
					resolve: (line: string) => {
						clearTimeout(timer)
						resolve(line)
					},
				}
				waiters.push(waiter)
				exited.then(() => {
					if (waiters.includes(waiter)) {
						clearTimeout(timer)
						reject(new Error(`worker exited before writing the line; stderr: ${err.slice(-2000)}`))
					}
				})
			})
		},
	}
}

// A private redis-server: PrivateRedis and freePort live in tests/helpers/servers.ts.
export { freePort, PrivateRedis } from '../helpers/servers.js'

// ---- store state, read raw ----------------------------------------------------------------------

/** The whole state of one store namespace, as the consistency checks see it. */
export interface StoreState {
	/** Every record, by id. */
	readonly records: Map<string, KeyRecordJSON>
	/** Problems found: a record in both sets or neither, an index entry without its record… Empty when consistent. */
	readonly problems: string[]
}

/**
 * Reads a redisStore namespace raw (SCAN, MGET, ZRANGE) and checks it: every record is active or
 * blacklisted (`blacklistedAt` and `reason` set together); an active record with an expiry is in the
 * expiry index with its `expiresAt` as score and not in the blacklist index; a blacklisted record is
 * in the blacklist index with its `blacklistedAt` and not in the expiry index; every id key points to
 * its record, every index entry to a record, every record is in its owner's index.
 */
export async function redisState(url: string, namespace: string): Promise<StoreState> {
	const client = createClient({ url })
	client.on('error', () => {})
	await client.connect()
	try {
		const keys: string[] = []
		for await (const batch of client.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) keys.push(...batch)
		const recordKeys = keys.filter((key) => key.startsWith(`${namespace}::h:`))
		const idKeys = keys.filter((key) => key.startsWith(`${namespace}::i:`))
		const records = new Map<string, KeyRecordJSON>()
		const byHash = new Map<string, KeyRecordJSON>()
		const problems: string[] = []
		for (let i = 0; i < recordKeys.length; i += 500) {
			const chunk = recordKeys.slice(i, i + 500)
			const raws = await client.mGet(chunk)
			raws.forEach((raw, j) => {
				const key = chunk[j] as string
				if (raw === null) return // deleted between SCAN and MGET: not ours to judge
				const record = (JSON.parse(raw) as { value: { record: KeyRecordJSON } }).value.record
				if (key !== `${namespace}::h:${record.hash}`) problems.push(`${key} holds the record of hash ${record.hash}`)
				records.set(record.id, record)
				byHash.set(record.hash, record)
			})
		}
		const expiry = new Map(
			(await client.zRangeWithScores(`${namespace}:__expiry`, 0, -1)).map((e) => [e.value, e.score] as const),
		)
		const blacklist = new Map(
			(await client.zRangeWithScores(`${namespace}:__blacklist`, 0, -1)).map((e) => [e.value, e.score] as const),
		)
		for (const record of records.values()) {
			const active = record.blacklistedAt === null
			if (active !== (record.reason === null)) problems.push(`${record.id}: blacklistedAt and reason disagree`)
			if (active) {
				if (blacklist.has(record.hash)) problems.push(`${record.id}: active but in the blacklist index`)
				if (record.expiresAt !== null && expiry.get(record.hash) !== record.expiresAt) {
					problems.push(
						`${record.id}: active, expiry index says ${expiry.get(record.hash)}, record ${record.expiresAt}`,
					)
				}
			} else {
				if (expiry.has(record.hash)) problems.push(`${record.id}: blacklisted but still in the expiry index`)
				if (blacklist.get(record.hash) !== record.blacklistedAt) {
					problems.push(`${record.id}: blacklisted, index says ${blacklist.get(record.hash)}`)
				}
			}
		}
		for (const hash of [...expiry.keys(), ...blacklist.keys()]) {
			if (!byHash.has(hash)) problems.push(`index entry ${hash} has no record`)
		}
		for (let i = 0; i < idKeys.length; i += 500) {
			const chunk = idKeys.slice(i, i + 500)
			const hashes = await client.mGet(chunk)
			hashes.forEach((hash, j) => {
				const id = (chunk[j] as string).slice(`${namespace}::i:`.length)
				if (hash === null) return
				if (byHash.get(hash)?.id !== id) problems.push(`id key ${id} points to no record of that id`)
			})
		}
		if (idKeys.length !== records.size) problems.push(`${idKeys.length} id keys for ${records.size} records`)
		const owners = new Set([...records.values()].map((record) => record.ownerId))
		for (const owner of owners) {
			const members = new Set(await client.zRange(`${namespace}:__owner:${owner}`, 0, -1))
			for (const record of records.values()) {
				if (record.ownerId === owner && !members.has(record.hash)) problems.push(`${record.id}: not in its owner index`)
			}
		}
		return { records, problems }
	} finally {
		await client.close()
	}
}

/**
 * Reads a postgresStore namespace raw (the table) and checks that each row is active or blacklisted
 * (`blacklisted_at` and `reason` set together, `reason` one of the two).
 */
export async function postgresState(url: string, table: string, namespace: string): Promise<StoreState> {
	const client = new pg.Client({ connectionString: url })
	await client.connect()
	try {
		const { rows } = await client.query<{
			id: string
			hash: string
			owner_id: string
			created_ms: string
			expires_ms: string | null
			blacklisted_ms: string | null
			reason: string | null
			note: string | null
		}>(
			`SELECT id, hash, owner_id, round(extract(epoch FROM created_at) * 1000)::int8::text AS created_ms,
				round(extract(epoch FROM expires_at) * 1000)::int8::text AS expires_ms,
				round(extract(epoch FROM blacklisted_at) * 1000)::int8::text AS blacklisted_ms, reason, note
			FROM ${table} WHERE namespace = $1`,
			[namespace],
		)
		const records = new Map<string, KeyRecordJSON>()
		const problems: string[] = []
		for (const row of rows) {
			const blacklisted = row.blacklisted_ms !== null
			if (blacklisted !== (row.reason !== null)) problems.push(`${row.id}: blacklisted_at and reason disagree`)
			if (row.reason !== null && row.reason !== 'expired' && row.reason !== 'revoked') {
				problems.push(`${row.id}: reason ${row.reason}`)
			}
			records.set(row.id, {
				id: row.id,
				hash: row.hash,
				prefix: '',
				hint: '',
				ownerId: row.owner_id,
				name: '',
				createdAt: Number(row.created_ms),
				expiresAt: row.expires_ms === null ? null : Number(row.expires_ms),
				scopes: [],
				metadata: {},
				lastUsedAt: null,
				replacedBy: null,
				blacklistedAt: row.blacklisted_ms === null ? null : Number(row.blacklisted_ms),
				reason: row.reason as KeyRecordJSON['reason'],
				note: row.note,
			})
		}
		return { records, problems }
	} finally {
		await client.end()
	}
}

/** Deletes a namespace's rows from a table of the shared PostgreSQL server. */
export async function deletePostgresNamespace(url: string, table: string, namespace: string): Promise<void> {
	const client = new pg.Client({ connectionString: url })
	await client.connect()
	try {
		await client.query(`DELETE FROM ${table} WHERE namespace = $1`, [namespace])
	} finally {
		await client.end()
	}
}

// ---- a counting store ---------------------------------------------------------------------------

/** A store that counts its calls per method and remembers the arguments of `getByHash`. */
export function countingStore(inner: KeyStore): { store: KeyStore; calls: Record<string, number>; hashes: string[] } {
	const calls: Record<string, number> = {}
	const hashes: string[] = []
	const store = new Proxy(inner, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver)
			if (typeof value !== 'function' || typeof property !== 'string') return value
			return (...args: unknown[]) => {
				calls[property] = (calls[property] ?? 0) + 1
				if (property === 'getByHash') hashes.push(args[0] as string)
				return value.apply(target, args)
			}
		},
	})
	return { store, calls, hashes }
}

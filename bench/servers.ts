/**
 * Stores and servers for the benchmarks: every store kind on a namespace (or schema) of its own that
 * `close()` removes again, a PostgreSQL pool that counts queries, a private redis-server whose
 * command statistics no other client disturbs, and child processes for HTTP servers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createClient } from '@keyv/redis'
import Keyv from 'keyv'
import pg from 'pg'
import { postgresStore } from '../adapters/postgres.js'
import { redisStore } from '../adapters/redis.js'
import type { KeyStore } from '../src/store.js'
import { keyvStore } from '../src/stores/keyv.js'
import { memoryStore } from '../src/stores/memory.js'
import { freePort, wipeRedisNamespace as wipeNamespace } from '../tests/helpers/servers.js'

/** The stores the suite measures. */
export type StoreKind = 'memory' | 'keyv' | 'redis' | 'postgres'

/** Every store kind, in the order the tables list them. */
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'keyv', 'redis', 'postgres']

/** How the tables name each store. */
export const STORE_LABELS: Record<StoreKind, string> = {
	memory: 'memoryStore',
	keyv: 'keyvStore(new Keyv())',
	redis: 'redisStore',
	postgres: 'postgresStore',
}

/** A store opened for a benchmark, with what it takes to remove every trace of it. */
export interface BenchStore {
	readonly kind: StoreKind
	readonly store: KeyStore
	/** Queries sent through the PostgreSQL pool so far (0 for other stores). */
	queries(): number
	/** Closes the store's connections and deletes its namespace, schema or table. */
	close(): Promise<void>
}

/** Where the server stores live, and the names a store of this run may use. */
export interface StorePlace {
	readonly redisUrl: string
	readonly databaseUrl: string
	/** A Redis namespace, or a PostgreSQL schema, no other run uses: see {@link uniqueName}. */
	readonly name: string
}

/**
 * A name for a namespace or schema no other run uses: lowercase, a valid SQL identifier.
 *
 * @param label - what it is for, lowercase letters and digits
 * @returns `kwbench_<label>_<8 hex digits>`
 * @example
 * ```ts
 * uniqueName('verify') // 'kwbench_verify_1a2b3c4d'
 * ```
 */
export function uniqueName(label: string): string {
	return `kwbench_${label}_${randomUUID().slice(0, 8)}`
}

/**
 * Opens a store of one kind on a namespace (Redis) or schema (PostgreSQL) of its own.
 *
 * @param kind - which store
 * @param place - server URLs and the namespace or schema name
 * @returns the {@link BenchStore}; call `close()` when done, also after a failure
 * @throws whatever the driver throws when a server cannot be reached
 * @example
 * ```ts
 * const opened = await openStore('redis', { redisUrl, databaseUrl, name: uniqueName('verify') })
 * try { … } finally { await opened.close() }
 * ```
 */
export async function openStore(kind: StoreKind, place: StorePlace): Promise<BenchStore> {
	switch (kind) {
		case 'memory':
			return { kind, store: memoryStore(), queries: () => 0, close: async () => {} }
		case 'keyv':
			return { kind, store: keyvStore(new Keyv()), queries: () => 0, close: async () => {} }
		case 'redis': {
			const store = redisStore({ url: place.redisUrl, namespace: place.name, timeout: '10s' })
			return {
				kind,
				store,
				queries: () => 0,
				async close() {
					await store.close()
					await wipeRedisNamespace(place.redisUrl, place.name)
				},
			}
		}
		case 'postgres': {
			const pool = countingPool(place.databaseUrl)
			const store = postgresStore({ pool, schema: place.name, timeout: '30s' })
			return {
				kind,
				store,
				queries: () => pool.count,
				async close() {
					await dropSchema(pool.real, place.name).finally(() => pool.real.end())
				},
			}
		}
	}
}

/** A `pg.Pool` and a wrapper around it that counts the statements the store sends. */
export interface CountingPool {
	/** The real pool (end it when done). */
	readonly real: pg.Pool
	/** Statements sent through `query()` so far. */
	readonly count: number
	query(query: { text: string; values: readonly unknown[] }): Promise<pg.QueryResult>
	connect(): Promise<pg.PoolClient>
}

/**
 * A pool for `postgresStore({ pool })` that counts every statement sent through `query()` (every
 * store call but `migrate()`, which uses `connect()`), and stays open when a connection drops.
 *
 * @param url - the PostgreSQL URL
 * @returns the {@link CountingPool}
 * @example
 * ```ts
 * const pool = countingPool(databaseUrl)
 * const store = postgresStore({ pool, schema: uniqueName('x') })
 * ```
 */
export function countingPool(url: string): CountingPool {
	const real = new pg.Pool({ connectionString: url, max: 10 })
	real.on('error', () => {})
	let count = 0
	return {
		real,
		get count() {
			return count
		},
		query(query) {
			count++
			return real.query(query as pg.QueryConfig)
		},
		connect: () => real.connect(),
	}
}

/**
 * Drops a schema and everything in it.
 *
 * @param pool - a pool on the database
 * @param schema - a name from {@link uniqueName} (never a user-supplied one)
 * @returns once it is gone
 * @example
 * ```ts
 * await dropSchema(pool, 'kwbench_verify_1a2b3c4d')
 * ```
 */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
	if (!/^kwbench_[a-z0-9_]+$/.test(schema)) throw new Error(`refusing to drop schema ${schema}: not a bench schema`)
	await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

/**
 * Deletes every key of a namespace (`<namespace>:*`) on a Redis server.
 *
 * @param url - the Redis URL
 * @param namespace - a name from {@link uniqueName}
 * @returns once the keys are gone
 * @example
 * ```ts
 * await wipeRedisNamespace(redisUrl, 'kwbench_verify_1a2b3c4d')
 * ```
 */
export async function wipeRedisNamespace(url: string, namespace: string): Promise<void> {
	if (!namespace.startsWith('kwbench_')) throw new Error(`refusing to wipe ${namespace}: not a bench namespace`)
	await wipeNamespace(url, namespace)
}

export { freePort }

/** A redis-server of this run's own, on a free loopback port. */
export interface PrivateRedis {
	readonly url: string
	/** Total commands the server ran so far, from `INFO commandstats`, not counting `INFO` itself. */
	commands(): Promise<number>
	/** Stops the server. */
	stop(): Promise<void>
}

/**
 * Starts a private redis-server (no persistence) so that `INFO commandstats` counts only this
 * run's commands: the shared server has other clients. Answers `undefined` when there is no
 * `redis-server` binary.
 *
 * @returns the {@link PrivateRedis}, or `undefined`
 * @example
 * ```ts
 * const redis = await startPrivateRedis()
 * const before = await redis?.commands()
 * ```
 */
export async function startPrivateRedis(): Promise<PrivateRedis | undefined> {
	const port = await freePort()
	const url = `redis://127.0.0.1:${port}`
	let child: ChildProcess
	try {
		child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
			stdio: 'ignore',
		})
		await new Promise<void>((resolve, reject) => {
			child.once('spawn', resolve)
			child.once('error', reject)
		})
	} catch {
		return undefined
	}
	const stats = createClient({ url, socket: { reconnectStrategy: false } })
	stats.on('error', () => {})
	for (let attempt = 0; ; attempt++) {
		try {
			await stats.connect()
			break
		} catch (error) {
			if (attempt > 100) {
				child.kill('SIGKILL')
				throw error
			}
			await new Promise((resolve) => setTimeout(resolve, 50))
		}
	}
	return {
		url,
		async commands() {
			const info = await stats.info('commandstats')
			let total = 0
			for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
				if (match[1] !== 'info') total += Number(match[2])
			}
			return total
		},
		async stop() {
			await stats.close().catch(() => undefined)
			const exited = new Promise((resolve) => child.once('exit', resolve))
			child.kill('SIGKILL')
			await exited
		},
	}
}

/**
 * Starts a TypeScript file of `bench/` in a child Node.js process (through tsx), with an IPC channel.
 * Set `BENCH_CPU_PROF=<dir>` to write a CPU profile of every child into that directory.
 *
 * @param file - the file, relative to `bench/`, such as `'http-server.ts'`
 * @param args - its command-line arguments
 * @param nodeOptions - extra Node.js flags, such as `--expose-gc`
 * @returns the child process
 * @example
 * ```ts
 * const child = startChild('http-server.ts', [JSON.stringify(config)])
 * ```
 */
export function startChild(file: string, args: readonly string[], nodeOptions: readonly string[] = []): ChildProcess {
	const path = fileURLToPath(new URL(file, import.meta.url))
	const profile = process.env.BENCH_CPU_PROF
	const flags = [...nodeOptions, ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [])]
	return spawn(process.execPath, [...flags, '--import', 'tsx', path, ...args], {
		stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
	})
}

/** CPUs for the load generator and for the servers under load, when they can be kept apart. */
export interface CpuPinning {
	/** The runner's CPUs while it generates load, as a `taskset` list (`'0'`). */
	readonly runner: string
	/** The servers' CPUs (`'1'`). */
	readonly servers: string
	/** Pins every thread of a running server process to {@link CpuPinning.servers}. */
	pinServer(pid: number): void
	/** Pins the runner's threads to {@link CpuPinning.runner}; answers how to undo it. */
	pinRunner(): () => void
	/** What the docs say about it. */
	readonly description: string
}

/**
 * Keeps the load generator and the server under load on different CPUs, so neither takes the
 * other's core and the scheduler does not move them around between runs: on a 2-core machine the
 * runner (autocannon) gets CPU 0 and each server the last CPU. Redis and PostgreSQL are left where
 * the system puts them. `undefined` where that cannot be done: not Linux, fewer than two CPUs, or
 * no `taskset` (util-linux); the benchmark then runs unpinned and says so.
 */
export function cpuPinning(): CpuPinning | undefined {
	const cpus = availableParallelism()
	if (process.platform !== 'linux' || cpus < 2) return undefined
	// "pid 123's current affinity list: 0,1": what the runner gets back afterwards.
	const current = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' })
	const original = current.status === 0 ? /list:\s*(\S+)/.exec(current.stdout)?.[1] : undefined
	if (original === undefined) return undefined
	const runner = cpus === 2 ? '0' : `0-${cpus - 2}`
	const servers = String(cpus - 1)
	const pin = (pid: number, list: string) => {
		spawnSync('taskset', ['-a', '-c', '-p', list, String(pid)], { stdio: 'ignore' })
	}
	return {
		runner,
		servers,
		pinServer: (pid) => pin(pid, servers),
		pinRunner() {
			pin(process.pid, runner)
			return () => pin(process.pid, original)
		},
		description: `the load generator runs on CPU ${runner} and each server on CPU ${servers} (\`taskset\`)`,
	}
}

/**
 * The next message a child sends, or a rejection when it exits first or takes longer than `ms`.
 *
 * @param child - a child started with {@link startChild}
 * @param ms - how long to wait
 * @returns the message
 * @example
 * ```ts
 * const ready = await nextMessage<{ port: number }>(child, 30_000)
 * ```
 */
export function nextMessage<T>(child: ChildProcess, ms: number): Promise<T> {
	return new Promise<T>((resolve, reject) => {
		const timer = setTimeout(() => done(new Error(`the child process sent nothing within ${ms} ms`)), ms)
		const onMessage = (message: unknown) => done(undefined, message as T)
		const onExit = (code: number | null) => done(new Error(`the child process exited (code ${code}) before answering`))
		const done = (error: Error | undefined, message?: T) => {
			clearTimeout(timer)
			child.off('message', onMessage)
			child.off('exit', onExit)
			if (error) reject(error)
			else resolve(message as T)
		}
		child.on('message', onMessage)
		child.on('exit', onExit)
	})
}

/**
 * Asks a child to finish (a `'stop'` message), and kills it if it has not exited within `ms`.
 *
 * @param child - a child started with {@link startChild}
 * @param ms - how long it may take
 * @returns once it has exited
 * @example
 * ```ts
 * await stopChild(child)
 * ```
 */
export async function stopChild(child: ChildProcess, ms = 10_000): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
	if (child.connected) child.send('stop', () => {}) // a child that is already leaving may have closed the channel
	const timer = setTimeout(() => child.kill('SIGKILL'), ms)
	await exited
	clearTimeout(timer)
}

/**
 * Runs the built `keyward` binary as a user would, and seeds stores through the library.
 * `npm test` builds dist/ before vitest runs; alone, run `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import KeyvSqlite from '@keyv/sqlite'
import Keyv from 'keyv'
import { createKeyward, type KeyStore, keyvStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'
import pg from 'pg'
import { serverUrl, uniqueNamespace, wipeRedisNamespace } from '../helpers/servers.js'

export const root = fileURLToPath(new URL('../..', import.meta.url))
export const cliPath = join(root, 'dist', 'cli.js')

/** Fails with what to do when the binary has not been built. */
export function requireBuiltCli(): void {
	if (!existsSync(cliPath)) {
		throw new Error(`${cliPath} is missing: run npm run build first (npm test builds before running vitest)`)
	}
}

export interface CliRun {
	readonly code: number | null
	readonly signal: NodeJS.Signals | null
	readonly stdout: string
	readonly stderr: string
}

export interface CliRunOptions {
	/** Extra environment variables (added to a minimal one: PATH and HOME only, as cron gives). */
	readonly env?: Record<string, string>
	/** Written to stdin, which is then closed. */
	readonly input?: string
	readonly cwd?: string
	/** The command to run instead of `node dist/cli.js`, such as a `node_modules/.bin/keyward` symlink. */
	readonly command?: readonly string[]
	/** Called once the process is spawned. */
	readonly onSpawn?: (child: ChildProcess) => void
	/** Kill the process (and fail) after this long. */
	readonly timeoutMs?: number
}

/** Runs `keyward <args>` in a fresh Node process and collects its output. */
export function keyward(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
	requireBuiltCli()
	const [command, ...prefix] = options.command ?? [process.execPath, cliPath]
	return new Promise((resolve, reject) => {
		const child = spawn(command as string, [...prefix, ...args], {
			cwd: options.cwd ?? root,
			env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env },
			stdio: ['pipe', 'pipe', 'pipe'],
		})
		let stdout = ''
		let stderr = ''
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
		const timer = setTimeout(() => {
			child.kill('SIGKILL')
			reject(new Error(`keyward ${args.join(' ')} did not exit within ${options.timeoutMs ?? 30_000} ms\n${stderr}`))
		}, options.timeoutMs ?? 30_000)
		child.on('error', reject)
		child.on('close', (code, signal) => {
			clearTimeout(timer)
			resolve({ code, signal, stdout, stderr })
		})
		child.stdin.end(options.input ?? '')
		options.onSpawn?.(child)
	})
}

/** A temp dir with `node_modules/.bin/keyward` linked to the built binary, as `npm install keyward` makes it. */
export function binLink(): { dir: string; bin: string; remove: () => void } {
	requireBuiltCli()
	const dir = mkdtempSync(join(tmpdir(), 'keyward-bin-'))
	mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
	const bin = join(dir, 'node_modules', '.bin', 'keyward')
	symlinkSync(cliPath, bin)
	return { dir, bin, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A store the CLI can reach by URL, opened here through the library the way an app would. */
export interface StoreCase {
	readonly name: 'sqlite' | 'redis' | 'postgres'
	/** The URL given to `--store`. */
	readonly url: string
	readonly namespace: string
	/** The same store, opened in this process. */
	readonly store: KeyStore
	/** Closes the store and deletes everything the test wrote. */
	cleanup(): Promise<void>
}

/** A sqlite file in a temp dir, opened as an app would: `keyvStore(new Keyv({ store: new KeyvSqlite(uri), throwOnErrors: true }))`. */
export function sqliteCase(label: string, options: { defaultNamespace?: boolean } = {}): StoreCase {
	const dir = mkdtempSync(join(tmpdir(), 'keyward-cli-'))
	const file = join(dir, 'keys.db')
	// The file is this test's alone, so it may use the default namespace that a bare `keyward sweep` sweeps.
	const namespace = options.defaultNamespace ? 'keyward' : uniqueNamespace(label)
	const keyv = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), throwOnErrors: true })
	return {
		name: 'sqlite',
		url: `sqlite://${file}`,
		namespace,
		store: keyvStore(keyv, { namespace }),
		async cleanup() {
			await keyv.disconnect()
			rmSync(dir, { recursive: true, force: true })
		},
	}
}

export function redisCase(label: string): StoreCase | undefined {
	const url = serverUrl('REDIS_URL')
	if (url === undefined) return undefined
	const namespace = uniqueNamespace(label)
	const store = redisStore({ url, namespace })
	return {
		name: 'redis',
		url,
		namespace,
		store,
		async cleanup() {
			await store.close()
			await wipeRedisNamespace(url, namespace)
		},
	}
}

export function postgresCase(label: string): StoreCase | undefined {
	const url = serverUrl('DATABASE_URL')
	if (url === undefined) return undefined
	const namespace = uniqueNamespace(label)
	const store = postgresStore({ url, namespace })
	return {
		name: 'postgres',
		url,
		namespace,
		store,
		async cleanup() {
			await store.close()
			const client = new pg.Client({ connectionString: url })
			await client.connect()
			try {
				await client.query('DELETE FROM public.keyward_keys WHERE namespace = $1', [namespace])
			} finally {
				await client.end()
			}
		},
	}
}

/** Every store case available here (all three in CI, where a missing server URL fails). */
export function storeCases(label: string): [StoreCase['name'], () => StoreCase][] {
	const cases: [StoreCase['name'], () => StoreCase][] = [['sqlite', () => sqliteCase(label)]]
	if (serverUrl('REDIS_URL') !== undefined) cases.push(['redis', () => redisCase(label) as StoreCase])
	if (serverUrl('DATABASE_URL') !== undefined) cases.push(['postgres', () => postgresCase(label) as StoreCase])
	return cases
}

/**
 * Issues keys through the library: `expired` that expired an hour ago, `active` that expire in a day,
 * and `revoked` that were revoked `revokedDaysAgo` days ago.
 */
export async function seed(
	store: KeyStore,
	counts: { expired?: number; active?: number; revoked?: number; revokedDaysAgo?: number; owner?: string },
): Promise<{ expired: string[]; active: string[]; revoked: string[] }> {
	const now = Date.now()
	const ownerId = counts.owner ?? 'owner_1'
	const past = createKeyward({ store, prefix: 'sk', clock: () => new Date(now - 2 * 3_600_000) })
	const present = createKeyward({ store, prefix: 'sk' })
	const longAgo = new Date(now - (counts.revokedDaysAgo ?? 100) * 86_400_000)
	const issueMany = async (n: number, issue: () => Promise<string>) => {
		const ids: string[] = []
		for (let i = 0; i < n; i += 100) {
			ids.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, issue))))
		}
		return ids
	}
	const expired = await issueMany(
		counts.expired ?? 0,
		async () => (await past.issue({ ownerId, expiresIn: '1h' })).record.id,
	)
	const active = await issueMany(
		counts.active ?? 0,
		async () => (await present.issue({ ownerId, expiresIn: '1d' })).record.id,
	)
	const revoked = await issueMany(counts.revoked ?? 0, async () => {
		const { record } = await createKeyward({ store, clock: () => new Date(longAgo.getTime() - 1000) }).issue({
			ownerId,
		})
		await present.revoke(record.id, { now: longAgo })
		return record.id
	})
	return { expired, active, revoked }
}

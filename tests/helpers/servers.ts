/**
 * Where the test servers are. Suites read REDIS_URL and DATABASE_URL. In CI (CI=true) a missing
 * URL is an error, so a suite can never be skipped there; locally it skips with a message that
 * says how to run it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@keyv/redis'

export function serverUrl(name: 'REDIS_URL' | 'DATABASE_URL'): string | undefined {
	const url = process.env[name]
	if (url) return url
	if (process.env.CI) throw new Error(`${name} is not set: CI must run the ${name} suites (.ci/run sets it)`)
	const example = name === 'REDIS_URL' ? 'redis://127.0.0.1:6379' : 'postgres://root@127.0.0.1:5432/test'
	console.warn(`skipping the ${name} suites: run them with ${name}=${example} npm test`)
	return undefined
}

/** A namespace no other test file or run uses. */
export function uniqueNamespace(label: string): string {
	return `kwtest_${label}_${randomUUID().slice(0, 8)}`
}

/** Deletes every key of a namespace (`<namespace>:*`) on a Redis server. */
export async function wipeRedisNamespace(url: string, namespace: string): Promise<void> {
	const client = createClient({ url })
	await client.connect()
	for await (const keys of client.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) {
		if (keys.length > 0) await client.unlink(keys)
	}
	await client.close()
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
	const server = createServer()
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	const { port } = server.address() as { port: number }
	await new Promise((resolve) => server.close(resolve))
	return port
}

/**
 * A redis-server on a loopback port, with its data in a temporary directory: `stop()` shuts it down
 * with `SHUTDOWN SAVE` (or SIGTERM), and `start()` brings it back on the same port with the same data.
 */
export class PrivateRedis {
	process: ChildProcess | undefined
	readonly dir = mkdtempSync(join(tmpdir(), 'kw-redis-'))
	constructor(readonly port: number) {}
	get url() {
		return `redis://127.0.0.1:${this.port}`
	}
	async start(): Promise<void> {
		this.process = spawn(
			'redis-server',
			['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no'],
			{ stdio: 'ignore' },
		)
		for (let i = 0; i < 200; i++) {
			const client = createClient({ url: this.url, socket: { reconnectStrategy: false } })
			client.on('error', () => {})
			try {
				await client.connect()
				await client.ping()
				await client.close()
				return
			} catch {
				await new Promise((resolve) => setTimeout(resolve, 25))
			}
		}
		throw new Error(`redis-server did not start on port ${this.port}`)
	}
	/**
	 * Stops the server; resolves once the process has exited. `shutdown` saves the data for the next
	 * `start()`; `sigterm` and `sigkill` (a crash) do not, so the server comes back empty.
	 */
	async stop(how: 'shutdown' | 'sigterm' | 'sigkill' = 'shutdown'): Promise<void> {
		const proc = this.process
		if (proc === undefined || proc.exitCode !== null) return
		const exited = new Promise((resolve) => proc.once('exit', resolve))
		if (how === 'sigterm' || how === 'sigkill') {
			proc.kill(how === 'sigterm' ? 'SIGTERM' : 'SIGKILL') // redis saves on SIGTERM only with save points; the data dir has none
		} else {
			const client = createClient({ url: this.url, socket: { reconnectStrategy: false } })
			client.on('error', () => {})
			await client.connect()
			await client.sendCommand(['SHUTDOWN', 'SAVE']).catch(() => undefined) // the connection drops: expected
			try {
				client.destroy()
			} catch {
				// already closed by the server going away
			}
		}
		await exited
	}
	async dispose(): Promise<void> {
		const proc = this.process
		if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
			proc.kill('SIGCONT') // in case a test left it frozen
			const exited = new Promise((resolve) => proc.once('exit', resolve))
			proc.kill('SIGKILL')
			await exited
		}
		rmSync(this.dir, { recursive: true, force: true })
	}
}

/** Helpers shared by the scheduler recipe tests. */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createClient } from '@keyv/redis'
import type { KeyStore } from 'keyward'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A key-shaped string of the `sk` prefix: no log line may hold one. */
export const KEY_SHAPED = /sk_[1-9A-HJ-NP-Za-km-z]{32}/

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` until it answers something other than `undefined`, or gives up after `ms`. */
export async function waitFor<T>(
	what: string,
	probe: () => Promise<T | undefined> | T | undefined,
	ms = 10_000,
): Promise<T> {
	const deadline = Date.now() + ms
	for (;;) {
		const value = await probe()
		if (value !== undefined) return value
		if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`)
		await sleep(25)
	}
}

/** How a wrapped store's `moveExpired` was called: the fault a test cannot make for real is a slow store. */
export interface MoveProbe {
	calls: number
	active: number
	maxActive: number
}

/** Wraps a store so that every `moveExpired` call takes at least `delayMs`, and counts overlapping calls. */
export function slowMoves(inner: KeyStore, delayMs: number): { store: KeyStore; probe: MoveProbe } {
	const probe: MoveProbe = { calls: 0, active: 0, maxActive: 0 }
	const store: KeyStore = {
		...inner,
		name: inner.name,
		capabilities: inner.capabilities,
		async moveExpired(query) {
			probe.calls++
			probe.active++
			probe.maxActive = Math.max(probe.maxActive, probe.active)
			try {
				await sleep(delayMs)
				return await inner.moveExpired(query)
			} finally {
				probe.active--
			}
		},
	}
	return { store, probe }
}

/** A recipe run as a user runs it: `node --import tsx <file>`, with its output collected line by line. */
export class RecipeProcess {
	readonly child: ChildProcess
	readonly lines: string[] = []
	readonly exited: Promise<number | null>
	private partial = ''

	constructor(file: string, env: Record<string, string>) {
		this.child = spawn(process.execPath, ['--import', 'tsx', file], {
			cwd: ROOT,
			env: { ...process.env, ...env },
			stdio: ['ignore', 'pipe', 'pipe'],
		})
		const collect = (chunk: Buffer) => {
			const text = this.partial + chunk.toString('utf8')
			const parts = text.split('\n')
			this.partial = parts.pop() ?? ''
			this.lines.push(...parts)
		}
		this.child.stdout?.on('data', collect)
		this.child.stderr?.on('data', collect)
		this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
	}

	/** Waits for a line matching `pattern` and answers it. */
	line(pattern: RegExp, ms = 20_000): Promise<string> {
		return waitFor(
			`a line matching ${pattern} (got: ${this.lines.slice(-5).join(' | ')})`,
			() => this.lines.find((line) => pattern.test(line)),
			ms,
		)
	}

	/** Sends SIGTERM and answers the exit code (it must exit by itself, or this times out). */
	async terminate(ms = 20_000): Promise<number | null> {
		if (this.child.exitCode === null) this.child.kill('SIGTERM')
		let timer: NodeJS.Timeout | undefined
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new Error(`the recipe did not exit within ${ms} ms of SIGTERM`)), ms)
		})
		try {
			return await Promise.race([this.exited, timeout])
		} finally {
			clearTimeout(timer)
		}
	}

	/** Kills the process if it is still running (cleanup after a failed test). */
	kill(): void {
		if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
	}
}

/**
 * Deletes every Redis key that starts with `prefix` (this file's namespaces, queues and reminder
 * entries), in one pass over a server other test files fill too.
 */
export async function wipeRedisPrefix(url: string, prefix: string): Promise<number> {
	const client = createClient({ url })
	await client.connect()
	let deleted = 0
	try {
		for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 10_000 })) {
			if (keys.length > 0) deleted += await client.unlink(keys)
		}
	} finally {
		await client.close()
	}
	return deleted
}

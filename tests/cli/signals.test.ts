/**
 * SIGTERM and SIGINT during a long sweep (many keys, --batch-size 1) on real Redis and PostgreSQL:
 * the sweep stops between batches, reports what it did, exits 143/130, leaves every key in exactly
 * one set, and a second sweep finishes the job.
 */
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyward, postgresCase, redisCase, requireBuiltCli, type StoreCase, seed } from './support.js'

beforeAll(requireBuiltCli)

const KEYS = 4000
const FAR = new Date(Date.now() + 365 * 86_400_000)

const cases: [string, NodeJS.Signals, number, () => StoreCase | undefined][] = [
	['redis', 'SIGTERM', 143, () => redisCase('cli_signal')],
	['postgres', 'SIGINT', 130, () => postgresCase('cli_signal')],
]

describe.each(cases)('keyward sweep on %s stopped by %s', (_name, signal, exitCode, make) => {
	const maybe = make()
	if (maybe === undefined) return
	const store: StoreCase = maybe
	let ids: string[] = []
	beforeAll(async () => {
		ids = (await seed(store.store, { expired: KEYS })).expired
	}, 120_000)
	afterAll(async () => store.cleanup(), 60_000)

	const blacklisted = () => store.store.count({ blacklistedBefore: FAR })

	it('stops between batches, reports what it did, and a second sweep finishes the job', async () => {
		let sent = false
		const watch = async (child: ChildProcess) => {
			// Signal once the sweep has visibly started moving keys, and well before it can finish.
			while (child.exitCode === null && child.signalCode === null) {
				if ((await blacklisted()) > 0) {
					sent = child.kill(signal)
					return
				}
				await new Promise((resolve) => setTimeout(resolve, 10))
			}
		}
		let watching: Promise<void> = Promise.resolve()
		const run = await keyward(['sweep', '--store', store.url, '--namespace', store.namespace, '--batch-size', '1'], {
			onSpawn: (child) => {
				watching = watch(child)
			},
			timeoutMs: 90_000,
		})
		await watching
		expect(sent, 'the sweep finished before it could be signalled').toBe(true)
		expect(run.code, run.stderr).toBe(exitCode)
		// One line, for a log: stderr stays empty without a terminal.
		expect(run.stderr).toBe('')
		expect(run.stdout.split('\n')).toHaveLength(2)
		const line = new RegExp(`^keyward sweep: interrupted expired=(\\d+) .*aborted=true .* signal=${signal}$`, 'm').exec(
			run.stdout,
		)
		expect(line, run.stdout).not.toBeNull()
		const first = Number(line?.[1])
		expect(first).toBeGreaterThan(0)
		expect(first).toBeLessThan(KEYS)

		// Every key is in exactly one set, and the report counted exactly the keys that moved.
		expect(await blacklisted()).toBe(first)
		expect(await store.store.count({ expiredBy: new Date() })).toBe(KEYS - first)
		const records = await Promise.all(ids.map((id) => store.store.getById(id)))
		expect(records.filter((r) => r?.reason === 'expired')).toHaveLength(first)
		expect(records.filter((r) => r !== null && r.blacklistedAt === null)).toHaveLength(KEYS - first)

		const second = await keyward(['sweep', '--store', store.url, '--namespace', store.namespace, '--json'])
		expect(second.code, second.stderr).toBe(0)
		expect(JSON.parse(second.stdout)).toMatchObject({ expired: KEYS - first, aborted: false })
		expect(await blacklisted()).toBe(KEYS)
		expect(await store.store.count({ expiredBy: new Date() })).toBe(0)
	}, 120_000)
})

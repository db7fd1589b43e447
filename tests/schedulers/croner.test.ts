/**
 * The croner recipe (examples/schedulers/croner.ts) on real timers and a seconds pattern: ticks sweep,
 * a slow sweep makes ticks skip instead of overlapping, stop() interrupts a sweep between batches and
 * waits for it, and the recipe run as a process stops cleanly on SIGTERM.
 */
import { createKeyward, isKeywardError, memoryStore, type SweepReport } from 'keyward'
import { testRecord } from 'keyward/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { type Schedule, scheduleSweeps } from '../../examples/schedulers/croner.js'
import { KEY_SHAPED, RecipeProcess, sleep, slowMoves, waitFor } from './support.js'

const EVERY_SECOND = '* * * * * *'
const schedules: Schedule[] = []
const processes: RecipeProcess[] = []

afterEach(async () => {
	await Promise.all(schedules.splice(0).map((schedule) => schedule.stop()))
	for (const recipe of processes.splice(0)) recipe.kill()
})

describe('croner recipe › scheduleSweeps', () => {
	it('sweeps keys that expired since the last tick, and logs one line per run', async () => {
		const keyward = createKeyward({ prefix: 'sk' })
		const issued = await Promise.all([1, 2, 3].map((n) => keyward.issue({ ownerId: `user_${n}`, expiresIn: '300ms' })))
		const lasting = await keyward.issue({ ownerId: 'user_4', expiresIn: '1h' })
		const lines: string[] = []
		const reports: SweepReport[] = []
		schedules.push(
			scheduleSweeps(keyward, {
				pattern: EVERY_SECOND,
				log: (line) => lines.push(line),
				onReport: (report) => reports.push(report),
			}),
		)

		await waitFor('a tick that sweeps the three keys', () =>
			reports.reduce((sum, report) => sum + report.expired, 0) === 3 ? true : undefined,
		)
		for (const { record } of issued) {
			expect(await keyward.get(record.id)).toMatchObject({ reason: 'expired', blacklistedAt: expect.any(Date) })
		}
		expect((await keyward.get(lasting.record.id))?.blacklistedAt).toBeNull()
		expect(lines).toHaveLength(reports.length)
		expect(lines.some((line) => /^keyward sweep: 3 expired, 0 purged, 3 scanned in [\d.]+ ms$/.test(line))).toBe(true)
	})

	it('skips a tick while a slow sweep is still going: never two sweeps at once', async () => {
		const { store, probe } = slowMoves(memoryStore(), 2_500)
		const keyward = createKeyward({ store, prefix: 'sk' })
		const lines: string[] = []
		const reports: SweepReport[] = []
		schedules.push(
			scheduleSweeps(keyward, {
				pattern: EVERY_SECOND,
				log: (line) => lines.push(line),
				onReport: (report) => reports.push(report),
			}),
		)

		await waitFor('two finished slow sweeps', () => (reports.length >= 2 ? true : undefined), 30_000)
		const skipped = lines.filter((line) => line.startsWith('keyward sweep: skipped a tick'))
		expect(skipped.length).toBeGreaterThanOrEqual(2) // each 2.5 s sweep spans at least two 1 s ticks
		expect(probe.maxActive).toBe(1)
		expect(lines.filter((line) => line.startsWith('keyward sweep failed'))).toEqual([])
	}, 40_000)

	it('stop() aborts a running sweep between batches, waits for it, and ends the schedule', async () => {
		const { store, probe } = slowMoves(memoryStore(), 300)
		for (let i = 0; i < 10; i++) await store.insert(testRecord({ expiresAt: new Date(Date.now() - 60_000) }))
		const keyward = createKeyward({ store, prefix: 'sk' })
		const lines: string[] = []
		const reports: SweepReport[] = []
		const schedule = scheduleSweeps(keyward, {
			pattern: EVERY_SECOND,
			batchSize: 1,
			log: (line) => lines.push(line),
			onReport: (report) => reports.push(report),
		})
		schedules.push(schedule)

		await waitFor('the first batch to start', () => (probe.calls > 0 ? true : undefined))
		await schedule.stop()
		expect(probe.active).toBe(0) // stop() waited for the batch in progress
		expect(reports).toHaveLength(1)
		const [report] = reports
		expect(report?.aborted).toBe(true)
		expect(report?.expired).toBeGreaterThanOrEqual(1)
		expect(report?.expired).toBeLessThan(10)
		expect(await store.count({ expiredBy: new Date() })).toBe(10 - (report?.expired ?? 0)) // nothing half-moved
		expect(lines.at(-1)).toMatch(/\(stopped early: the next sweep finishes the job\)$/)

		expect(schedule.job.isStopped()).toBe(true)
		const calls = probe.calls
		await sleep(1_500)
		expect(probe.calls).toBe(calls) // no tick after stop()
		expect(await schedule.runNow()).toBe(false)
		await schedule.stop() // twice is fine
	})

	it('logs a failing sweep and keeps the schedule going', async () => {
		const inner = memoryStore()
		let failures = 1
		const store = {
			...inner,
			async moveExpired(query: { now: Date; limit: number }) {
				if (failures-- > 0) throw new Error('connection reset')
				return inner.moveExpired(query)
			},
		}
		const keyward = createKeyward({ store, prefix: 'sk' })
		const lines: string[] = []
		const schedule = scheduleSweeps(keyward, { pattern: EVERY_SECOND, log: (line) => lines.push(line) })
		schedules.push(schedule)
		expect(await schedule.runNow()).toBe(true)
		expect(lines[0]).toMatch(
			/^keyward sweep failed: the memory key store failed during sweep.*\[keyward:store_unavailable\]$/,
		)
		await waitFor('a later tick that succeeds', () => lines.find((line) => line.startsWith('keyward sweep: 0 expired')))
	})

	it('refuses bad options at startup, not at the first tick', () => {
		const keyward = createKeyward()
		const error = (fn: () => unknown) => {
			try {
				fn()
			} catch (caught) {
				return caught
			}
			throw new Error('expected a throw')
		}
		const typo = error(() => scheduleSweeps(keyward, { retension: '30d' } as never))
		expect(isKeywardError(typo, 'invalid_option')).toBe(true)
		expect((typo as Error).message).toContain('"retension" is not an option of scheduleSweeps()')
		expect(
			isKeywardError(
				error(() => scheduleSweeps(keyward, { retention: '30 days' as never })),
				'invalid_option',
			),
		).toBe(true)
		expect(
			isKeywardError(
				error(() => scheduleSweeps(keyward, { batchSize: 0 })),
				'invalid_option',
			),
		).toBe(true)
		expect(error(() => scheduleSweeps(keyward, { pattern: 'every minute' }))).toBeInstanceOf(TypeError)
	})
})

describe('croner recipe › run as a process', () => {
	it('sweeps its demo keys on schedule, then stops cleanly on SIGTERM without printing a key', async () => {
		const recipe = new RecipeProcess('examples/schedulers/croner.ts', {
			SWEEP_PATTERN: EVERY_SECOND,
			REDIS_URL: '',
			DATABASE_URL: '',
		})
		processes.push(recipe)
		await recipe.line(/^sweeping memory .* on "\* \* \* \* \* \*"/, 60_000)
		await recipe.line(/^keyward sweep: 2 expired, 0 purged, 2 scanned/)
		expect(await recipe.terminate()).toBe(0)
		expect(recipe.lines).toContain('SIGTERM: stopping')
		expect(recipe.lines).toContain('stopped')
		expect(recipe.lines.filter((line) => KEY_SHAPED.test(line))).toEqual([])
	}, 90_000)
})

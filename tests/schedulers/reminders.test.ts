/**
 * The reminder recipe (examples/schedulers/reminders.ts) on real Redis: each key is reminded once per
 * expiry instant across runs and concurrent instances, new and extended keys get their reminder, keys
 * beyond the window or without expiry get none, a failed notice is retried, and no notice holds a key.
 */
import { createClient } from '@keyv/redis'
import { createKeyward, type IssuedKey, type Keyward } from 'keyward'
import { type RedisKeyStore, redisStore } from 'keyward/redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
	memoryReminderLog,
	type RedisReminderLog,
	type ReminderNotice,
	redisReminderLog,
	scheduleReminders,
	sendExpiryReminders,
} from '../../examples/schedulers/reminders.js'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'
import { KEY_SHAPED, RecipeProcess, waitFor, wipeRedisPrefix } from './support.js'

const redisUrl = serverUrl('REDIS_URL')
const DAY = 86_400_000

describe.skipIf(!redisUrl)('reminder recipe on real Redis', () => {
	const url = redisUrl as string
	// Every namespace of this file starts with one unique base, so one scan removes them all.
	const base = uniqueNamespace('remind')
	let worlds = 0
	const closers: (() => Promise<void>)[] = []

	/** A fresh world: its own key store and reminder log, on their own namespace. */
	function world(): { keyward: Keyward; store: RedisKeyStore; log: () => RedisReminderLog; namespace: string } {
		const namespace = `${base}-${++worlds}`
		const store = redisStore({ url, namespace })
		closers.push(() => store.close())
		return {
			keyward: createKeyward({ store, prefix: 'sk' }),
			store,
			namespace,
			log: () => {
				const log = redisReminderLog({ url, prefix: namespace })
				closers.push(() => log.close())
				return log
			},
		}
	}

	const issueIn = (keyward: Keyward, ownerId: string, inMs: number | null, name = ''): Promise<IssuedKey> =>
		keyward.issue({ ownerId, name, expiresAt: inMs === null ? null : new Date(Date.now() + inMs) })

	afterEach(async () => {
		for (const close of closers.splice(0)) await close()
	})

	afterAll(async () => {
		await wipeRedisPrefix(url, `${base}-`)
	}, 60_000)

	it('two runs notify each key in the window once; keys beyond it, without expiry or revoked get nothing', async () => {
		const { keyward, log } = world()
		const due = [await issueIn(keyward, 'u1', 2 * DAY, 'CI'), await issueIn(keyward, 'u2', 6 * DAY)]
		await issueIn(keyward, 'u3', 10 * DAY)
		await issueIn(keyward, 'u4', null)
		const revoked = await issueIn(keyward, 'u5', DAY)
		await keyward.revoke(revoked.record.id)
		const notices: ReminderNotice[] = []
		const reminders = log()
		const notify = (notice: ReminderNotice) => {
			notices.push(notice)
		}

		const first = await sendExpiryReminders(keyward, { within: '7d', reminders, notify })
		expect(first).toEqual({ due: 2, notified: 2, alreadyNotified: 0, failed: 0, aborted: false })
		expect(notices.map((notice) => notice.keyId)).toEqual(due.map(({ record }) => record.id)) // soonest first
		expect(notices[0]).toEqual({
			ownerId: 'u1',
			keyId: due[0]?.record.id,
			name: 'CI',
			hint: due[0]?.record.hint,
			expiresAt: due[0]?.record.expiresAt,
			replacedBy: null,
		})

		const second = await sendExpiryReminders(keyward, { within: '7d', reminders, notify })
		expect(second).toEqual({ due: 2, notified: 0, alreadyNotified: 2, failed: 0, aborted: false })
		expect(notices).toHaveLength(2)
	})

	it('notifies a key that entered the window since the last run, and only that one', async () => {
		const { keyward, log } = world()
		await issueIn(keyward, 'u1', 3 * DAY)
		const reminders = log()
		const notices: ReminderNotice[] = []
		const notify = (notice: ReminderNotice) => {
			notices.push(notice)
		}
		await sendExpiryReminders(keyward, { reminders, notify })
		const fresh = await issueIn(keyward, 'u2', 5 * DAY)
		const report = await sendExpiryReminders(keyward, { reminders, notify })
		expect(report).toMatchObject({ due: 2, notified: 1, alreadyNotified: 1 })
		expect(notices.at(-1)?.keyId).toBe(fresh.record.id)

		// A key further out comes into the window as time passes (the run's `now` moves on).
		const far = await issueIn(keyward, 'u3', 9 * DAY)
		const later = await sendExpiryReminders(keyward, { reminders, notify, now: new Date(Date.now() + 3 * DAY) })
		expect(later.notified).toBe(1)
		expect(notices.at(-1)?.keyId).toBe(far.record.id)
	})

	it('two instances running at once notify each key once', async () => {
		const { keyward, log } = world()
		const issued = await Promise.all(Array.from({ length: 30 }, (_, i) => issueIn(keyward, `u${i}`, DAY + i * 1000)))
		// The second instance: its own key store connection (and, below, its own reminder log connection).
		const otherStore = redisStore({ url, namespace: (keyward.store as RedisKeyStore).namespace })
		closers.push(() => otherStore.close())
		const instanceB = createKeyward({ store: otherStore, prefix: 'sk' })
		const notified: string[] = []
		const notify = async (notice: ReminderNotice) => {
			notified.push(notice.keyId)
			await new Promise((resolve) => setTimeout(resolve, 5)) // an e-mail takes a while
		}
		const [a, b] = await Promise.all([
			sendExpiryReminders(keyward, { reminders: log(), notify }),
			sendExpiryReminders(instanceB, { reminders: log(), notify }),
		])
		expect(a.notified + b.notified).toBe(30)
		expect(a.alreadyNotified + b.alreadyNotified).toBe(30)
		expect(notified.toSorted()).toEqual(issued.map(({ record }) => record.id).toSorted())
	})

	it('reminds again when the expiry moves (extended, or shortened by a rotation), and about the replacement', async () => {
		const { keyward, store, log } = world()
		const key = await issueIn(keyward, 'u1', 5 * DAY, 'deploy')
		const reminders = log()
		const notices: ReminderNotice[] = []
		const notify = (notice: ReminderNotice) => {
			notices.push(notice)
		}
		await sendExpiryReminders(keyward, { reminders, notify })
		expect(notices).toHaveLength(1)

		await store.update(key.record.id, { expiresAt: new Date(Date.now() + 6 * DAY) }) // extended
		expect((await sendExpiryReminders(keyward, { reminders, notify })).notified).toBe(1)
		expect(notices.at(-1)?.expiresAt.getTime()).toBeGreaterThan(notices[0]?.expiresAt.getTime() ?? 0)

		const replacement = await keyward.rotate(key.record.id, { gracePeriod: '1d', expiresIn: '4d' })
		const report = await sendExpiryReminders(keyward, { reminders, notify })
		expect(report.notified).toBe(2)
		const [old, fresh] = notices.slice(-2)
		expect(old).toMatchObject({ keyId: key.record.id, replacedBy: replacement.record.id })
		expect(fresh).toMatchObject({ keyId: replacement.record.id, replacedBy: null })
		expect((await sendExpiryReminders(keyward, { reminders, notify })).notified).toBe(0)
	})

	it('gives a failed notice back so the next run retries it, and keeps the claim until after the expiry', async () => {
		const { keyward, log, namespace } = world()
		const key = await issueIn(keyward, 'u1', 2 * DAY)
		const reminders = log()
		const lines: string[] = []
		let fail = true
		const notify = () => {
			if (fail) throw new Error('SMTP 451 try again later')
		}
		const first = await sendExpiryReminders(keyward, { reminders, notify, log: (line) => lines.push(line) })
		expect(first).toMatchObject({ notified: 0, failed: 1 })
		expect(lines).toEqual([`reminder to owner u1 about key ${key.record.id} failed: SMTP 451 try again later`])
		fail = false
		expect(await sendExpiryReminders(keyward, { reminders, notify })).toMatchObject({ notified: 1, failed: 0 })

		const client = createClient({ url })
		await client.connect()
		try {
			const entry = `${namespace}:reminded:${key.record.id}:${key.record.expiresAt?.getTime()}`
			const expireAt = await client.pExpireTime(entry)
			expect(expireAt).toBe((key.record.expiresAt?.getTime() ?? 0) + DAY) // keepFor: 1 day after the expiry
		} finally {
			await client.close()
		}
	})

	it('reads past a full page without missing keys that share an expiry instant', async () => {
		const { keyward, log } = world()
		const at = Date.now() + DAY
		const issued: IssuedKey[] = []
		for (const offset of [0, 1000, 2000, 2000, 2000, 3000, 4000, 5000]) {
			issued.push(await keyward.issue({ ownerId: 'u1', expiresAt: new Date(at + offset) }))
		}
		const notified: string[] = []
		const report = await sendExpiryReminders(keyward, {
			reminders: log(),
			pageSize: 3,
			notify: (notice) => {
				notified.push(notice.keyId)
			},
		})
		expect(report).toMatchObject({ due: 8, notified: 8 })
		expect(notified.toSorted()).toEqual(issued.map(({ record }) => record.id).toSorted())
	})

	it('stops the run when the reminder log is unreachable, and notifies nobody', async () => {
		const { keyward } = world()
		await issueIn(keyward, 'u1', DAY)
		const reminders = redisReminderLog({ url: 'redis://127.0.0.1:1', timeout: '300ms' })
		const notified: string[] = []
		const error = await sendExpiryReminders(keyward, {
			reminders,
			notify: (notice) => {
				notified.push(notice.keyId)
			},
		}).catch((caught: unknown) => caught)
		expect((error as Error).message).toMatch(/is unreachable \(no connection within 300 ms\)/)
		expect(notified).toEqual([])
		await reminders.close()
	})

	it('logs what it would e-mail, with the hint and never the key, on a croner schedule', async () => {
		const { keyward, log } = world()
		const key = await issueIn(keyward, 'u1', 2 * DAY, 'CI deploy key')
		const lines: string[] = []
		const schedule = scheduleReminders(keyward, {
			pattern: '* * * * * *',
			reminders: log(),
			log: (line) => lines.push(line),
		})
		try {
			await waitFor('two runs', () =>
				lines.filter((line) => line.startsWith('keyward reminders:')).length >= 2 ? true : undefined,
			)
		} finally {
			await schedule.stop()
		}
		const emails = lines.filter((line) => line.startsWith('would e-mail'))
		expect(emails).toEqual([
			`would e-mail owner u1: your API key "CI deploy key" (${key.record.hint}…, id ${key.record.id}) expires at ${key.record.expiresAt?.toISOString()}`,
		])
		expect(lines).toContain('keyward reminders: 1 keys expiring, 1 owners notified, 0 already notified, 0 failed')
		expect(lines).toContain('keyward reminders: 1 keys expiring, 0 owners notified, 1 already notified, 0 failed')
		expect(lines.some((line) => line.includes(key.key) || KEY_SHAPED.test(line))).toBe(false)
	})
})

describe('reminder recipe › memory log and options', () => {
	it('memoryReminderLog remembers within the process', async () => {
		const keyward = createKeyward({ prefix: 'sk' })
		await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		const reminders = memoryReminderLog()
		const notify = () => {}
		expect((await sendExpiryReminders(keyward, { reminders, notify })).notified).toBe(1)
		expect((await sendExpiryReminders(keyward, { reminders, notify })).notified).toBe(0)
	})

	it('refuses unknown options', async () => {
		const keyward = createKeyward()
		const reminders = memoryReminderLog()
		await expect(sendExpiryReminders(keyward, { reminders, whithin: '7d' } as never)).rejects.toMatchObject({
			code: 'invalid_option',
		})
		expect(() => redisReminderLog({ url: 'redis://x', keepfor: '1d' } as never)).toThrow(/"keepfor" is not an option/)
		expect(() => scheduleReminders(keyward, { reminders, within: '7 days' as never })).toThrow(/within/)
	})
})

describe.skipIf(!redisUrl)('reminder recipe › run as a process', () => {
	const namespace = uniqueNamespace('remindproc')
	let recipe: RecipeProcess

	beforeAll(() => {
		recipe = new RecipeProcess('examples/schedulers/reminders.ts', {
			REDIS_URL: redisUrl as string,
			DATABASE_URL: '',
			KEYWARD_NAMESPACE: namespace,
		})
	})

	afterAll(async () => {
		recipe.kill()
		await wipeRedisPrefix(redisUrl as string, `${namespace}:`)
	}, 60_000)

	it('reminds the owner of the two demo keys due within 7 days, then stops on SIGTERM', async () => {
		await recipe.line(/^keyward reminders: 2 keys expiring, 2 owners notified/, 60_000)
		expect(await recipe.terminate()).toBe(0)
		const emails = recipe.lines.filter((line) => line.startsWith('would e-mail'))
		expect(emails).toHaveLength(2)
		expect(emails[0]).toMatch(
			/^would e-mail owner user_42: your API key "CI deploy key" \(sk_\w{4}…, id [\w-]+\) expires at /,
		)
		expect(recipe.lines.filter((line) => KEY_SHAPED.test(line))).toEqual([])
	}, 90_000)
})

/**
 * Recipe: a daily job that warns owners before their keys expire, never twice for the same key.
 *
 *   const reminders = redisReminderLog({ url: process.env.REDIS_URL as string })
 *   const daily = scheduleReminders(keyward, { pattern: '0 9 * * *', within: '7d', reminders, notify: sendEmail })
 *
 * Each run lists the active keys expiring within the window (`keyward.expiring({ within })`) and, for
 * each, claims the reminder in Redis with `SET <prefix>:reminded:<key id>:<expiresAt ms> NX PXAT
 * <expiresAt + keepFor>` before notifying. Only the run that creates that entry notifies, so two runs,
 * or two instances running at once, notify each key once. The entry names the expiry instant: a key
 * whose expiry is extended, or moved by `rotate()`'s grace period, gets a reminder for its new expiry;
 * a rotated key's replacement is a new key id with its own reminder. A notification that fails gives
 * its claim back, so the next run tries again.
 *
 * Notices carry the owner, the key's name, its non-secret hint and id, and its expiry: never the key,
 * which keyward does not have.
 *
 * Run it: `npx tsx examples/schedulers/reminders.ts` (memory store and memory log; with REDIS_URL the
 * keys and the log are in Redis, KEYWARD_NAMESPACE their namespace). It issues a few demo keys, runs
 * once at start, then daily at 09:00 (REMINDER_PATTERN), and stops on Ctrl-C.
 */
import { createClient } from '@keyv/redis'
import { createKeyward, type Duration, type KeyRecord, type Keyward, KeywardError, parseDuration } from 'keyward'
import { type Schedule, scheduleTask } from './croner.js'
import { checkOptions, errorMessage, isMain, stopOnSignals, storeFromEnv } from './support.js'

/** What an owner is told about one key. Never the key itself: keyward only has its hash. */
export interface ReminderNotice {
	/** Whom to tell: the host's id of the key's owner. */
	readonly ownerId: string
	/** The key's id (non-secret). */
	readonly keyId: string
	/** The key's label, `''` when it has none. */
	readonly name: string
	/** The key's prefix and first characters, such as `sk_7Hq2`, so the owner can tell which key. */
	readonly hint: string
	/** When the key stops working. */
	readonly expiresAt: Date
	/** When the key was rotated: its replacement's id (the owner should switch to it before `expiresAt`). */
	readonly replacedBy: string | null
}

/** Where sent reminders are remembered, so a key is not reminded twice for the same expiry. */
export interface ReminderLog {
	/**
	 * Claims the reminder for this key and expiry instant.
	 * @returns `true` if this call claimed it (notify now), `false` if it was claimed before
	 */
	claim(notice: ReminderNotice, now: Date): Promise<boolean>
	/** Gives a claim back after the notification failed, so that the next run retries it. */
	release(notice: ReminderNotice): Promise<void>
}

/** Options of {@link redisReminderLog}. */
export interface RedisReminderLogOptions {
	/** The Redis URL (`redis://…`); the log opens its connection on first use. */
	readonly url: string
	/**
	 * The start of every entry's name: `<prefix>:reminded:<key id>:<expiresAt ms>`.
	 * @defaultValue `'keyward'`
	 */
	readonly prefix?: string
	/**
	 * How long after the key's expiry an entry is kept (then Redis deletes it by itself).
	 * @defaultValue `'1d'`
	 */
	readonly keepFor?: Duration
	/**
	 * How long to wait for Redis to be reachable before a claim rejects (and the run stops).
	 * @defaultValue `'5s'`
	 */
	readonly timeout?: Duration
}

/** A {@link ReminderLog} in Redis, with `close()`. */
export interface RedisReminderLog extends ReminderLog {
	/** Closes the connection, if one was opened. */
	close(): Promise<void>
}

/**
 * Remembers sent reminders in Redis, durably and across processes: one `SET … NX PXAT` per claim.
 *
 * @param options - see {@link RedisReminderLogOptions}
 * @returns a {@link RedisReminderLog}
 * @throws KeywardError `invalid_option` for an unknown option or a bad `prefix` or `keepFor`
 * @example
 * ```ts
 * const reminders = redisReminderLog({ url: process.env.REDIS_URL as string, prefix: 'billing-api' })
 * await sendExpiryReminders(keyward, { within: '7d', reminders })
 * await reminders.close()
 * ```
 */
export function redisReminderLog(options: RedisReminderLogOptions): RedisReminderLog {
	checkOptions(options, ['url', 'prefix', 'keepFor', 'timeout'], 'redisReminderLog()')
	const { url, prefix = 'keyward' } = options
	if (typeof url !== 'string' || url === '') throw new KeywardError('invalid_option', 'url must be a Redis URL')
	if (typeof prefix !== 'string' || !/^[\w.-]{1,64}$/.test(prefix)) {
		throw new KeywardError('invalid_option', 'prefix must be 1–64 of A–Z a–z 0–9 _ . -')
	}
	const keepForMs = parseDuration(options.keepFor ?? '1d', 'keepFor')
	const timeoutMs = parseDuration(options.timeout ?? '5s', 'timeout')
	const open = () => {
		// No offline queue: while Redis is down a claim rejects at once instead of waiting to be replayed.
		const created = createClient({ url, disableOfflineQueue: true, socket: { connectTimeout: timeoutMs } })
		// Failures surface as rejected commands; without a listener node-redis would crash the process.
		created.on('error', () => {})
		return created
	}
	let client: ReturnType<typeof open> | undefined
	let connected: Promise<unknown> = Promise.resolve()
	const ready = async () => {
		if (!client?.isOpen) {
			client = open()
			connected = client.connect().catch(() => {})
		}
		if (!client.isReady) await bounded(connected, timeoutMs)
		if (!client.isReady)
			throw new Error(`the reminder log's Redis is unreachable (no connection within ${timeoutMs} ms)`)
		return client
	}
	const entry = (notice: ReminderNotice) => `${prefix}:reminded:${notice.keyId}:${notice.expiresAt.getTime()}`

	return {
		async claim(notice, now) {
			const redis = await ready()
			const answer = await redis.set(entry(notice), now.toISOString(), {
				condition: 'NX',
				expiration: { type: 'PXAT', value: notice.expiresAt.getTime() + keepForMs },
			})
			return answer === 'OK'
		},
		async release(notice) {
			const redis = await ready()
			await redis.del(entry(notice))
		},
		async close() {
			if (client?.isReady) await client.close()
			else if (client?.isOpen) client.destroy()
		},
	}
}

/**
 * Remembers sent reminders in this process's memory: for a single instance that accepts reminding
 * again after a restart, and for trying the recipe out. Several instances need {@link redisReminderLog}.
 *
 * @returns a {@link ReminderLog}
 * @example
 * ```ts
 * await sendExpiryReminders(keyward, { reminders: memoryReminderLog() })
 * ```
 */
export function memoryReminderLog(): ReminderLog {
	const sent = new Map<string, number>()
	const entry = (notice: ReminderNotice) => `${notice.keyId}:${notice.expiresAt.getTime()}`
	return {
		async claim(notice, now) {
			for (const [name, expiresAt] of sent) if (expiresAt < now.getTime()) sent.delete(name)
			if (sent.has(entry(notice))) return false
			sent.set(entry(notice), notice.expiresAt.getTime())
			return true
		},
		async release(notice) {
			sent.delete(entry(notice))
		},
	}
}

/** Options of {@link sendExpiryReminders}. */
export interface SendRemindersOptions {
	/** Where sent reminders are remembered. */
	readonly reminders: ReminderLog
	/**
	 * Remind about keys expiring within this window from now.
	 * @defaultValue `'7d'`
	 */
	readonly within?: Duration
	/**
	 * Tells the owner (sends the e-mail). A throw counts the key as failed and gives its claim back.
	 * @defaultValue logs the e-mail it would send through `log`
	 */
	readonly notify?: (notice: ReminderNotice) => Promise<void> | void
	/** Where the run's lines go. @defaultValue `console.log` */
	readonly log?: (line: string) => void
	/** The start of the window. @defaultValue the current time */
	readonly now?: Date
	/** Keys read per `expiring()` call. @defaultValue `1000` */
	readonly pageSize?: number
	/** Stops the run between keys. */
	readonly signal?: AbortSignal
}

/** What a reminder run did. */
export interface RemindersReport {
	/** Active keys expiring within the window. */
	due: number
	/** Owners notified in this run (one notice per key). */
	notified: number
	/** Keys already reminded about for this expiry, by an earlier run or another instance. */
	alreadyNotified: number
	/** Notifications that failed; their claims were given back for the next run. */
	failed: number
	/** `true` when `signal` stopped the run early. */
	aborted: boolean
}

const SEND_KNOWN = ['reminders', 'within', 'notify', 'log', 'now', 'pageSize', 'signal'] as const

/**
 * Notifies the owners of active keys that expire within `within`, each key once per expiry instant
 * however many runs or instances there are (the claim in `reminders` decides).
 *
 * @param keyward - the instance whose keys to look at
 * @param options - see {@link SendRemindersOptions}
 * @returns a {@link RemindersReport}
 * @throws KeywardError `invalid_option` for a bad option, `store_unavailable` when the key store fails;
 *   the reminder log's error when it cannot be reached (nothing more is sent: a notice whose claim
 *   cannot be recorded could be sent twice)
 * @example
 * ```ts
 * const report = await sendExpiryReminders(keyward, {
 *   within: '7d',
 *   reminders: redisReminderLog({ url: process.env.REDIS_URL as string }),
 *   notify: (notice) => mailer.send(emailOf(notice.ownerId), reminderEmail(notice)),
 * })
 * ```
 */
export async function sendExpiryReminders(keyward: Keyward, options: SendRemindersOptions): Promise<RemindersReport> {
	checkOptions(options, SEND_KNOWN, 'sendExpiryReminders()')
	const { reminders, log = console.log, signal } = options
	const notify = options.notify ?? ((notice: ReminderNotice) => log(reminderLine(notice)))
	const within = parseDuration(options.within ?? '7d', 'within')
	const pageSize = checkPageSize(options.pageSize)
	const now = options.now ?? new Date()
	const until = now.getTime() + within
	const report: RemindersReport = { due: 0, notified: 0, alreadyNotified: 0, failed: 0, aborted: false }

	// Pages of keys, soonest first. The next page starts 1 ms before the last expiry seen, so keys that
	// share that instant are not skipped (the ones already seen are); a page of nothing new (more keys
	// at one instant than a page holds) is read again, twice as large.
	const seen = new Set<string>()
	let after = now
	let limit = pageSize
	for (;;) {
		const page = await keyward.expiring({ now: after, within: until - after.getTime(), limit })
		const fresh = page.filter((record) => !seen.has(record.id))
		for (const record of fresh) {
			seen.add(record.id)
			if (signal?.aborted) {
				report.aborted = true
				return report
			}
			report.due++
			const notice = noticeOf(record)
			if (!(await reminders.claim(notice, now))) {
				report.alreadyNotified++
				continue
			}
			try {
				await notify(notice)
				report.notified++
			} catch (error) {
				report.failed++
				log(`reminder to owner ${notice.ownerId} about key ${notice.keyId} failed: ${errorMessage(error)}`)
				await reminders.release(notice)
			}
		}
		const last = page.at(-1)?.expiresAt
		if (page.length < limit || !last) break
		if (fresh.length === 0) {
			limit *= 2
		} else {
			after = new Date(last.getTime() - 1)
			limit = pageSize
		}
	}
	return report
}

/** Options of {@link scheduleReminders}: those of {@link sendExpiryReminders} (but `now` and `signal`), plus the schedule. */
export interface ScheduleRemindersOptions extends Omit<SendRemindersOptions, 'now' | 'signal'> {
	/**
	 * When to run: a cron pattern.
	 * @defaultValue `'0 9 * * *'` (daily at 09:00)
	 */
	readonly pattern?: string
	/** The time zone the pattern is read in. @defaultValue the process's */
	readonly timezone?: string
}

/**
 * Runs {@link sendExpiryReminders} on a croner schedule (daily by default), never twice at once in
 * this process; across processes the reminder log keeps each key to one notice.
 *
 * @param keyward - the instance whose keys to look at
 * @param options - see {@link ScheduleRemindersOptions}
 * @returns a {@link Schedule}; call `stop()` on shutdown
 * @throws KeywardError `invalid_option` for a bad option; TypeError from croner for a bad pattern
 * @example
 * ```ts
 * const daily = scheduleReminders(keyward, { reminders: redisReminderLog({ url }), within: '7d', timezone: 'Europe/Paris' })
 * process.once('SIGTERM', () => daily.stop())
 * ```
 */
export function scheduleReminders(keyward: Keyward, options: ScheduleRemindersOptions): Schedule {
	checkOptions(
		options,
		[...SEND_KNOWN.filter((name) => name !== 'now' && name !== 'signal'), 'pattern', 'timezone'],
		'scheduleReminders()',
	)
	const { pattern = '0 9 * * *', timezone, ...send } = options
	parseDuration(send.within ?? '7d', 'within')
	checkPageSize(send.pageSize)
	const log = send.log ?? console.log
	return scheduleTask(
		pattern,
		async (signal) => {
			const report = await sendExpiryReminders(keyward, { ...send, signal })
			log(
				`keyward reminders: ${report.due} keys expiring, ${report.notified} owners notified, ${report.alreadyNotified} already notified, ${report.failed} failed${report.aborted ? ' (stopped early)' : ''}`,
			)
		},
		{ name: 'keyward reminders', timezone, log },
	)
}

/**
 * The e-mail a notice stands for, as one log line: owner, name, hint, id and expiry, never the key.
 *
 * @param notice - a reminder notice
 * @returns such as `would e-mail owner user_42: your API key "CI" (sk_7Hq2…, id 0b7c…) expires at 2030-01-08T09:00:00.000Z`
 * @example
 * ```ts
 * await sendExpiryReminders(keyward, { reminders, notify: (notice) => console.log(reminderLine(notice)) })
 * ```
 */
export function reminderLine(notice: ReminderNotice): string {
	const label = notice.name
		? `"${notice.name}" (${notice.hint}…, id ${notice.keyId})`
		: `${notice.hint}… (id ${notice.keyId})`
	const replaced = notice.replacedBy ? `; it was replaced by key ${notice.replacedBy}: switch to it before then` : ''
	return `would e-mail owner ${notice.ownerId}: your API key ${label} expires at ${notice.expiresAt.toISOString()}${replaced}`
}

function checkPageSize(pageSize: unknown = 1000): number {
	if (typeof pageSize !== 'number' || !Number.isSafeInteger(pageSize) || pageSize < 1) {
		throw new KeywardError('invalid_option', `pageSize must be a whole, positive number (got ${pageSize})`)
	}
	return pageSize
}

/** Waits for `promise`, at most `ms`. */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
	let timer: NodeJS.Timeout | undefined
	await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
	clearTimeout(timer)
}

function noticeOf(record: KeyRecord): ReminderNotice {
	return {
		ownerId: record.ownerId,
		keyId: record.id,
		name: record.name,
		hint: record.hint,
		expiresAt: record.expiresAt as Date, // expiring() lists keys with an expiry only
		replacedBy: record.replacedBy,
	}
}

if (isMain(import.meta.url)) {
	const { store, label, close } = storeFromEnv()
	const keyward = createKeyward({ store, prefix: 'sk' })
	const redisUrl = process.env.REDIS_URL
	const reminders = redisUrl
		? redisReminderLog({ url: redisUrl, prefix: process.env.KEYWARD_NAMESPACE || 'keyward' })
		: memoryReminderLog()
	for (const [ownerId, name, expiresIn] of [
		['user_42', 'CI deploy key', '2d'],
		['user_42', 'laptop', '6d'],
		['user_7', 'reporting', '30d'],
	] as const) {
		await keyward.issue({ ownerId, name, expiresIn })
	}
	const pattern = process.env.REMINDER_PATTERN || '0 9 * * *'
	const daily = scheduleReminders(keyward, { pattern, within: '7d', reminders })
	console.log(`reminding owners of keys in ${label} on "${pattern}"; a first run now; Ctrl-C stops`)
	await daily.runNow()
	stopOnSignals(async () => {
		await daily.stop()
		if ('close' in reminders) await (reminders as RedisReminderLog).close()
		await close()
	})
}

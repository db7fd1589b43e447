import { invalidatingStore } from './cache.js'
import { type Duration, parseDuration, typeOf } from './duration.js'
import { invalidOption } from './errors.js'
import { checkOwnerId, type IssuedKey, type IssueOptions, issue, laterBy } from './issue.js'
import { checkKnown, instant, type KeywardConfig, type KeywardOptions, resolveOptions, wholeNumber } from './options.js'
import type { BlacklistedKeyRecord, KeyRecord } from './record.js'
import { checkId, type RevokeOptions, revoke } from './revoke.js'
import { type RotateOptions, rotate } from './rotate.js'
import { callStore, type KeyStore } from './store.js'
import { runSweep, type SweepOptions, type SweepReport } from './sweep.js'
import { fastVerify, type VerifyOptions, type VerifyResult, verify, verifyNow } from './verify.js'

/** Options of {@link Keyward.list}. */
export interface ListOptions {
	/** Whose keys to list. */
	readonly ownerId: string
	/**
	 * Include revoked and expired-and-swept keys (until the retention purges them).
	 * @defaultValue `false`
	 */
	readonly includeBlacklisted?: boolean
}

/** Options of {@link Keyward.expiring}. */
export interface ExpiringOptions {
	/** The window from now, such as `'7d'`: active keys whose `expiresAt` falls in `(now, now + within]`. */
	readonly within: Duration
	/**
	 * At most this many keys, soonest first.
	 * @defaultValue `1000`
	 */
	readonly limit?: number
	/**
	 * The start of the window.
	 * @defaultValue the instance's clock
	 */
	readonly now?: Date
}

/** A keyward instance: every operation on keys, over one store. Made by {@link createKeyward}. */
export interface Keyward {
	/** The store this instance reads and writes. */
	readonly store: KeyStore
	/** The prefix of the keys this instance issues and accepts. */
	readonly prefix: string

	/**
	 * Issues a new key. The plaintext is returned only here: hand it to the owner; only its hash is stored.
	 * @throws KeywardError `invalid_option` for bad input (such as an `expiresAt` in the past), `store_unavailable`
	 */
	issue(options: IssueOptions): Promise<IssuedKey>

	/**
	 * Checks a key: format and checksum first (no I/O), then one store read by hash (none when the
	 * instance has a `cache` holding the record), then expiry against the clock, on every call.
	 * Never throws for bad input, and writes nothing.
	 * @param key - whatever the client sent, of any type
	 * @throws KeywardError `store_unavailable` when the store fails (never answered as a pass or as `unknown_key`)
	 */
	verify(key: unknown, options?: VerifyOptions): Promise<VerifyResult>

	/**
	 * Moves a key to the blacklist with reason `revoked`; from then on it answers `revoked_key`
	 * (at once on this instance, cache or not; within the cache's TTL on other instances that have one).
	 * Revoking an already blacklisted key answers its record unchanged, so retries are safe.
	 * @throws KeywardError `not_found` for an unknown id, `store_unavailable`
	 */
	revoke(id: string, options?: RevokeOptions): Promise<BlacklistedKeyRecord>

	/**
	 * Issues a replacement with the same owner, name, scopes and metadata. The old key works until
	 * the grace period ends, then expires; its record points to the new one through `replacedBy`.
	 * @throws KeywardError `not_found`, `not_active` (revoked or expired keys cannot be rotated), `store_unavailable`
	 */
	rotate(id: string, options?: RotateOptions): Promise<IssuedKey>

	/**
	 * A key's record by id, active or blacklisted; `null` when there is none.
	 * @throws KeywardError `store_unavailable`
	 */
	get(id: string): Promise<KeyRecord | null>

	/**
	 * An owner's keys, oldest first.
	 * @throws KeywardError `store_unavailable`
	 */
	list(options: ListOptions): Promise<KeyRecord[]>

	/**
	 * Active keys that expire within a window from now, soonest first: the list to remind owners with.
	 * @throws KeywardError `store_unavailable`
	 */
	expiring(options: ExpiringOptions): Promise<KeyRecord[]>

	/**
	 * Runs {@link sweep} on this instance's store, with this instance's clock.
	 * @throws KeywardError `store_unavailable`
	 */
	sweep(options?: SweepOptions): Promise<SweepReport>
}

const LIST_KNOWN = { ownerId: true, includeBlacklisted: true } satisfies Record<keyof ListOptions, true>
const EXPIRING_KNOWN = { within: true, limit: true, now: true } satisfies Record<keyof ExpiringOptions, true>

/**
 * Creates a keyward instance. Options are checked here, once.
 *
 * @param options - see {@link KeywardOptions}; all optional
 * @returns a {@link Keyward}
 * @throws KeywardError `invalid_option` for an unknown or bad option, `invalid_store` for a bad store
 * @example
 * ```ts
 * import { createKeyward, memoryStore } from 'keyward'
 *
 * const keyward = createKeyward({ store: memoryStore(), prefix: 'sk' })
 * const { key, record } = await keyward.issue({ ownerId: 'user_42', expiresIn: '30d', scopes: ['read'] })
 * const result = await keyward.verify(key)
 * if (result.ok) console.log('hello', result.record.ownerId)
 * ```
 */
export function createKeyward(options?: KeywardOptions): Keyward {
	const config: KeywardConfig = resolveOptions(options)
	const { store } = config
	// With a cache, the writing operations reach the store through a wrapper that drops what they change from it.
	const writing: KeywardConfig =
		config.cache === null ? config : Object.freeze({ ...config, store: invalidatingStore(store, config.cache) })
	const verifyKey = (key: unknown, options?: VerifyOptions) => verify(config, key, options)
	fastVerify.set(verifyKey, (key) => verifyNow(config, key))
	return Object.freeze({
		store,
		prefix: config.prefix,
		issue: (options: IssueOptions) => issue(config, options),
		verify: verifyKey,
		revoke: (id: string, options?: RevokeOptions) => revoke(writing, id, options),
		rotate: (id: string, options?: RotateOptions) => rotate(writing, id, options),
		sweep: (options: SweepOptions = {}) => runSweep(writing.store, options, config.clock),

		async get(id: string) {
			checkId(id)
			return callStore(store, 'get', () => store.getById(id))
		},

		async list(options: ListOptions) {
			checkKnown(options, LIST_KNOWN, 'list()')
			const ownerId = checkOwnerId(options.ownerId)
			const includeBlacklisted = options.includeBlacklisted ?? false
			if (typeof includeBlacklisted !== 'boolean') {
				throw invalidOption(`includeBlacklisted must be true or false (got ${typeOf(includeBlacklisted)})`)
			}
			return callStore(store, 'list', () => store.listByOwner(ownerId, { includeBlacklisted }))
		},

		async expiring(options: ExpiringOptions) {
			checkKnown(options, EXPIRING_KNOWN, 'expiring()')
			const now = instant(options.now, 'now', config.clock)
			const within = parseDuration(options.within, 'within')
			const limit = wholeNumber(options.limit ?? 1000, 'limit', 1)
			const until = laterBy(now, within) // a window past the largest Date ends there, not at an Invalid Date
			return callStore(store, 'expiring', () => store.listExpiring({ after: now, until, limit }))
		},
	})
}

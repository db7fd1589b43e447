import { bindCache, type CacheBinding, type VerifyCache } from './cache.js'
import { typeOf } from './duration.js'
import { invalidOption } from './errors.js'
import { checkStore, type KeyStore } from './store.js'
import { memoryStore } from './stores/memory.js'

/** Options of {@link createKeyward}. */
export interface KeywardOptions {
	/**
	 * Where records live.
	 * @defaultValue `memoryStore()`: in-process, lost on restart; use a server store with several processes
	 */
	store?: KeyStore
	/**
	 * The prefix of every key this instance issues and accepts: 2–8 lowercase letters.
	 * @defaultValue `'kw'`
	 */
	prefix?: string
	/**
	 * The clock every operation reads "now" from, unless a call passes `now`. Inject one in tests.
	 * @defaultValue `() => new Date()`
	 */
	clock?: () => Date
	/**
	 * An in-process cache of verified records, such as `verifyCache({ max: 10_000, ttl: '10s' })` from
	 * `keyward/cache`: a repeated `verify()` of a key skips the store read. Expiry is still judged
	 * against the clock on every call, misses are never cached, and this instance's `revoke()`,
	 * `rotate()` and `sweep()` drop what they change at once; a revocation made by **another**
	 * process takes effect here within the cache's TTL. After a store failure the cache is cleared,
	 * so an outage is never answered from it. See docs/cache.md.
	 * @defaultValue none: every `verify()` reads the store
	 */
	cache?: VerifyCache
}

/** Options resolved and checked once, at construction; the hot path only reads them. @internal */
export interface KeywardConfig {
	readonly store: KeyStore
	readonly prefix: string
	readonly clock: () => Date
	/** The verification cache and its invalidation counter; `null` without one. */
	readonly cache: CacheBinding | null
}

const KNOWN = { store: true, prefix: true, clock: true, cache: true } satisfies Record<keyof KeywardOptions, true>

/** @internal */
export const systemClock = (): Date => new Date()

/** @internal */
export function resolveOptions(input: KeywardOptions | undefined): KeywardConfig {
	const options = checkKnown(input ?? {}, KNOWN, 'createKeyward()')
	const prefix = options.prefix === undefined ? 'kw' : options.prefix
	if (typeof prefix !== 'string' || !/^[a-z]{2,8}$/.test(prefix)) {
		throw invalidOption(`prefix must be 2–8 lowercase letters, such as 'sk' (got ${describe(prefix)})`)
	}
	if (options.clock !== undefined && typeof options.clock !== 'function') {
		throw invalidOption(`clock must be a function that returns a Date (got ${typeOf(options.clock)})`)
	}
	const store = options.store === undefined ? memoryStore() : checkStore(options.store)
	const cache = bindCache(options.cache)
	return Object.freeze({ store, prefix, clock: options.clock ?? systemClock, cache })
}

/**
 * Rejects option names that are not in `known`, so a typo in a security setting cannot pass silently.
 * @internal
 */
export function checkKnown<T extends object>(input: T, known: Record<string, true>, where: string): T {
	if (typeof input !== 'object' || input === null || Array.isArray(input)) {
		throw invalidOption(`${where} takes an options object (got ${typeOf(input)})`)
	}
	for (const name of Object.keys(input)) {
		if (!Object.hasOwn(known, name)) {
			throw invalidOption(`"${name}" is not an option of ${where}; known options: ${Object.keys(known).join(', ')}`)
		}
	}
	return input
}

/**
 * An instant given by the caller, or the clock's.
 * @internal
 */
export function instant(value: unknown, name: string, clock: () => Date): Date {
	const date = value === undefined ? clock() : value
	if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
		throw invalidOption(
			value === undefined
				? `clock returned ${typeOf(date)}, not a valid Date`
				: `${name} must be a valid Date (got ${typeOf(value)})`,
		)
	}
	return date
}

/**
 * A short, safe description of a value for an error message: strings are cut to 40 characters.
 * Only for values that can never hold a key (prefixes, names), never for key input.
 * @internal
 */
export function describe(value: unknown): string {
	return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeOf(value)
}

/**
 * A whole number from `min` to `max`, or `invalid_option` naming the option.
 * @internal
 */
export function wholeNumber(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
	if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return value
	const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`
	throw invalidOption(
		`${name} must be a whole number ${range} (got ${typeof value === 'number' ? value : typeOf(value)})`,
	)
}

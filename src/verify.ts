import { type CacheBinding, dropAll, freezeRecord, isIntact } from './cache.js'
import { hashKey } from './crypto.js'
import { parseKey } from './key-format.js'
import { checkKnown, instant, type KeywardConfig, systemClock } from './options.js'
import type { KeyRecord } from './record.js'
import { callStore, callStoreSync, synchronousReads } from './store.js'

/** Why a key was refused. `insufficient_scope` is added by the HTTP adapters, never by `verify()`. */
export type VerifyFailureCode = 'missing_key' | 'malformed_key' | 'unknown_key' | 'expired_key' | 'revoked_key'

/**
 * What `verify()` answers: valid with its record, or refused with a code. Expired and revoked keys
 * carry their record, so a caller can say when and why; an expired key also carries `expiredAt`.
 */
export type VerifyResult =
	| { readonly ok: true; readonly record: KeyRecord }
	| { readonly ok: false; readonly code: 'missing_key' | 'malformed_key' | 'unknown_key' }
	| { readonly ok: false; readonly code: 'expired_key'; readonly record: KeyRecord; readonly expiredAt: Date }
	| { readonly ok: false; readonly code: 'revoked_key'; readonly record: KeyRecord }

/** Options of `verify()`. */
export interface VerifyOptions {
	/**
	 * The instant to judge expiry at.
	 * @defaultValue the instance's clock
	 */
	readonly now?: Date
}

const KNOWN = { now: true } satisfies Record<keyof VerifyOptions, true>

const UNKNOWN: VerifyResult = Object.freeze({ ok: false, code: 'unknown_key' })

/** @internal */
export async function verify(config: KeywardConfig, input: unknown, options?: VerifyOptions): Promise<VerifyResult> {
	return verifyNow(config, input, options)
}

/**
 * `verify()` without the promise where none is needed: a malformed key, a cache hit, or a store
 * read synchronously (the memory store: see {@link synchronousReads}) is answered at once; only a
 * read of a server store answers a promise. Throws what `verify()` rejects with. The HTTP adapters
 * call it (see {@link fastVerify}).
 * @internal
 */
export function verifyNow(
	config: KeywardConfig,
	input: unknown,
	options?: VerifyOptions,
): VerifyResult | Promise<VerifyResult> {
	if (options !== undefined) checkKnown(options, KNOWN, 'verify()')
	// Epoch ms: the system clock is read without building a Date on every request.
	const now =
		options?.now === undefined && config.clock === systemClock
			? Date.now()
			: instant(options?.now, 'now', config.clock).getTime()
	const parsed = parseKey(input, config.prefix) // type, length, prefix, checksum: no I/O
	if (!parsed.ok) return parsed
	const hash = hashKey(parsed.key)
	const { store, cache: binding } = config
	if (binding === null) {
		// The one read: at once from an in-process store, otherwise through a promise.
		const readNow = synchronousReads.get(store.getByHash)
		if (readNow !== undefined) {
			const record = callStoreSync(store, 'verify', () => readNow(hash))
			return judge(record, now)
		}
		return callStore(store, 'verify', () => store.getByHash(hash)).then((record) => judge(record, now))
	}
	const cached = binding.cache.get(hash)
	if (cached !== undefined) {
		if (isIntact(cached)) return classify(cached, now) // judged against the clock on every call
		binding.cache.delete(hash) // someone changed a shared record's dates: read the store again
	}
	return readThrough(config, binding, hash, now)
}

/** A cache miss: one store read, and the record it finds is cached. */
async function readThrough(
	config: KeywardConfig,
	binding: CacheBinding,
	hash: string,
	now: number,
): Promise<VerifyResult> {
	const { store } = config
	const epoch = binding.state.epoch
	let record: KeyRecord | null
	try {
		record = await callStore(store, 'verify', () => store.getByHash(hash))
	} catch (error) {
		dropAll(binding) // fail closed: nothing is answered from the cache until the store answers again
		throw error
	}
	if (record === null) return UNKNOWN // never cached: the key may be issued elsewhere, and guesses must not churn the cache
	freezeRecord(record)
	// A write on this instance overlapped the read: what was read may predate it, so do not keep it.
	if (binding.state.epoch === epoch) binding.cache.set(hash, record)
	return classify(record, now)
}

const judge = (record: KeyRecord | null, now: number): VerifyResult =>
	record === null ? UNKNOWN : classify(record, now)

/**
 * The synchronous-when-possible `verify` of keyward instances, by their public `verify` function. An
 * adapter given an instance whose `verify` is still the one `createKeyward()` made uses it; a wrapped
 * or replaced `verify` is always honoured instead.
 * @internal
 */
export const fastVerify = new WeakMap<
	(key: unknown) => Promise<VerifyResult>,
	(key: unknown) => VerifyResult | Promise<VerifyResult>
>()

/**
 * Judges a stored record at an instant (epoch ms). Pure.
 * @internal
 */
export function classify(record: KeyRecord, now: number): VerifyResult {
	if (record.reason === 'revoked') return { ok: false, code: 'revoked_key', record }
	const { expiresAt } = record
	if (record.blacklistedAt !== null || (expiresAt !== null && now >= expiresAt.getTime())) {
		// A swept record has reason 'expired' and keeps its expiresAt.
		return { ok: false, code: 'expired_key', record, expiredAt: expiresAt ?? record.blacklistedAt ?? new Date(now) }
	}
	return { ok: true, record }
}

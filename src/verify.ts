import { dropAll, freezeRecord, isIntact } from './cache.js'
import { hashKey } from './crypto.js'
import { parseKey } from './key-format.js'
import { checkKnown, instant, type KeywardConfig } from './options.js'
import { isExpiredAt, type KeyRecord } from './record.js'
import { callStore } from './store.js'

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
	if (options !== undefined) checkKnown(options, KNOWN, 'verify()')
	const now = instant(options?.now, 'now', config.clock)
	const parsed = parseKey(input, config.prefix) // type, length, prefix, checksum: no I/O
	if (!parsed.ok) return parsed
	const hash = hashKey(parsed.key)
	const binding = config.cache
	if (binding === null) {
		const record = await callStore(config.store, 'verify', () => config.store.getByHash(hash)) // the one read
		return record === null ? UNKNOWN : classify(record, now)
	}
	const cached = binding.cache.get(hash)
	if (cached !== undefined) {
		if (isIntact(cached)) return classify(cached, now) // judged against the clock on every call
		binding.cache.delete(hash) // someone changed a shared record's dates: read the store again
	}
	const epoch = binding.state.epoch
	let record: KeyRecord | null
	try {
		record = await callStore(config.store, 'verify', () => config.store.getByHash(hash))
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

/**
 * Judges a stored record at an instant. Pure.
 * @internal
 */
export function classify(record: KeyRecord, now: Date): VerifyResult {
	if (record.reason === 'revoked') return { ok: false, code: 'revoked_key', record }
	if (record.blacklistedAt !== null || isExpiredAt(record, now)) {
		// A swept record has reason 'expired' and keeps its expiresAt.
		return { ok: false, code: 'expired_key', record, expiredAt: record.expiresAt ?? record.blacklistedAt ?? now }
	}
	return { ok: true, record }
}

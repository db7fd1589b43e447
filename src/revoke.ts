import { invalidOption, KeywardError } from './errors.js'
import { checkKnown, describe, instant, type KeywardConfig } from './options.js'
import type { BlacklistedKeyRecord } from './record.js'
import { callStore } from './store.js'

/** Options of `revoke()`. */
export interface RevokeOptions {
	/** A free-text note kept on the blacklisted record for audit (at most 1000 characters), such as who revoked it and why. */
	readonly note?: string
	/**
	 * The instant of revocation, stored as `blacklistedAt`.
	 * @defaultValue the instance's clock
	 */
	readonly now?: Date
}

const KNOWN = { note: true, now: true } satisfies Record<keyof RevokeOptions, true>

/** @internal */
export async function revoke(
	config: KeywardConfig,
	id: string,
	options: RevokeOptions = {},
): Promise<BlacklistedKeyRecord> {
	checkId(id)
	checkKnown(options, KNOWN, 'revoke()')
	const at = instant(options.now, 'now', config.clock)
	const note = options.note ?? null
	if (note !== null && (typeof note !== 'string' || note.length > 1000)) {
		throw invalidOption(`note must be a string of at most 1000 characters (got ${describe(note)})`)
	}
	const outcome = await callStore(config.store, 'revoke', () =>
		config.store.blacklist(id, { reason: 'revoked', at, note }),
	)
	if (outcome === null) throw notFound(id)
	return outcome.record as BlacklistedKeyRecord
}

/** @internal */
export function checkId(id: unknown): asserts id is string {
	if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
		throw invalidOption(`id must be a key's record id, a non-empty string (got ${describe(id)})`)
	}
}

/** @internal */
export function notFound(id: string): KeywardError {
	return new KeywardError('not_found', `no key has id ${describeId(id)}; check the id (list() shows an owner's keys)`)
}

const KEY_SHAPED = /^[a-z]{2,8}_[1-9A-HJ-NP-Za-km-z]{16,}/

/**
 * Names an id in an error message, unless it looks like a plaintext key passed by mistake:
 * a message must never carry a key.
 * @internal
 */
export function describeId(id: string): string {
	return KEY_SHAPED.test(id)
		? '(withheld: the value looks like a plaintext API key; pass the record id, record.id, instead)'
		: JSON.stringify(id.slice(0, 64))
}

import { hashKey, newId, randomChars } from './crypto.js'
import { type Duration, parseDuration, typeOf } from './duration.js'
import { invalidOption } from './errors.js'
import { BODY_LENGTH, formatKey, keyHint } from './key-format.js'
import { checkKnown, describe, instant, type KeywardConfig } from './options.js'
import type { KeyMetadata, KeyRecord } from './record.js'
import { callStore } from './store.js'

/** Options of `issue()`. */
export interface IssueOptions {
	/** The host's id of the key's owner. 1–256 characters. */
	readonly ownerId: string
	/**
	 * A label shown to the owner, up to 256 characters.
	 * @defaultValue `''`
	 */
	readonly name?: string
	/** When the key stops working; `null` for never. Give this or `expiresIn`, not both. Must be in the future. */
	readonly expiresAt?: Date | null
	/** How long the key works from now, such as `'30d'`. Give this or `expiresAt`, not both. */
	readonly expiresIn?: Duration
	/**
	 * What the key may do: up to 100 scope tokens (RFC 6749 characters, no spaces), such as `'read'`, `'orders:write'`.
	 * @defaultValue `[]`
	 */
	readonly scopes?: readonly string[]
	/**
	 * The host's own JSON-serialisable data about the key.
	 * @defaultValue `{}`
	 */
	readonly metadata?: KeyMetadata
	/**
	 * The instant of issue.
	 * @defaultValue the instance's clock
	 */
	readonly now?: Date
}

/** A newly issued key: the plaintext, shown to the owner once, and its stored record. */
export interface IssuedKey {
	/** The plaintext key. keyward returns it only here and never stores it: hand it to the owner now. */
	readonly key: string
	/** The stored record (no plaintext). */
	readonly record: KeyRecord
}

const KNOWN = {
	ownerId: true,
	name: true,
	expiresAt: true,
	expiresIn: true,
	scopes: true,
	metadata: true,
	now: true,
} satisfies Record<keyof IssueOptions, true>

/** @internal */
export async function issue(config: KeywardConfig, options: IssueOptions): Promise<IssuedKey> {
	checkKnown(options, KNOWN, 'issue()')
	const now = instant(options.now, 'now', config.clock)
	const record = newRecord(config, now, {
		ownerId: checkOwnerId(options.ownerId),
		name: checkName(options.name),
		expiresAt: resolveExpiry(options, now) ?? null,
		scopes: checkScopes(options.scopes),
		metadata: checkMetadata(options.metadata),
	})
	await callStore(config.store, 'issue', () => config.store.insert(record.record))
	return record
}

/**
 * Creates a key and its record (not yet stored).
 * @internal
 */
export function newRecord(
	config: KeywardConfig,
	now: Date,
	fields: Pick<KeyRecord, 'ownerId' | 'name' | 'expiresAt' | 'scopes' | 'metadata'>,
): IssuedKey {
	const key = formatKey(config.prefix, randomChars(BODY_LENGTH))
	const record: KeyRecord = {
		id: newId(),
		hash: hashKey(key),
		prefix: config.prefix,
		hint: keyHint(key, config.prefix),
		...fields,
		createdAt: now,
		lastUsedAt: null,
		replacedBy: null,
		blacklistedAt: null,
		reason: null,
		note: null,
	}
	return { key, record }
}

/**
 * The expiry from `expiresAt` or `expiresIn`; `undefined` when neither was given.
 * @internal
 */
export function resolveExpiry(
	options: { readonly expiresAt?: Date | null; readonly expiresIn?: Duration },
	now: Date,
): Date | null | undefined {
	if (options.expiresAt !== undefined && options.expiresIn !== undefined) {
		throw invalidOption('give expiresAt or expiresIn, not both')
	}
	if (options.expiresIn !== undefined) {
		const ms = parseDuration(options.expiresIn, 'expiresIn')
		if (ms === 0)
			throw invalidOption('expiresIn must be longer than 0; use expiresAt: null for a key that never expires')
		if (now.getTime() + ms > MAX_INSTANT) {
			throw invalidOption(
				'expiresIn puts the expiry after the largest instant a Date can hold (+275760-09-13); use expiresAt: null for a key that never expires',
			)
		}
		return new Date(now.getTime() + ms)
	}
	if (options.expiresAt === undefined || options.expiresAt === null) return options.expiresAt
	const expiresAt = instant(options.expiresAt, 'expiresAt', () => now)
	if (expiresAt.getTime() <= now.getTime()) {
		throw invalidOption(
			`expiresAt (${expiresAt.toISOString()}) is not after now (${now.toISOString()}); a key must expire in the future`,
		)
	}
	return new Date(expiresAt.getTime())
}

/** The largest instant a `Date` can hold, in epoch milliseconds (+275760-09-13). @internal */
export const MAX_INSTANT = 8.64e15

/**
 * `ms` milliseconds after `from`, or the largest instant a `Date` can hold when that is later
 * (`new Date()` past it is an Invalid Date, which no store can keep).
 * @internal
 */
export function laterBy(from: Date, ms: number): Date {
	return new Date(Math.min(from.getTime() + ms, MAX_INSTANT))
}

/** @internal */
export function checkOwnerId(ownerId: unknown): string {
	if (typeof ownerId !== 'string' || ownerId.length === 0 || ownerId.length > 256) {
		throw invalidOption(`ownerId must be a string of 1–256 characters (got ${describe(ownerId)})`)
	}
	return ownerId
}

function checkName(name: unknown): string {
	if (name === undefined) return ''
	if (typeof name !== 'string' || name.length > 256) {
		throw invalidOption(`name must be a string of at most 256 characters (got ${describe(name)})`)
	}
	return name
}

const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/

/** @internal */
export function checkScopes(scopes: unknown): string[] {
	if (scopes === undefined) return []
	if (!Array.isArray(scopes) || scopes.length > 100) {
		throw invalidOption(`scopes must be an array of at most 100 strings (got ${typeOf(scopes)})`)
	}
	for (const scope of scopes) {
		if (typeof scope !== 'string' || !SCOPE.test(scope)) {
			throw invalidOption(
				`each scope must be 1–128 printable ASCII characters without spaces, quotes or backslashes (got ${describe(scope)})`,
			)
		}
	}
	return [...new Set<string>(scopes)]
}

function checkMetadata(metadata: unknown): KeyMetadata {
	if (metadata === undefined) return {}
	const proto = typeof metadata === 'object' && metadata !== null ? Object.getPrototypeOf(metadata) : undefined
	if (proto !== Object.prototype && proto !== null) {
		throw invalidOption(`metadata must be a plain object (got ${typeOf(metadata)})`)
	}
	try {
		return JSON.parse(JSON.stringify(metadata)) as KeyMetadata
	} catch (cause) {
		throw invalidOption(`metadata must be JSON-serialisable (${(cause as Error).message})`)
	}
}

/** Why a key is on the blacklist. */
export type BlacklistReason = 'expired' | 'revoked'

/** Free-form, JSON-serialisable data the host attaches to a key. */
export type KeyMetadata = Record<string, unknown>

/**
 * Everything keyward knows about one key. It never holds the plaintext key: only its SHA-256 `hash`
 * and a short non-secret `hint`.
 *
 * A record is *active* while `blacklistedAt` is `null`; `revoke()` and `sweep()` move it to the
 * blacklist by setting `blacklistedAt` and `reason`.
 */
export interface KeyRecord {
	/** Stable, non-secret id (a UUID), safe to show and to put in URLs. */
	readonly id: string
	/** SHA-256 of the plaintext key, base64url. Stores look keys up by it. */
	readonly hash: string
	/** The key's prefix, such as `sk`. */
	readonly prefix: string
	/** The prefix and first body characters, such as `sk_7Hq2`, to help an owner tell keys apart. */
	readonly hint: string
	/** The host's id of the key's owner (a user, an organisation). */
	readonly ownerId: string
	/** A label shown to the owner; `''` when none was given. */
	readonly name: string
	/** When the key was issued. */
	readonly createdAt: Date
	/** The instant the key stops working; `null` means it never expires. Expired when `now >= expiresAt`. */
	readonly expiresAt: Date | null
	/** What the key may do; adapters check them against a route's required scopes. */
	readonly scopes: readonly string[]
	/** The host's own data about the key. */
	readonly metadata: Readonly<KeyMetadata>
	/** When the key was last used, where usage tracking is enabled; otherwise `null`. */
	readonly lastUsedAt: Date | null
	/** When `rotate()` replaced this key, the id of its successor; otherwise `null`. */
	readonly replacedBy: string | null
	/** When the key was moved to the blacklist; `null` while it is active. */
	readonly blacklistedAt: Date | null
	/** Why it was blacklisted; `null` while it is active. */
	readonly reason: BlacklistReason | null
	/** The free-text note given to `revoke()`, kept for audit; otherwise `null`. */
	readonly note: string | null
}

/** A record that is on the blacklist. */
export type BlacklistedKeyRecord = KeyRecord & {
	readonly blacklistedAt: Date
	readonly reason: BlacklistReason
}

/**
 * Tells whether a key is expired at an instant: `expiresAt !== null && now >= expiresAt`.
 *
 * @param record - any record
 * @param now - the instant to judge at
 */
export function isExpiredAt(record: Pick<KeyRecord, 'expiresAt'>, now: Date): boolean {
	return record.expiresAt !== null && now.getTime() >= record.expiresAt.getTime()
}

/**
 * A record as plain JSON data: instants as epoch milliseconds. Stores that keep records as text
 * (keyv, Redis) use {@link recordToJSON} and {@link recordFromJSON} so that every store reads
 * and writes the same shape.
 */
export interface KeyRecordJSON {
	id: string
	hash: string
	prefix: string
	hint: string
	ownerId: string
	name: string
	createdAt: number
	expiresAt: number | null
	scopes: string[]
	metadata: KeyMetadata
	lastUsedAt: number | null
	replacedBy: string | null
	blacklistedAt: number | null
	reason: BlacklistReason | null
	note: string | null
}

const time = (date: Date | null): number | null => (date === null ? null : date.getTime())
const date = (ms: number | null | undefined): Date | null => (ms === null || ms === undefined ? null : new Date(ms))

/**
 * Converts a record to plain JSON data (instants as epoch milliseconds).
 * @param record - the record
 * @returns data that survives `JSON.stringify`/`JSON.parse` unchanged
 */
export function recordToJSON(record: KeyRecord): KeyRecordJSON {
	return {
		id: record.id,
		hash: record.hash,
		prefix: record.prefix,
		hint: record.hint,
		ownerId: record.ownerId,
		name: record.name,
		createdAt: record.createdAt.getTime(),
		expiresAt: time(record.expiresAt),
		scopes: [...record.scopes],
		metadata: structuredClone(record.metadata) as KeyMetadata,
		lastUsedAt: time(record.lastUsedAt),
		replacedBy: record.replacedBy,
		blacklistedAt: time(record.blacklistedAt),
		reason: record.reason,
		note: record.note,
	}
}

/**
 * Rebuilds a record from {@link recordToJSON}'s output.
 * @param data - the stored data
 * @returns the record, with `Date` instants
 */
export function recordFromJSON(data: KeyRecordJSON): KeyRecord {
	return {
		id: data.id,
		hash: data.hash,
		prefix: data.prefix,
		hint: data.hint,
		ownerId: data.ownerId,
		name: data.name,
		createdAt: new Date(data.createdAt),
		expiresAt: date(data.expiresAt),
		scopes: data.scopes,
		metadata: data.metadata,
		lastUsedAt: date(data.lastUsedAt),
		replacedBy: data.replacedBy ?? null,
		blacklistedAt: date(data.blacklistedAt),
		reason: data.reason ?? null,
		note: data.note ?? null,
	}
}

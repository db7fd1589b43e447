import { type Duration, parseDuration } from './duration.js'
import { KeywardError } from './errors.js'
import { type IssuedKey, laterBy, newRecord, resolveExpiry } from './issue.js'
import { checkKnown, instant, type KeywardConfig } from './options.js'
import { isExpiredAt } from './record.js'
import { checkId, describeId, notFound } from './revoke.js'
import { callStore } from './store.js'

/** Options of `rotate()`. */
export interface RotateOptions {
	/**
	 * How long the old key keeps working. Its `expiresAt` becomes the earlier of its own and
	 * now + grace period; after that it answers `expired_key` like any other expired key.
	 * @defaultValue `0`: the old key stops working at once
	 */
	readonly gracePeriod?: Duration
	/**
	 * The new key's expiry. Give this or `expiresIn`, not both.
	 * @defaultValue the old key's lifetime (`expiresAt - createdAt`) counted from now; never, if the old key never expired
	 */
	readonly expiresAt?: Date | null
	/** The new key's lifetime from now, such as `'90d'`. */
	readonly expiresIn?: Duration
	/**
	 * The instant of rotation.
	 * @defaultValue the instance's clock
	 */
	readonly now?: Date
}

const KNOWN = { gracePeriod: true, expiresAt: true, expiresIn: true, now: true } satisfies Record<
	keyof RotateOptions,
	true
>

/** @internal */
export async function rotate(config: KeywardConfig, id: string, options: RotateOptions = {}): Promise<IssuedKey> {
	checkId(id)
	checkKnown(options, KNOWN, 'rotate()')
	const now = instant(options.now, 'now', config.clock)
	const grace = parseDuration(options.gracePeriod ?? 0, 'gracePeriod')
	const explicitExpiry = resolveExpiry(options, now)
	const { store } = config

	const old = await callStore(store, 'rotate', () => store.getById(id))
	if (old === null) throw notFound(id)
	if (old.blacklistedAt !== null || isExpiredAt(old, now)) throw notActive(id, old.reason ?? 'expired')
	if (old.replacedBy !== null) throw notActive(id, `already rotated (replaced by ${old.replacedBy})`)

	const lifetime = old.expiresAt === null ? null : old.expiresAt.getTime() - old.createdAt.getTime()
	const issued = newRecord(config, now, {
		ownerId: old.ownerId,
		name: old.name,
		expiresAt: explicitExpiry !== undefined ? explicitExpiry : lifetime === null ? null : laterBy(now, lifetime),
		scopes: [...old.scopes],
		metadata: structuredClone(old.metadata),
	})
	await callStore(store, 'rotate', () => store.insert(issued.record))

	const graceEnd = laterBy(now, grace)
	const expiresAt = old.expiresAt === null || graceEnd.getTime() < old.expiresAt.getTime() ? graceEnd : old.expiresAt
	// The successor's plaintext is returned only if the old key now points to it; otherwise the successor
	// is revoked, so no usable key exists that nobody was given.
	const abort = () =>
		callStore(store, 'rotate', () =>
			store.blacklist(issued.record.id, { reason: 'revoked', at: now, note: `rotation of ${id} aborted` }),
		)
	let updated: Awaited<ReturnType<typeof store.update>>
	try {
		updated = await callStore(store, 'rotate', () => store.update(id, { expiresAt, replacedBy: issued.record.id }))
	} catch (error) {
		await abort().catch(() => undefined) // best effort: the store may still be failing
		throw error
	}
	if (updated === null) {
		// The old key was revoked or swept between the read and the update: do not leave its successor usable.
		await abort()
		throw notActive(id, 'revoked or expired')
	}
	return issued
}

function notActive(id: string, state: string): KeywardError {
	return new KeywardError(
		'not_active',
		`key ${describeId(id)} is ${state}, so it cannot be rotated; issue a new key with issue() instead`,
	)
}

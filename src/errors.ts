/**
 * Every code a {@link KeywardError} can carry. Codes are stable: they are never renamed once released.
 *
 * - `invalid_option`: an option or argument passed to keyward is wrong (a typo, a bad type, a value out of range).
 * - `invalid_store`: the object given as `store` is not a usable {@link KeyStore}.
 * - `store_unavailable`: the key store failed or could not be reached; nothing was decided.
 * - `not_found`: no key has the given id.
 * - `not_active`: the key exists but is revoked or expired, so the operation (such as `rotate`) cannot apply.
 * - `conflict`: a store was asked to insert a record whose id or hash it already holds.
 */
export type KeywardErrorCode =
	| 'invalid_option'
	| 'invalid_store'
	| 'store_unavailable'
	| 'not_found'
	| 'not_active'
	| 'conflict'

/**
 * The one error class keyward throws. Branch on {@link KeywardError.code}, not on `instanceof`
 * (two copies of the package, ESM and CommonJS, would break `instanceof`); {@link isKeywardError} does that.
 *
 * Messages say what is wrong and what to do; they never contain a plaintext key.
 *
 * @example
 * ```ts
 * try {
 *   await keyward.revoke(id)
 * } catch (err) {
 *   if (isKeywardError(err) && err.code === 'not_found') console.log('no such key')
 *   else throw err
 * }
 * ```
 */
export class KeywardError extends Error {
	override readonly name = 'KeywardError'
	/** The stable machine-readable code; see {@link KeywardErrorCode}. */
	readonly code: KeywardErrorCode

	/**
	 * @param code - the stable code
	 * @param message - what is wrong and what to do about it (never a plaintext key)
	 * @param options - `cause`: the underlying error, such as a database driver's
	 */
	constructor(code: KeywardErrorCode, message: string, options?: { cause?: unknown }) {
		super(`${message} [keyward:${code}]`, options)
		this.code = code
	}
}

const CODES: ReadonlySet<string> = new Set<KeywardErrorCode>([
	'invalid_option',
	'invalid_store',
	'store_unavailable',
	'not_found',
	'not_active',
	'conflict',
])

/**
 * Tells whether a value is a keyward error, across package copies (ESM and CommonJS side by side).
 *
 * @param error - any caught value
 * @param code - when given, also require this code
 * @returns `true` when `error` is a {@link KeywardError} (with `code`, when given)
 * @example
 * ```ts
 * if (isKeywardError(err, 'store_unavailable')) res.status(503)
 * ```
 */
export function isKeywardError(error: unknown, code?: KeywardErrorCode): error is KeywardError {
	if (typeof error !== 'object' || error === null) return false
	const { name, code: actual } = error as { name?: unknown; code?: unknown }
	return (
		name === 'KeywardError' &&
		typeof actual === 'string' &&
		CODES.has(actual) &&
		(code === undefined || actual === code)
	)
}

/** @internal */
export function invalidOption(message: string): KeywardError {
	return new KeywardError('invalid_option', message)
}

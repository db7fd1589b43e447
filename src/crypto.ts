/**
 * The only file that imports `node:crypto`: random key bodies, record ids and key hashes.
 */
import * as nodeCrypto from 'node:crypto'
import { ALPHABET } from './key-format.js'

// 232 = 4 × 58: bytes at or above it are dropped so every character is equally likely.
const UNBIASED_LIMIT = 256 - (256 % ALPHABET.length)

/**
 * `length` characters of {@link ALPHABET}, each drawn uniformly from the operating system's CSPRNG.
 * @internal
 */
export function randomChars(length: number): string {
	let out = ''
	while (out.length < length) {
		for (const byte of nodeCrypto.randomBytes(length * 2)) {
			if (byte < UNBIASED_LIMIT) out += ALPHABET[byte % ALPHABET.length]
			if (out.length === length) break
		}
	}
	return out
}

/** A new random record id (a UUID v4): stable, non-secret and safe in URLs. @internal */
export function newId(): string {
	return nodeCrypto.randomUUID()
}

const sha256: (key: string) => string =
	typeof nodeCrypto.hash === 'function'
		? (key) => nodeCrypto.hash('sha256', key, 'base64url')
		: (key) => nodeCrypto.createHash('sha256').update(key).digest('base64url')

/**
 * The SHA-256 of a key, base64url without padding (43 characters). Keys are high-entropy random
 * secrets, so a fast hash is the right one; only this hash is ever stored.
 *
 * @param key - a plaintext key
 * @returns the hash under which stores index the key's record
 */
export function hashKey(key: string): string {
	return sha256(key)
}

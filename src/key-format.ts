/**
 * The key format, pure: `<prefix>_<body><checksum>`.
 *
 * - `prefix`: 2–8 lowercase letters chosen by the host (`sk`, `kw`), so keys are easy to recognise and scan for.
 * - `body`: {@link BODY_LENGTH} characters of {@link ALPHABET} (base58: no `0`, `O`, `I`, `l`), about 152 random bits.
 * - `checksum`: CRC-32 of `<prefix>_<body>`, written as {@link CHECKSUM_LENGTH} base58 characters.
 *
 * The checksum lets `verify()` reject typos, truncations and garbage without touching the store.
 * It is not a security control: anyone can compute a CRC.
 */

/** The base58 alphabet keys are written in: digits and letters without the look-alikes `0`, `O`, `I` and `l`. */
export const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/** Random characters in a key's body: 26 × log2(58) ≈ 152 bits. */
export const BODY_LENGTH = 26
/** Characters of checksum at the end of a key (58^6 > 2^32, so the whole CRC-32 fits). */
export const CHECKSUM_LENGTH = 6
/** Body characters shown in a record's `hint`; the rest (over 128 bits) stays secret. */
export const HINT_LENGTH = 4

const DIGIT = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i

const CRC_TABLE = new Int32Array(256)
for (let n = 0; n < 256; n++) {
	let c = n
	for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
	CRC_TABLE[n] = c
}

/** CRC-32 (IEEE) of the ASCII string `s[0, end)`; every character is known to be ASCII. */
function crc32(s: string, end: number): number {
	let crc = -1
	for (let i = 0; i < end; i++) crc = (CRC_TABLE[(crc ^ s.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8)
	return (crc ^ -1) >>> 0
}

function encodeChecksum(value: number): string {
	let out = ''
	for (let i = 0; i < CHECKSUM_LENGTH; i++) {
		out = ALPHABET[value % 58] + out
		value = Math.floor(value / 58)
	}
	return out
}

/** The total length of a key with this prefix. */
export function keyLength(prefix: string): number {
	return prefix.length + 1 + BODY_LENGTH + CHECKSUM_LENGTH
}

/**
 * Assembles a key from a prefix and a random body by appending the checksum.
 * @internal
 */
export function formatKey(prefix: string, body: string): string {
	const head = `${prefix}_${body}`
	return head + encodeChecksum(crc32(head, head.length))
}

/** The non-secret hint stored with a record: the prefix and the first {@link HINT_LENGTH} body characters. */
export function keyHint(key: string, prefix: string): string {
	return key.slice(0, prefix.length + 1 + HINT_LENGTH)
}

/** What {@link parseKey} answers. */
export type ParsedKey =
	| { readonly ok: true; readonly key: string }
	| { readonly ok: false; readonly code: 'missing_key' | 'malformed_key' }

const MISSING: ParsedKey = Object.freeze({ ok: false, code: 'missing_key' })
const MALFORMED: ParsedKey = Object.freeze({ ok: false, code: 'malformed_key' })

/**
 * Checks a candidate key without any I/O: type, exact length, prefix, alphabet and checksum.
 * Never throws, whatever the input.
 *
 * `undefined`, `null` and `''` are `missing_key`; anything else that is not a well-formed key with
 * this prefix is `malformed_key`.
 *
 * @param input - anything a caller received as a key
 * @param prefix - the expected prefix
 * @returns `{ ok: true, key }` or `{ ok: false, code }`
 */
export function parseKey(input: unknown, prefix: string): ParsedKey {
	if (input === undefined || input === null || input === '') return MISSING
	if (typeof input !== 'string' || input.length !== keyLength(prefix)) return MALFORMED
	const bodyStart = prefix.length + 1
	if (!input.startsWith(prefix) || input.charCodeAt(prefix.length) !== 95 /* _ */) return MALFORMED
	let checksum = 0
	for (let i = bodyStart; i < input.length; i++) {
		const code = input.charCodeAt(i)
		const digit = code < 128 ? (DIGIT[code] as number) : -1
		if (digit < 0) return MALFORMED
		if (i >= input.length - CHECKSUM_LENGTH) checksum = checksum * 58 + digit
	}
	if (checksum !== crc32(input, input.length - CHECKSUM_LENGTH)) return MALFORMED
	return { ok: true, key: input }
}

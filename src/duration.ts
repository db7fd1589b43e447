import { invalidOption } from './errors.js'

/**
 * A length of time: milliseconds as a number, or a string of an integer and a unit,
 * `ms`, `s`, `m`, `h`, `d` or `w` (`'45s'`, `'15m'`, `'12h'`, `'30d'`, `'2w'`).
 */
export type Duration = number | `${number}${DurationUnit}`

/** The units a {@link Duration} string may use. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w'

const UNIT_MS: Record<DurationUnit, number> = {
	ms: 1,
	s: 1000,
	m: 60_000,
	h: 3_600_000,
	d: 86_400_000,
	w: 604_800_000,
}

const PATTERN = /^(\d{1,15})(ms|s|m|h|d|w)$/

/**
 * Turns a {@link Duration} into milliseconds.
 *
 * @param value - milliseconds, or a string such as `'30d'`
 * @param name - the option's name, used in the error message
 * @returns a non-negative safe integer number of milliseconds
 * @throws KeywardError `invalid_option` when the value is not a duration
 * @example
 * ```ts
 * parseDuration('12h', 'retention') // 43_200_000
 * ```
 */
export function parseDuration(value: unknown, name: string): number {
	if (typeof value === 'number') {
		if (Number.isSafeInteger(value) && value >= 0) return value
		throw invalidOption(`${name} must be a whole, non-negative number of milliseconds (got ${value})`)
	}
	if (typeof value === 'string') {
		const match = PATTERN.exec(value)
		if (match) {
			const ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
			if (Number.isSafeInteger(ms)) return ms
		}
		throw invalidOption(
			`${name} must be milliseconds or a string such as '45s', '15m', '12h', '30d' (got ${JSON.stringify(value.slice(0, 40))})`,
		)
	}
	throw invalidOption(`${name} must be milliseconds or a string such as '30d' (got ${typeOf(value)})`)
}

/** @internal Names a value's type for an error message without printing the value. */
export function typeOf(value: unknown): string {
	if (value === null) return 'null'
	if (Array.isArray(value)) return 'an array'
	if (value instanceof Date) return 'a Date'
	return typeof value
}

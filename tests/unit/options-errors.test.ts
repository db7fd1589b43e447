import {
	createKeyward,
	isKeywardError,
	type KeyStore,
	KeywardError,
	type KeywardErrorCode,
	type KeywardOptions,
	memoryStore,
	parseDuration,
} from 'keyward'
import { describe, expect, it } from 'vitest'
import { at, caught, DAY, HOUR, keywardError } from './support.js'

const CODES: KeywardErrorCode[] = [
	'invalid_option',
	'invalid_store',
	'store_unavailable',
	'not_found',
	'not_active',
	'conflict',
]

describe('createKeyward › options', () => {
	it('createKeyward › accepts no options, an empty object, and every known option', () => {
		expect(createKeyward().prefix).toBe('kw')
		expect(createKeyward({}).prefix).toBe('kw')
		const store = memoryStore()
		const keyward = createKeyward({ store, prefix: 'sk', clock: () => at(0) })
		expect(keyward.prefix).toBe('sk')
		expect(keyward.store).toBe(store)
	})

	it('createKeyward › rejects unknown option names with invalid_option naming the option', async () => {
		for (const name of ['Prefix', 'clok', 'stores', 'ttl']) {
			const error = await keywardError(
				() => createKeyward({ [name]: 'x' } as unknown as KeywardOptions),
				'invalid_option',
			)
			expect(error.message).toContain(`"${name}"`)
		}
	})

	it('createKeyward › rejects options that are not an object', async () => {
		for (const options of ['kw', 42, [], true]) {
			await keywardError(() => createKeyward(options as KeywardOptions), 'invalid_option')
		}
	})

	it('createKeyward › rejects a bad prefix with invalid_option', async () => {
		for (const prefix of ['SK', 'a', 'toolongprefix', 'sk_', 'sk1', 's k', '', 'ké', 42, false, null]) {
			const error = await keywardError(() => createKeyward({ prefix: prefix as string }), 'invalid_option')
			expect(error.message).toContain('prefix')
		}
	})

	it('createKeyward › accepts 2- and 8-letter prefixes', () => {
		expect(createKeyward({ prefix: 'ab' }).prefix).toBe('ab')
		expect(createKeyward({ prefix: 'abcdefgh' }).prefix).toBe('abcdefgh')
	})

	it('createKeyward › rejects a clock that is not a function', async () => {
		for (const clock of [new Date(), Date.now(), 'now', null]) {
			await keywardError(() => createKeyward({ clock: clock as unknown as () => Date }), 'invalid_option')
		}
	})

	it('createKeyward › rejects a store missing methods with invalid_store naming them', async () => {
		const { getByHash, moveExpired, ...partial } = memoryStore()
		const error = await keywardError(() => createKeyward({ store: partial as unknown as KeyStore }), 'invalid_store')
		expect(error.message).toContain('getByHash')
		expect(error.message).toContain('moveExpired')
		expect(error.message).not.toContain('insert')
		expect(getByHash).toBeTypeOf('function')
	})

	it('createKeyward › rejects a store that is not an object, or lacks name or capabilities', async () => {
		const bad: unknown[] = [
			'memory',
			42,
			{},
			{ ...memoryStore(), name: undefined },
			{ ...memoryStore(), capabilities: null },
			{ ...memoryStore(), insert: 'yes' },
		]
		for (const store of bad) await keywardError(() => createKeyward({ store: store as KeyStore }), 'invalid_store')
	})

	it('createKeyward › a clock that returns an invalid Date makes verify throw invalid_option', async () => {
		const good = createKeyward()
		const { key } = await good.issue({ ownerId: 'u1' })
		for (const value of [new Date(Number.NaN), Date.now(), '2030-01-01', undefined]) {
			const keyward = createKeyward({ store: good.store, clock: () => value as Date })
			const error = await keywardError(() => keyward.verify(key), 'invalid_option')
			expect(error.message).toContain('clock')
			expect(error.message).not.toContain(key)
		}
	})

	it('createKeyward › a clock that returns an invalid Date makes issue, revoke, rotate and sweep throw invalid_option', async () => {
		const good = createKeyward()
		const { record } = await good.issue({ ownerId: 'u1' })
		const keyward = createKeyward({ store: good.store, clock: () => new Date(Number.NaN) })
		await keywardError(() => keyward.issue({ ownerId: 'u1' }), 'invalid_option')
		await keywardError(() => keyward.revoke(record.id), 'invalid_option')
		await keywardError(() => keyward.rotate(record.id), 'invalid_option')
		await keywardError(() => keyward.sweep(), 'invalid_option')
		await keywardError(() => keyward.expiring({ within: '1d' }), 'invalid_option')
		expect((await good.get(record.id))?.blacklistedAt).toBeNull()
	})

	it('expiring › a window reaching past the largest Date ends there (the store never gets an Invalid Date)', async () => {
		const inner = memoryStore()
		const untils: Date[] = []
		const store: KeyStore = {
			...inner,
			name: inner.name,
			capabilities: inner.capabilities,
			listExpiring: (query) => {
				untils.push(query.until)
				return inner.listExpiring(query)
			},
		}
		const keyward = createKeyward({ store, clock: () => at(0) })
		const far = await keyward.issue({ ownerId: 'u1', expiresAt: new Date(8.64e15) }) // the largest Date
		const listed = await keyward.expiring({ within: '100000000d' })
		expect(untils.map((until) => until.getTime())).toEqual([8.64e15])
		expect(listed.map((record) => record.id)).toEqual([far.record.id])
	})

	it('createKeyward › the instance is frozen', () => {
		const keyward = createKeyward()
		expect(Object.isFrozen(keyward)).toBe(true)
	})
})

describe('KeywardError and isKeywardError', () => {
	it('KeywardError › message ends with [keyward:<code>] and keeps name, code and cause', () => {
		const cause = new Error('inner')
		for (const code of CODES) {
			const error = new KeywardError(code, 'something is wrong', { cause })
			expect(error.message).toBe(`something is wrong [keyward:${code}]`)
			expect(error.message.endsWith(`[keyward:${code}]`)).toBe(true)
			expect(error.name).toBe('KeywardError')
			expect(error.code).toBe(code)
			expect(error.cause).toBe(cause)
			expect(error).toBeInstanceOf(Error)
			expect(String(error)).toBe(`KeywardError: something is wrong [keyward:${code}]`)
		}
	})

	it('isKeywardError › is true for a KeywardError, with or without a matching code', () => {
		const error = new KeywardError('not_found', 'no such key')
		expect(isKeywardError(error)).toBe(true)
		expect(isKeywardError(error, 'not_found')).toBe(true)
		expect(isKeywardError(error, 'conflict')).toBe(false)
	})

	it('isKeywardError › is true for a plain object shaped like one (another copy of the package)', () => {
		expect(isKeywardError({ name: 'KeywardError', code: 'not_found' })).toBe(true)
		expect(isKeywardError({ name: 'KeywardError', code: 'not_found' }, 'not_found')).toBe(true)
		expect(isKeywardError({ name: 'KeywardError', code: 'not_found' }, 'invalid_option')).toBe(false)
	})

	it('isKeywardError › is false for other errors, unknown codes and non-objects', () => {
		const other = Object.assign(new Error('x'), { code: 'not_found' })
		const values: unknown[] = [
			other,
			new TypeError('x'),
			{ name: 'KeywardError', code: 'made_up' },
			{ name: 'KeywardError', code: 'NOT_FOUND' },
			{ name: 'KeywardError' },
			{ name: 'KeywardError', code: 42 },
			{ name: 'keywarderror', code: 'not_found' },
			'KeywardError',
			null,
			undefined,
			42,
		]
		for (const value of values) expect(isKeywardError(value), String(value)).toBe(false)
		expect(isKeywardError({ name: 'KeywardError', code: 'made_up' }, 'made_up' as KeywardErrorCode)).toBe(false)
	})

	it('isKeywardError › recognises the errors keyward itself throws', async () => {
		const error = await caught(() => createKeyward({ prefix: 'X' }))
		expect(isKeywardError(error, 'invalid_option')).toBe(true)
	})
})

describe('parseDuration', () => {
	it('parseDuration › reads every unit', () => {
		expect(parseDuration('45s', 'd')).toBe(45_000)
		expect(parseDuration('15m', 'd')).toBe(15 * 60_000)
		expect(parseDuration('12h', 'd')).toBe(12 * HOUR)
		expect(parseDuration('30d', 'd')).toBe(30 * DAY)
		expect(parseDuration('2w', 'd')).toBe(14 * DAY)
		expect(parseDuration('250ms', 'd')).toBe(250)
		expect(parseDuration('0s', 'd')).toBe(0)
	})

	it('parseDuration › takes whole non-negative numbers as milliseconds', () => {
		expect(parseDuration(0, 'd')).toBe(0)
		expect(parseDuration(1500, 'd')).toBe(1500)
		expect(parseDuration(Number.MAX_SAFE_INTEGER, 'd')).toBe(Number.MAX_SAFE_INTEGER)
	})

	it('parseDuration › rejects bad values with invalid_option naming the option', async () => {
		const bad: unknown[] = [
			'-1s',
			'1.5h',
			'',
			'abc',
			'1',
			'1 s',
			' 1s',
			'1s ',
			'1S',
			'1y',
			'1e3ms',
			'١s', // an Arabic-Indic digit
			'9999999999999999w',
			Number.NaN,
			-1,
			1.5,
			Number.POSITIVE_INFINITY,
			Number.MAX_SAFE_INTEGER + 1,
			null,
			undefined,
			{},
			10n,
		]
		for (const value of bad) {
			const error = await keywardError(() => parseDuration(value, 'retention'), 'invalid_option')
			expect(error.message).toContain('retention')
		}
	})

	it('parseDuration › cuts long strings in its message', async () => {
		const error = await keywardError(() => parseDuration(`x${'y'.repeat(500)}`, 'within'), 'invalid_option')
		expect(error.message.length).toBeLessThan(200)
	})
})

import { createKeyward, type IssueOptions, isKeywardError } from 'keyward'
import { describe, expect, it } from 'vitest'
import { at, countingStore, DAY, HOUR, KEY_PATTERN, keywardError, manualClock } from './support.js'

/** A value that must never show up in an error message. */
const SECRET = 'hunter2-do-not-log-me'

function setup() {
	const clock = manualClock()
	const counted = countingStore()
	const keyward = createKeyward({ store: counted.store, clock: clock.read })
	return { clock, counted, keyward }
}

const cycle: Record<string, unknown> = { password: SECRET }
cycle.self = cycle

class Plan {
	password = SECRET
}

/** Each case: what is wrong, and the options. Every one carries SECRET somewhere it could leak from. */
const REFUSED: [string, Record<string, unknown>][] = [
	['no options object', undefined as never],
	['null options', null as never],
	['options as a string', SECRET as never],
	['missing ownerId', { metadata: { password: SECRET } }],
	['empty ownerId', { ownerId: '', metadata: { password: SECRET } }],
	['ownerId not a string', { ownerId: 42, metadata: { password: SECRET } }],
	['ownerId of 257 characters', { ownerId: 'o'.repeat(257), metadata: { password: SECRET } }],
	['name not a string', { ownerId: 'u1', name: 7, metadata: { password: SECRET } }],
	['name of 257 characters', { ownerId: 'u1', name: 'n'.repeat(257) }],
	['both expiresAt and expiresIn', { ownerId: 'u1', expiresAt: at(DAY), expiresIn: '1d' }],
	['expiresAt: null with expiresIn', { ownerId: 'u1', expiresAt: null, expiresIn: '1d' }],
	['expiresAt in the past', { ownerId: 'u1', expiresAt: at(-1) }],
	['expiresAt equal to now', { ownerId: 'u1', expiresAt: at(0) }],
	['expiresAt an invalid Date', { ownerId: 'u1', expiresAt: new Date(Number.NaN) }],
	['expiresAt an ISO string', { ownerId: 'u1', expiresAt: '2031-01-01T00:00:00Z' }],
	['expiresAt a number', { ownerId: 'u1', expiresAt: Date.UTC(2031, 0, 1) }],
	["expiresIn '0s'", { ownerId: 'u1', expiresIn: '0s' }],
	['expiresIn 0', { ownerId: 'u1', expiresIn: 0 }],
	["expiresIn '1.5h'", { ownerId: 'u1', expiresIn: '1.5h' }],
	["expiresIn '-1d'", { ownerId: 'u1', expiresIn: '-1d' }],
	["expiresIn '30 d'", { ownerId: 'u1', expiresIn: '30 d' }],
	["expiresIn '30D'", { ownerId: 'u1', expiresIn: '30D' }],
	["expiresIn '1y'", { ownerId: 'u1', expiresIn: '1y' }],
	["expiresIn ''", { ownerId: 'u1', expiresIn: '' }],
	["expiresIn '30'", { ownerId: 'u1', expiresIn: '30' }],
	['expiresIn -1', { ownerId: 'u1', expiresIn: -1 }],
	['expiresIn 1.5', { ownerId: 'u1', expiresIn: 1.5 }],
	['expiresIn NaN', { ownerId: 'u1', expiresIn: Number.NaN }],
	['expiresIn Infinity', { ownerId: 'u1', expiresIn: Number.POSITIVE_INFINITY }],
	['expiresIn too large to be safe', { ownerId: 'u1', expiresIn: '999999999999999w' }],
	['expiresIn a Date', { ownerId: 'u1', expiresIn: at(DAY) }],
	['scopes a string', { ownerId: 'u1', scopes: 'read' }],
	['scopes an object', { ownerId: 'u1', scopes: { read: true } }],
	['scopes null', { ownerId: 'u1', scopes: null }],
	['a scope with a space', { ownerId: 'u1', scopes: ['read write'] }],
	['an empty scope', { ownerId: 'u1', scopes: [''] }],
	['a scope with a double quote', { ownerId: 'u1', scopes: ['a"b'] }],
	['a scope with a backslash', { ownerId: 'u1', scopes: ['a\\b'] }],
	['a non-ASCII scope', { ownerId: 'u1', scopes: ['lecture'.replace('e', 'é')] }],
	['a scope of 129 characters', { ownerId: 'u1', scopes: ['s'.repeat(129)] }],
	['a scope that is not a string', { ownerId: 'u1', scopes: ['read', 42] }],
	['a sparse scopes array', { ownerId: 'u1', scopes: new Array(2) }],
	['101 scopes', { ownerId: 'u1', scopes: Array.from({ length: 101 }, (_, i) => `s${i}`) }],
	['101 copies of one scope', { ownerId: 'u1', scopes: Array.from({ length: 101 }, () => 'read') }],
	['metadata an array', { ownerId: 'u1', metadata: [SECRET] }],
	['metadata null', { ownerId: 'u1', metadata: null }],
	['metadata a string', { ownerId: 'u1', metadata: SECRET }],
	['metadata a Date', { ownerId: 'u1', metadata: new Date() }],
	['metadata a Map', { ownerId: 'u1', metadata: new Map([['password', SECRET]]) }],
	['metadata a class instance', { ownerId: 'u1', metadata: new Plan() }],
	['metadata holding a BigInt', { ownerId: 'u1', metadata: { password: SECRET, n: 10n } }],
	['metadata with a cycle', { ownerId: 'u1', metadata: cycle }],
	["the typo 'expiresin'", { ownerId: 'u1', expiresin: '30d', metadata: { password: SECRET } }],
	["the unknown option 'owner'", { owner: 'u1', metadata: { password: SECRET } }],
	['now not a Date', { ownerId: 'u1', now: '2030-01-01' }],
	['now an invalid Date', { ownerId: 'u1', now: new Date(Number.NaN) }],
]

describe('issue › refuses bad input with invalid_option', () => {
	it.each(REFUSED)('issue › refuses %s with invalid_option, stores nothing and leaks nothing', async (_, options) => {
		const { counted, keyward } = setup()
		const error = await keywardError(() => keyward.issue(options as unknown as IssueOptions), 'invalid_option')
		expect(isKeywardError(error, 'invalid_option')).toBe(true)
		expect(error.name).toBe('KeywardError')
		expect(error.message).not.toContain(SECRET)
		expect(error.message).not.toMatch(KEY_PATTERN)
		expect(counted.count('insert')).toBe(0)
	})

	it('issue › names the unknown option in the message', async () => {
		const { keyward } = setup()
		const error = await keywardError(
			() => keyward.issue({ ownerId: 'u1', expiresin: '30d' } as unknown as IssueOptions),
			'invalid_option',
		)
		expect(error.message).toContain('"expiresin"')
	})

	it('issue › refuses an expiresAt 1 ms in the past relative to a per-call now', async () => {
		const { keyward } = setup()
		await keywardError(() => keyward.issue({ ownerId: 'u1', expiresAt: at(DAY - 1), now: at(DAY) }), 'invalid_option')
		expect((await keyward.issue({ ownerId: 'u1', expiresAt: at(DAY + 1), now: at(DAY) })).record.expiresAt).toEqual(
			at(DAY + 1),
		)
	})
})

describe('issue › accepted input', () => {
	it('issue › defaults: no expiry, empty name, no scopes, empty metadata, created at the clock', async () => {
		const { keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1' })
		expect(record).toMatchObject({
			ownerId: 'u1',
			name: '',
			expiresAt: null,
			scopes: [],
			metadata: {},
			createdAt: at(0),
			lastUsedAt: null,
			replacedBy: null,
			blacklistedAt: null,
			reason: null,
			note: null,
		})
	})

	it("issue › expiresIn '30d' gives createdAt + 30 days", async () => {
		const { clock, keyward } = setup()
		clock.set(5 * HOUR + 7)
		const { record } = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		expect(record.createdAt).toEqual(at(5 * HOUR + 7))
		expect((record.expiresAt?.getTime() ?? 0) - record.createdAt.getTime()).toBe(30 * DAY)
	})

	it('issue › expiresIn as a number is milliseconds, and every unit is understood', async () => {
		const { keyward } = setup()
		const cases: [IssueOptions['expiresIn'], number][] = [
			[1, 1],
			['1ms', 1],
			['45s', 45_000],
			['15m', 15 * 60_000],
			['12h', 12 * HOUR],
			['2w', 14 * DAY],
		]
		for (const [expiresIn, ms] of cases) {
			const { record } = await keyward.issue({ ownerId: 'u1', expiresIn })
			expect(record.expiresAt).toEqual(at(ms))
		}
	})

	it('issue › expiresAt: null means never, and expiresAt is copied, not kept by reference', async () => {
		const { keyward } = setup()
		expect((await keyward.issue({ ownerId: 'u1', expiresAt: null })).record.expiresAt).toBeNull()
		const expiresAt = at(DAY)
		const { record } = await keyward.issue({ ownerId: 'u1', expiresAt })
		expiresAt.setTime(0)
		expect(record.expiresAt).toEqual(at(DAY))
		expect((await keyward.get(record.id))?.expiresAt).toEqual(at(DAY))
	})

	it('issue › duplicate scopes are removed, first occurrence order kept', async () => {
		const { keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1', scopes: ['read', 'orders:write', 'read', 'orders:write'] })
		expect(record.scopes).toEqual(['read', 'orders:write'])
		expect((await keyward.get(record.id))?.scopes).toEqual(['read', 'orders:write'])
	})

	it('issue › accepts exactly 100 scopes, 256-character ownerId and name, and a 128-character scope', async () => {
		const { keyward } = setup()
		const scopes = Array.from({ length: 100 }, (_, i) => `s${i}`)
		const { record } = await keyward.issue({ ownerId: 'o'.repeat(256), name: 'n'.repeat(256), scopes })
		expect(record.scopes).toHaveLength(100)
		expect((await keyward.issue({ ownerId: 'u1', scopes: ['s'.repeat(128)] })).record.scopes).toHaveLength(1)
	})

	it('issue › accepts metadata with a null prototype', async () => {
		const { keyward } = setup()
		const metadata = Object.assign(Object.create(null) as Record<string, unknown>, { plan: 'pro' })
		expect((await keyward.issue({ ownerId: 'u1', metadata })).record.metadata).toEqual({ plan: 'pro' })
	})

	it('issue › metadata is copied: mutating the input afterwards changes neither the answer nor the store', async () => {
		const { keyward } = setup()
		const metadata = { plan: 'pro', limits: { rpm: 60 }, tags: ['a'] }
		const { record } = await keyward.issue({ ownerId: 'u1', metadata })
		metadata.plan = 'free'
		metadata.limits.rpm = 1
		metadata.tags.push('b')
		const expected = { plan: 'pro', limits: { rpm: 60 }, tags: ['a'] }
		expect(record.metadata).toEqual(expected)
		expect((await keyward.get(record.id))?.metadata).toEqual(expected)
	})

	it('issue › scopes are copied: mutating the input array afterwards changes nothing stored', async () => {
		const { keyward } = setup()
		const scopes = ['read']
		const { record } = await keyward.issue({ ownerId: 'u1', scopes })
		scopes.push('admin')
		expect(record.scopes).toEqual(['read'])
		expect((await keyward.get(record.id))?.scopes).toEqual(['read'])
	})

	it('issue › writes exactly one record to the store', async () => {
		const { counted, keyward } = setup()
		await keyward.issue({ ownerId: 'u1', expiresIn: '1d' })
		expect(counted.count('insert')).toBe(1)
		expect(counted.writes()).toBe(1)
	})
})

import { createKeyward, type KeyStore, memoryStore, type RevokeOptions, type RotateOptions } from 'keyward'
import { describe, expect, it } from 'vitest'
import { at, countingStore, DAY, HOUR, KEY_PATTERN, keywardError, MINUTE, manualClock } from './support.js'

function setup(store?: KeyStore) {
	const clock = manualClock()
	const counted = countingStore(store)
	const keyward = createKeyward({ store: counted.store, clock: clock.read })
	return { clock, counted, keyward }
}

describe('revoke', () => {
	it('revoke › moves the key to the blacklist with reason revoked, the note, and blacklistedAt = clock', async () => {
		const { clock, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		clock.set(HOUR)
		const revoked = await keyward.revoke(record.id, { note: 'leaked in a log by alice' })
		expect(revoked).toEqual({
			...record,
			blacklistedAt: at(HOUR),
			reason: 'revoked',
			note: 'leaked in a log by alice',
		})
		expect(await keyward.get(record.id)).toEqual(revoked)
		expect(await keyward.verify(key)).toEqual({ ok: false, code: 'revoked_key', record: revoked })
		expect(await keyward.list({ ownerId: 'u1' })).toEqual([])
		expect(await keyward.list({ ownerId: 'u1', includeBlacklisted: true })).toEqual([revoked])
	})

	it('revoke › without a note stores note null; a per-call now sets blacklistedAt', async () => {
		const { keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1' })
		const revoked = await keyward.revoke(record.id, { now: at(5 * MINUTE) })
		expect(revoked).toMatchObject({ reason: 'revoked', note: null, blacklistedAt: at(5 * MINUTE) })
	})

	it('revoke › a second revoke answers the same record unchanged (same blacklistedAt and note)', async () => {
		const { clock, keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1' })
		const first = await keyward.revoke(record.id, { note: 'first' })
		clock.set(DAY)
		const second = await keyward.revoke(record.id, { note: 'second' })
		expect(second).toEqual(first)
		expect(second.blacklistedAt).toEqual(at(0))
		expect(await keyward.get(record.id)).toEqual(first)
	})

	it('revoke › revoking an expired-and-swept key answers it unchanged, still reason expired', async () => {
		const { clock, keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		clock.set(2 * HOUR)
		await keyward.sweep()
		clock.set(3 * HOUR)
		expect(await keyward.revoke(record.id)).toMatchObject({
			reason: 'expired',
			blacklistedAt: at(2 * HOUR),
			note: null,
		})
	})

	it('revoke › sweep does not change a revoked key, even once its expiry has passed', async () => {
		const { clock, keyward } = setup()
		const { key, record } = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		const revoked = await keyward.revoke(record.id, { note: 'n' })
		clock.set(2 * HOUR)
		expect((await keyward.sweep()).expired).toBe(0)
		expect(await keyward.get(record.id)).toEqual(revoked)
		expect(await keyward.verify(key)).toMatchObject({ code: 'revoked_key' })
	})

	it('revoke › rejects an unknown id with not_found', async () => {
		const { keyward } = setup()
		const error = await keywardError(() => keyward.revoke('00000000-0000-4000-8000-000000000000'), 'not_found')
		expect(error.message).toContain('00000000-0000-4000-8000-000000000000')
	})

	it('revoke › rejects a bad id with invalid_option before touching the store', async () => {
		const { counted, keyward } = setup()
		for (const id of ['', 42, null, undefined, 'x'.repeat(257), { id: 'x' }]) {
			await keywardError(() => keyward.revoke(id as string), 'invalid_option')
		}
		expect(counted.count('blacklist')).toBe(0)
	})

	it('revoke › rejects bad options with invalid_option', async () => {
		const { keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1' })
		for (const options of [{ note: 'n'.repeat(1001) }, { note: 42 }, { reason: 'x' }, { now: 'today' }, 'note']) {
			await keywardError(() => keyward.revoke(record.id, options as RevokeOptions), 'invalid_option')
		}
		expect((await keyward.get(record.id))?.blacklistedAt).toBeNull()
		expect((await keyward.revoke(record.id, { note: 'n'.repeat(1000) })).note).toHaveLength(1000)
	})

	it('revoke › a plaintext key passed by mistake as the id is not echoed in the error message', async () => {
		const { keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		const error = await keywardError(() => keyward.revoke(key), 'not_found')
		expect(error.message).not.toContain(key)
		expect(error.message).not.toMatch(KEY_PATTERN)
	})
})

describe('rotate', () => {
	it('rotate › the new key has the same owner, name, scopes and metadata, a new id, hash and key', async () => {
		const { keyward } = setup()
		const old = await keyward.issue({
			ownerId: 'u1',
			name: 'ci',
			scopes: ['read', 'write'],
			metadata: { plan: 'pro', nested: { n: 1 } },
			expiresIn: '30d',
		})
		const fresh = await keyward.rotate(old.record.id, { gracePeriod: '1h' })
		expect(fresh.record).toMatchObject({
			ownerId: 'u1',
			name: 'ci',
			scopes: ['read', 'write'],
			metadata: { plan: 'pro', nested: { n: 1 } },
			prefix: 'kw',
			createdAt: at(0),
			blacklistedAt: null,
			replacedBy: null,
		})
		expect(fresh.record.id).not.toBe(old.record.id)
		expect(fresh.record.hash).not.toBe(old.record.hash)
		expect(fresh.key).not.toBe(old.key)
		expect(await keyward.verify(fresh.key)).toEqual({ ok: true, record: fresh.record })
		expect(await keyward.get(fresh.record.id)).toEqual(fresh.record)
	})

	it('rotate › the old key works during the grace period and is expired_key from now + grace on', async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		clock.set(DAY)
		await keyward.rotate(old.record.id, { gracePeriod: '1h' })
		expect((await keyward.verify(old.key, { now: at(DAY + HOUR - 1) })).ok).toBe(true)
		const after = await keyward.verify(old.key, { now: at(DAY + HOUR) })
		expect(after).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at(DAY + HOUR) })
	})

	it('rotate › the old expiry becomes now + grace when that is earlier, and replacedBy the new id', async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		clock.set(DAY)
		const fresh = await keyward.rotate(old.record.id, { gracePeriod: '2h' })
		expect(await keyward.get(old.record.id)).toEqual({
			...old.record,
			expiresAt: at(DAY + 2 * HOUR),
			replacedBy: fresh.record.id,
		})
	})

	it('rotate › the old expiry stays its own when it is earlier than now + grace', async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '2h' })
		clock.set(HOUR)
		const fresh = await keyward.rotate(old.record.id, { gracePeriod: '1d' })
		expect(await keyward.get(old.record.id)).toMatchObject({ expiresAt: at(2 * HOUR), replacedBy: fresh.record.id })
		expect((await keyward.verify(old.key, { now: at(2 * HOUR - 1) })).ok).toBe(true)
		expect(await keyward.verify(old.key, { now: at(2 * HOUR) })).toMatchObject({ code: 'expired_key' })
	})

	it('rotate › an old key that never expired gets now + grace as its expiry', async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1' })
		clock.set(DAY)
		await keyward.rotate(old.record.id, { gracePeriod: 90_000 })
		expect((await keyward.get(old.record.id))?.expiresAt).toEqual(at(DAY + 90_000))
	})

	it('rotate › the default grace period is 0: the old key is expired at once', async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		clock.set(DAY)
		const fresh = await keyward.rotate(old.record.id)
		expect((await keyward.get(old.record.id))?.expiresAt).toEqual(at(DAY))
		expect(await keyward.verify(old.key)).toMatchObject({ ok: false, code: 'expired_key', expiredAt: at(DAY) })
		expect((await keyward.verify(fresh.key)).ok).toBe(true)
	})

	it("rotate › the new key's lifetime defaults to the old one's, counted from now", async () => {
		const { clock, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		clock.set(10 * DAY + 123)
		const fresh = await keyward.rotate(old.record.id)
		expect(fresh.record.createdAt).toEqual(at(10 * DAY + 123))
		expect(fresh.record.expiresAt).toEqual(at(40 * DAY + 123))
	})

	it('rotate › a key that never expired is replaced by a key that never expires', async () => {
		const { keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1' })
		expect((await keyward.rotate(old.record.id)).record.expiresAt).toBeNull()
	})

	it("rotate › an explicit expiresIn or expiresAt overrides the old key's lifetime", async () => {
		const { keyward } = setup()
		const a = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		expect((await keyward.rotate(a.record.id, { expiresIn: '7d' })).record.expiresAt).toEqual(at(7 * DAY))
		const b = await keyward.issue({ ownerId: 'u1' })
		expect((await keyward.rotate(b.record.id, { expiresIn: '1h' })).record.expiresAt).toEqual(at(HOUR))
		const c = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		expect((await keyward.rotate(c.record.id, { expiresAt: null })).record.expiresAt).toBeNull()
		const d = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		expect((await keyward.rotate(d.record.id, { expiresAt: at(DAY) })).record.expiresAt).toEqual(at(DAY))
	})

	it('rotate › rejects a revoked key with not_active and issues nothing', async () => {
		const { counted, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		await keyward.revoke(old.record.id)
		counted.reset()
		const error = await keywardError(() => keyward.rotate(old.record.id), 'not_active')
		expect(error.message).toContain('revoked')
		expect(counted.count('insert')).toBe(0)
	})

	it('rotate › rejects an expired key with not_active, swept or not, at the exact expiry instant', async () => {
		const { clock, keyward } = setup()
		const unswept = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		const swept = await keyward.issue({ ownerId: 'u1', expiresIn: '1h' })
		clock.set(HOUR)
		await keywardError(() => keyward.rotate(unswept.record.id), 'not_active')
		await keyward.sweep({ batchSize: 1 }) // moves both
		await keywardError(() => keyward.rotate(swept.record.id), 'not_active')
		expect(await keyward.list({ ownerId: 'u1', includeBlacklisted: true })).toHaveLength(2)
	})

	it('rotate › rejects a key that was already rotated, even during its grace period', async () => {
		const { counted, keyward } = setup()
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		await keyward.rotate(old.record.id, { gracePeriod: '1h' })
		counted.reset()
		const error = await keywardError(() => keyward.rotate(old.record.id), 'not_active')
		expect(error.message).toContain('already rotated')
		expect(counted.count('insert')).toBe(0)
	})

	it('rotate › rejects an unknown id with not_found and a bad id with invalid_option', async () => {
		const { keyward } = setup()
		await keywardError(() => keyward.rotate('no-such-id'), 'not_found')
		await keywardError(() => keyward.rotate(''), 'invalid_option')
		await keywardError(() => keyward.rotate(7 as unknown as string), 'invalid_option')
	})

	it('rotate › rejects bad options with invalid_option before any write', async () => {
		const { counted, keyward } = setup()
		const { record } = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		counted.reset()
		const bad: unknown[] = [
			{ gracePeriod: '-1h' },
			{ gracePeriod: 'soon' },
			{ gracePeriod: 1.5 },
			{ expiresIn: '0s' },
			{ expiresIn: '1d', expiresAt: at(DAY) },
			{ expiresAt: at(0) },
			{ grace: '1h' },
			{ now: 'now' },
		]
		for (const options of bad)
			await keywardError(() => keyward.rotate(record.id, options as RotateOptions), 'invalid_option')
		expect(counted.writes()).toBe(0)
	})

	it('rotate › when the old key is blacklisted between read and update, answers not_active and revokes the successor', async () => {
		const inner = memoryStore()
		const { keyward } = setup({ ...inner, update: async () => null })
		const old = await keyward.issue({ ownerId: 'u1', expiresIn: '30d' })
		await keywardError(() => keyward.rotate(old.record.id), 'not_active')
		const records = await keyward.list({ ownerId: 'u1', includeBlacklisted: true })
		expect(records).toHaveLength(2)
		const successor = records.find((r) => r.id !== old.record.id)
		expect(successor).toMatchObject({ reason: 'revoked' })
		expect(await keyward.list({ ownerId: 'u1' })).toEqual([old.record])
	})

	it('rotate › a plaintext key passed by mistake as the id is not echoed in the error message', async () => {
		const { keyward } = setup()
		const { key } = await keyward.issue({ ownerId: 'u1' })
		const error = await keywardError(() => keyward.rotate(key), 'not_found')
		expect(error.message).not.toContain(key)
		expect(error.message).not.toMatch(KEY_PATTERN)
	})
})

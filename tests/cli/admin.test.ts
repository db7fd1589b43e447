/**
 * Key administration through the built binary: issue → inspect → rotate → revoke → list, on a
 * sqlite file (through a node_modules/.bin/keyward link, as npm installs it) and on real Redis.
 */
import { createKeyward } from 'keyward'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binLink, keyward, redisCase, requireBuiltCli, type StoreCase, sqliteCase } from './support.js'

beforeAll(requireBuiltCli)

const cases: [string, () => StoreCase | undefined][] = [
	['sqlite', () => sqliteCase('cli_admin')],
	['redis', () => redisCase('cli_admin')],
]

describe.each(cases)('key administration on %s', (_name, make) => {
	const maybe = make()
	if (maybe === undefined) return
	const store: StoreCase = maybe
	const link = binLink()
	const run = (args: string[], input?: string) =>
		keyward([...args, '--store', store.url, '--namespace', store.namespace], {
			command: [link.bin],
			cwd: link.dir,
			...(input !== undefined && { input }),
		})
	afterAll(async () => {
		link.remove()
		await store.cleanup()
	}, 60_000)

	let key = ''
	let id = ''

	it('issue prints the key alone on stdout, and a warning without it on stderr', async () => {
		const out = await run([
			'issue',
			'--owner',
			'user_42',
			'--name',
			'CI deploy',
			'--expires-in',
			'30d',
			'--scope',
			'read',
			'--scope',
			'deploy',
			'--prefix',
			'sk',
		])
		expect(out.code, out.stderr).toBe(0)
		key = out.stdout.trim()
		expect(key).toMatch(/^sk_[A-Za-z0-9]+$/)
		expect(out.stdout).toBe(`${key}\n`)
		expect(out.stderr).toMatch(/cannot be shown again/)
		expect(out.stderr).not.toContain(key)
		const result = await createKeyward({ store: store.store, prefix: 'sk' }).verify(key)
		expect(result.ok).toBe(true)
		id = result.ok ? result.record.id : ''
		expect(result).toMatchObject({ record: { ownerId: 'user_42', name: 'CI deploy', scopes: ['read', 'deploy'] } })
		expect(out.stderr).toContain(id)
	})

	it('issue --json prints { key, record } with no hash', async () => {
		const out = await run(['issue', '--owner', 'user_7', '--json'])
		expect(out.code, out.stderr).toBe(0)
		const body = JSON.parse(out.stdout)
		expect(Object.keys(body).sort()).toEqual(['key', 'record'])
		expect(body.key).toMatch(/^kw_/)
		expect(body.record).toMatchObject({ ownerId: 'user_7', status: 'active', expiresAt: null, prefix: 'kw' })
		expect(body.record).not.toHaveProperty('hash')
		expect(JSON.stringify(body.record)).not.toContain(body.key)
	})

	it('inspect shows the status and record of a key read from stdin, never the key', async () => {
		const out = await run(['inspect', '-'], key)
		expect(out.code, out.stderr).toBe(0)
		expect(out.stdout).toMatch(/^valid: /)
		expect(out.stdout).toContain(id)
		expect(out.stdout).toMatch(/scopes\s+read deploy/)
		expect(out.stdout + out.stderr).not.toContain(key)

		const json = await run(['inspect', key, '--json'])
		expect(JSON.parse(json.stdout)).toMatchObject({ status: 'valid', record: { id, ownerId: 'user_42' } })
		expect(json.stdout).not.toContain(key)

		const typo = `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`
		const bad = await run(['inspect', typo, '--json'])
		expect(JSON.parse(bad.stdout)).toEqual({ status: 'malformed_key', record: null })
		expect(bad.stdout + bad.stderr).not.toContain(typo)
	})

	it('rotate prints a new key once; the old key works until the grace period ends', async () => {
		const out = await run(['rotate', id, '--grace', '1h', '--json'])
		expect(out.code, out.stderr).toBe(0)
		const { key: next, record } = JSON.parse(out.stdout)
		expect(next).toMatch(/^sk_/)
		expect(record).toMatchObject({
			ownerId: 'user_42',
			name: 'CI deploy',
			scopes: ['read', 'deploy'],
			status: 'active',
		})
		const keys = createKeyward({ store: store.store, prefix: 'sk' })
		expect((await keys.verify(next)).ok).toBe(true)
		expect((await keys.verify(key)).ok).toBe(true)
		const old = await keys.get(id)
		expect(old?.replacedBy).toBe(record.id)
		expect(old?.expiresAt?.getTime()).toBeLessThanOrEqual(Date.now() + 3_600_000)
		id = record.id
		key = next
	})

	it('revoke blacklists the key; revoking again succeeds and changes nothing', async () => {
		const out = await run(['revoke', id, '--note', 'leaked in a build log'])
		expect(out.code, out.stderr).toBe(0)
		expect(out.stdout).toContain(`Revoked key ${id}`)
		const again = await run(['revoke', id, '--json'])
		expect(again.code).toBe(0)
		expect(JSON.parse(again.stdout)).toMatchObject({
			revoked: false,
			record: { id, reason: 'revoked', note: 'leaked in a build log' },
		})
		const inspect = await run(['inspect', '-', '--json'], key)
		expect(JSON.parse(inspect.stdout)).toMatchObject({ status: 'revoked_key', record: { id } })
	})

	it("list shows an owner's keys by id and hint, never a key", async () => {
		const active = await run(['list', '--owner', 'user_42', '--json'])
		expect(active.code, active.stderr).toBe(0)
		const shown = JSON.parse(active.stdout).keys as { id: string; status: string }[]
		expect(shown).toHaveLength(1) // the rotated-out key, still in its grace period
		expect(shown[0]?.status).toBe('active')

		const all = await run(['list', '--owner', 'user_42', '--all'])
		expect(all.code, all.stderr).toBe(0)
		expect(all.stdout.split('\n')[0]).toMatch(/^ID\s+HINT\s+OWNER\s+STATUS\s+EXPIRES\s+NAME$/)
		expect(all.stdout).toContain(id)
		expect(all.stdout).toMatch(/revoked/)
		expect(all.stdout).not.toContain(key)

		const soon = await run(['list', '--expiring-within', '2h', '--owner', 'user_42', '--json'])
		expect(JSON.parse(soon.stdout).keys.map((k: { id: string }) => k.id)).toEqual([shown[0]?.id])
	})

	it("list --expiring-within --owner finds the owner's keys even when other owners' keys expire sooner", async () => {
		const direct = createKeyward({ store: store.store, prefix: 'sk' })
		for (let i = 0; i < 3; i++) await direct.issue({ ownerId: `other_${i}`, expiresIn: '10m' })
		const later = await direct.issue({ ownerId: 'user_7', expiresIn: '20m' })
		await direct.issue({ ownerId: 'user_7', expiresIn: '3h' }) // outside the window
		const soon = await run(['list', '--expiring-within', '1h', '--owner', 'user_7', '--limit', '2', '--json'])
		expect(soon.code, soon.stderr).toBe(0)
		expect(JSON.parse(soon.stdout).keys.map((k: { id: string }) => k.id)).toEqual([later.record.id])
	})

	it('answers exit 3 for an unknown id and exit 4 for rotating a revoked key', async () => {
		const missing = await run(['revoke', '00000000-0000-4000-8000-000000000000'])
		expect(missing.code).toBe(3)
		expect(missing.stderr).toMatch(/not_found/)
		const notActive = await run(['rotate', id])
		expect(notActive.code).toBe(4)
		expect(notActive.stderr).toMatch(/not_active/)
	})
})

/**
 * `keyward sweep` against sqlite (a temp file), real Redis and real PostgreSQL: the binary is
 * spawned as a user runs it; keys are seeded and checked through the library.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import KeyvSqlite from '@keyv/sqlite'
import Keyv from 'keyv'
import { createKeyward, keyvStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'
import { keyward, requireBuiltCli, type StoreCase, seed, storeCases } from './support.js'

beforeAll(requireBuiltCli)

describe.each(storeCases('cli_sweep'))('keyward sweep on %s', (_name, make) => {
	let store: StoreCase
	let seeded: Awaited<ReturnType<typeof seed>>
	const args = () => ['sweep', '--store', store.url, '--namespace', store.namespace]

	beforeAll(async () => {
		store = make()
		seeded = await seed(store.store, { expired: 7, active: 3, revoked: 2, revokedDaysAgo: 100 })
	}, 60_000)
	afterAll(async () => store?.cleanup(), 60_000)

	it('--dry-run reports what a sweep would do and moves nothing', async () => {
		const run = await keyward([...args(), '--dry-run', '--retention', '30d', '--json'])
		expect(run.code, run.stderr).toBe(0)
		expect(JSON.parse(run.stdout)).toMatchObject({ expired: 7, purged: 2, dryRun: true, aborted: false })
		for (const id of seeded.expired) expect((await store.store.getById(id))?.blacklistedAt).toBeNull()
		for (const id of seeded.revoked) expect(await store.store.getById(id)).not.toBeNull()
	})

	it('moves exactly the expired keys, purges past the retention, and prints one JSON report', async () => {
		const run = await keyward([...args(), '--retention', '30d', '--batch-size', '3', '--json'])
		expect(run.code, run.stderr).toBe(0)
		expect(run.stdout.trim().split('\n')).toHaveLength(1)
		const report = JSON.parse(run.stdout)
		expect(report).toMatchObject({ expired: 7, purged: 2, dryRun: false, aborted: false })
		expect(Object.keys(report).sort()).toEqual([
			'aborted',
			'dryRun',
			'durationMs',
			'expired',
			'now',
			'purged',
			'scanned',
		])
		expect(report.scanned).toBeGreaterThanOrEqual(9)
		expect(typeof report.durationMs).toBe('number')
		expect(Number.isNaN(Date.parse(report.now))).toBe(false)

		for (const id of seeded.expired) {
			expect(await store.store.getById(id)).toMatchObject({ reason: 'expired', blacklistedAt: new Date(report.now) })
		}
		for (const id of seeded.active) expect((await store.store.getById(id))?.blacklistedAt).toBeNull()
		for (const id of seeded.revoked) expect(await store.store.getById(id)).toBeNull()
	})

	it('prints one summary line without a terminal, and a second sweep finds nothing', async () => {
		const run = await keyward(args())
		expect(run.code, run.stderr).toBe(0)
		expect(run.stdout).toMatch(
			/^keyward sweep: done expired=0 purged=0 scanned=\d+ duration_ms=\d+ dry_run=false aborted=false now=\S+ store=\S+\n$/,
		)
		expect(run.stderr).toBe('')
	})

	it('--quiet prints nothing on success', async () => {
		const run = await keyward([...args(), '--quiet'])
		expect(run).toMatchObject({ code: 0, stdout: '', stderr: '' })
	})

	it('reads the store and namespace from KEYWARD_STORE and KEYWARD_NAMESPACE', async () => {
		const late = await seed(store.store, { expired: 2 })
		const run = await keyward(['sweep', '--json'], {
			env: { KEYWARD_STORE: store.url, KEYWARD_NAMESPACE: store.namespace },
		})
		expect(run.code, run.stderr).toBe(0)
		expect(JSON.parse(run.stdout)).toMatchObject({ expired: 2 })
		const keys = createKeyward({ store: store.store })
		for (const id of late.expired) expect((await keys.get(id))?.reason).toBe('expired')
	})
})

describe('keyward sweep on a store in its own table', () => {
	it('postgres: --schema and --table (or KEYWARD_SCHEMA and KEYWARD_TABLE) name the store the app configured', async () => {
		const url = serverUrl('DATABASE_URL')
		if (url === undefined) return
		const schema = uniqueNamespace('cli_schema').toLowerCase()
		const namespace = uniqueNamespace('cli_table')
		const store = postgresStore({ url, schema, table: 'api_keys', namespace })
		try {
			const { expired } = await seed(store, { expired: 3, active: 1 })
			const defaults = postgresStore({ url }) // the default table exists even on a fresh database
			await defaults.migrate().finally(() => defaults.close())
			const elsewhere = await keyward(['sweep', '--store', url, '--namespace', namespace, '--json'])
			expect(JSON.parse(elsewhere.stdout)).toMatchObject({ expired: 0 })
			const run = await keyward(['sweep', '--store', url, '--namespace', namespace, '--json'], {
				env: { KEYWARD_SCHEMA: schema, KEYWARD_TABLE: 'api_keys' },
			})
			expect(run.code, run.stderr).toBe(0)
			expect(JSON.parse(run.stdout)).toMatchObject({ expired: 3 })
			for (const id of expired) expect((await store.getById(id))?.reason).toBe('expired')
		} finally {
			await store.close()
			const client = new pg.Client({ connectionString: url })
			await client.connect()
			await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end())
		}
	})

	it('postgres: a --table that does not exist is reported, not created, except by issue', async () => {
		const url = serverUrl('DATABASE_URL')
		if (url === undefined) return
		const table = uniqueNamespace('cli_typo').toLowerCase()
		const client = new pg.Client({ connectionString: url })
		await client.connect()
		const exists = async () =>
			(await client.query('SELECT to_regclass($1) AS found', [`public.${table}`])).rows[0]?.found !== null
		try {
			for (const args of [
				['sweep'],
				['list', '--owner', 'user_1'],
				['revoke', '00000000-0000-4000-8000-000000000000'],
			]) {
				const run = await keyward([...args, '--store', url, '--table', table])
				expect(run.code, run.stderr).toBe(1)
				expect(run.stderr).toContain(`the table public.${table} does not exist`)
				expect(run.stderr).toMatch(/check --table and --schema/)
				expect(await exists()).toBe(false)
			}
			const issued = await keyward(['issue', '--owner', 'user_1', '--store', url, '--table', table])
			expect(issued.code, issued.stderr).toBe(0)
			expect(await exists()).toBe(true)
			const swept = await keyward(['sweep', '--store', url, '--table', table, '--json'])
			expect(swept.code, swept.stderr).toBe(0)
		} finally {
			await client.query(`DROP TABLE IF EXISTS public."${table}"`).finally(() => client.end())
		}
	})

	it('sqlite: --table names the keyv table', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'keyward-cli-'))
		const keyv = new Keyv({
			store: new KeyvSqlite({ uri: `sqlite://${dir}/app.db`, table: 'app_keys' }),
			throwOnErrors: true,
		})
		try {
			const { expired } = await seed(keyvStore(keyv), { expired: 2 })
			const run = await keyward(['sweep', '--store', `sqlite://${dir}/app.db`, '--table', 'app_keys', '--json'])
			expect(run.code, run.stderr).toBe(0)
			expect(JSON.parse(run.stdout)).toMatchObject({ expired: 2 })
			for (const id of expired) expect((await keyvStore(keyv).getById(id))?.reason).toBe('expired')
		} finally {
			await keyv.disconnect()
			rmSync(dir, { recursive: true, force: true })
		}
	})

	it('refuses --table on Redis and --schema on sqlite, rather than ignoring them', async () => {
		const redis = await keyward(['sweep', '--store', 'redis://127.0.0.1:1', '--table', 'x'])
		expect(redis.code).toBe(2)
		expect(redis.stderr).toMatch(/--table and --schema apply to postgres/)
		const sqlite = await keyward(['sweep', '--store', 'sqlite:///tmp/none.db', '--schema', 'x'])
		expect(sqlite.code).toBe(2)
	})
})

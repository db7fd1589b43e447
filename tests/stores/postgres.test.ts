/**
 * postgresStore behaviour beyond the conformance suite, against the real server at DATABASE_URL:
 * options, migrations, namespaces, host pools, dropped connections, timeouts, secrets in errors,
 * query plans on a freshly loaded table, round trips per verify, and two OS processes sweeping at once.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { createKeyward, isKeywardError } from 'keyward'
import { type PostgresPool, postgresStore } from 'keyward/postgres'
import { testRecord } from 'keyward/testing'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'

const url = serverUrl('DATABASE_URL')

/** The table most tests share, each in its own namespaces; tests that need a fresh table make one. */
const table = 'kwtest_stores'
const T0 = Date.UTC(2030, 0, 1)
const at = (ms: number) => new Date(T0 + ms)

/** A fresh table name, dropped by the test that made it. */
const freshTable = (label: string) => `kwtest_${label}_${randomUUID().slice(0, 8)}`

/** A `{ pool }` over a real pool that records the SQL of every query the store sends. */
function recording(pool: pg.Pool): { pool: PostgresPool; texts: string[] } {
	const texts: string[] = []
	return {
		texts,
		pool: {
			query: (query) => {
				texts.push(query.text)
				return pool.query(query as pg.QueryConfig)
			},
			connect: () => pool.connect(),
		},
	}
}

/** Everything an error says: messages, stacks and properties along its cause chain. */
function everything(error: unknown): string {
	let text = inspect(error, { depth: 10 })
	for (let e: unknown = error; e instanceof Error; e = e.cause) text += `\n${e.message}\n${e.stack}`
	return text
}

/**
 * A TCP proxy on a loopback port in front of the real server, to stage outages without touching the
 * server itself: `pass` forwards, `hang` accepts connections and never answers, `stop()` kills every
 * connection and refuses new ones until `start()` again (on the same port).
 */
class TcpProxy {
	mode: 'pass' | 'hang' = 'pass'
	port = 0
	private server: Server | undefined
	private readonly sockets = new Set<Socket>()
	constructor(private readonly upstream: URL) {}
	url(): string {
		const url = new URL(this.upstream.href)
		url.hostname = '127.0.0.1'
		url.port = String(this.port)
		return url.href
	}
	async start(): Promise<void> {
		const track = (socket: Socket) => {
			this.sockets.add(socket)
			socket.on('close', () => this.sockets.delete(socket))
			socket.on('error', () => {})
		}
		this.server = createServer((client) => {
			track(client)
			if (this.mode === 'hang') return
			const server = connect(Number(this.upstream.port || 5432), this.upstream.hostname)
			track(server)
			client.pipe(server).pipe(client)
			client.on('close', () => server.destroy())
			server.on('close', () => client.destroy())
		})
		await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve))
		this.port = (this.server.address() as { port: number }).port
	}
	async stop(): Promise<void> {
		for (const socket of this.sockets) socket.destroy()
		await new Promise((resolve) => this.server?.close(resolve))
	}
}

describe.skipIf(!url)('postgresStore on a real server', () => {
	const target = url as string
	let admin: pg.Pool
	const namespaces: string[] = []
	const ns = (label: string) => {
		const namespace = uniqueNamespace(label)
		namespaces.push(namespace)
		return namespace
	}
	const open = (namespace: string, extra: { timeout?: '300ms' } = {}) =>
		postgresStore({ url: target, table, namespace, ...extra })

	beforeAll(async () => {
		admin = new pg.Pool({ connectionString: target, max: 4 })
		admin.on('error', () => {})
		const store = open(ns('setup'))
		await store.migrate()
		await store.close()
	})
	afterAll(async () => {
		await admin.query(`DELETE FROM ${table} WHERE namespace = ANY($1)`, [namespaces])
		await admin.end()
	})

	describe('options', () => {
		it('rejects unknown options, bad identifiers, namespaces and timeouts with invalid_option', () => {
			const bad: unknown[] = [
				{ url: target, tabel: 'x' },
				{},
				{ url: target, pool: admin },
				{ url: target, table: 'keys; DROP TABLE users' },
				{ url: target, table: 'Keys' },
				{ url: target, table: 'x'.repeat(41) },
				{ url: target, schema: '"public"' },
				{ url: target, namespace: '' },
				{ url: target, namespace: 'a b' },
				{ url: target, timeout: 0 },
				{ url: target, timeout: '1.5s' },
				{ url: target, autoMigrate: 'yes' },
				{ pool: {} },
				{ url: 42 },
			]
			for (const options of bad) {
				expect(() => postgresStore(options as never), JSON.stringify(options)).toThrow(
					expect.objectContaining({ code: 'invalid_option' }),
				)
			}
		})

		it('never echoes a URL (it may hold a password) in an option error', () => {
			for (const options of [
				{ url: 'mysql://app:s3cr3t-opt@db.example/keys' },
				{ url: 'not a url, app:s3cr3t-opt' },
				{ url: 'postgres://app:s3cr3t-opt@db.example/keys', tabel: 'x' },
			]) {
				const error = (() => {
					try {
						postgresStore(options as never)
					} catch (e) {
						return e
					}
				})()
				expect(isKeywardError(error, 'invalid_option')).toBe(true)
				expect(everything(error)).not.toContain('s3cr3t-opt')
			}
		})

		it('does nothing at construction: no connection, no query until the first call', async () => {
			const { pool, texts } = recording(admin)
			const store = postgresStore({ pool, table, namespace: ns('lazy') })
			createKeyward({ store })
			postgresStore({ url: 'postgres://root@127.0.0.1:1/none' }) // unreachable, and nothing fails yet
			expect(texts).toEqual([])
			expect(await store.getById(randomUUID())).toBeNull()
			expect(texts.length).toBeGreaterThan(0)
		})
	})

	describe('migrate()', () => {
		it('is idempotent and safe when two stores (two pools) run it at once', async () => {
			const schema = `kwtest_schema_${randomUUID().slice(0, 8)}`
			const fresh = 'keys'
			const stores = [0, 1, 2].map(() => postgresStore({ url: target, schema, table: fresh, namespace: 'm' }))
			try {
				await Promise.all([stores[0]?.migrate(), stores[1]?.migrate(), stores[2]?.getById('none')])
				await stores[0]?.migrate()
				const { rows } = await admin.query(
					'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname',
					[schema, fresh],
				)
				expect(rows.map((row) => row.indexname)).toEqual([
					'keys_blacklist_idx',
					'keys_expiry_idx',
					'keys_hash_key',
					'keys_owner_idx',
					'keys_pkey',
				])
				expect(rows.find((row) => row.indexname === 'keys_expiry_idx')?.indexdef).toContain(
					'WHERE ((blacklisted_at IS NULL) AND (expires_at IS NOT NULL))',
				)
				const record = testRecord()
				await stores[1]?.insert(record)
				expect(await stores[2]?.getByHash(record.hash)).toEqual(record)
			} finally {
				await Promise.all(stores.map((store) => store.close()))
				await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
			}
		})

		it('with autoMigrate: false, creates nothing and calls reject until migrate() runs', async () => {
			const fresh = freshTable('manual')
			const store = postgresStore({ url: target, table: fresh, namespace: 'm', autoMigrate: false })
			try {
				await expect(store.getById('x')).rejects.toMatchObject({ code: '42P01' }) // undefined_table
				await expect(createKeyward({ store }).get(randomUUID())).rejects.toMatchObject({ code: 'store_unavailable' })
				await store.migrate()
				expect(await store.getById('x')).toBeNull()
			} finally {
				await store.close()
				await admin.query(`DROP TABLE IF EXISTS ${fresh}`)
			}
		})
	})

	it('keeps namespaces apart in one table, even for the same id and hash', async () => {
		const a = open(ns('iso_a'))
		const b = open(ns('iso_b'))
		try {
			const record = testRecord({ expiresAt: at(10), ownerId: 'shared' })
			await a.insert(record)
			await b.insert(record) // no conflict: another namespace
			await a.blacklist(record.id, { reason: 'revoked', at: at(5), note: null })
			expect((await b.getByHash(record.hash))?.blacklistedAt).toBeNull()
			expect(await b.listByOwner('shared', { includeBlacklisted: false })).toHaveLength(1)
			expect(await a.listByOwner('shared', { includeBlacklisted: false })).toHaveLength(0)
			expect(await a.count({ expiredBy: at(100) })).toBe(0)
			expect(await b.count({ expiredBy: at(100) })).toBe(1)
			expect((await a.purgeBlacklisted({ before: at(100), limit: 10 })).purged).toBe(1)
			expect((await b.moveExpired({ now: at(100), limit: 10 })).moved.map((r) => r.id)).toEqual([record.id])
			expect(await a.getById(record.id)).toBeNull()
			expect((await b.getById(record.id))?.reason).toBe('expired')
		} finally {
			await a.close()
			await b.close()
		}
	})

	it('leaves a pool the host passed in open after close(); the closed store rejects', async () => {
		const host = new pg.Pool({ connectionString: target, max: 2 })
		host.on('error', () => {})
		const store = postgresStore({ pool: host, table, namespace: ns('host') })
		try {
			await store.insert(testRecord())
			await store.close()
			expect((await host.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
			await expect(store.getById('x')).rejects.toMatchObject({ code: 'store_unavailable' })
		} finally {
			await host.end()
		}
	})

	it('answers a revoke that lost a race with the record as the winner committed it', async () => {
		const store = open(ns('race'))
		const locker = await admin.connect()
		try {
			const record = testRecord()
			await store.insert(record)
			await locker.query('BEGIN')
			await locker.query(
				`UPDATE ${table} SET blacklisted_at = $3, reason = 'expired' WHERE namespace = $1 AND id = $2`,
				[store.namespace, record.id, at(7).toISOString()],
			)
			const lockerPid = (await locker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid
			const revoke = store.blacklist(record.id, { reason: 'revoked', at: at(9), note: 'late' })
			await waitFor(async () => {
				const { rows } = await admin.query(
					'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
					[lockerPid],
				)
				return rows[0].n > 0
			})
			await locker.query('COMMIT')
			expect(await revoke).toEqual({
				record: { ...record, blacklistedAt: at(7), reason: 'expired', note: null },
				moved: false,
			})
		} finally {
			locker.release()
			await store.close()
		}
	})

	describe('outages', () => {
		it('survives a dropped idle connection (pg_terminate_backend) and the next call works', async () => {
			const app = `kwtest_drop_${randomUUID().slice(0, 8)}`
			const withName = new URL(target)
			withName.searchParams.set('application_name', app)
			const store = postgresStore({ url: withName.href, table, namespace: ns('drop') })
			try {
				const record = testRecord()
				await store.insert(record)
				await Promise.all([store.getById(record.id), store.getByHash(record.hash)]) // two idle connections
				const { rows } = await admin.query(
					'SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity WHERE application_name = $1',
					[app],
				)
				expect(rows.length).toBeGreaterThan(0)
				await waitFor(async () => {
					const left = await admin.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [app])
					return left.rows.length === 0
				})
				await new Promise((resolve) => setTimeout(resolve, 100)) // let the pool hear of it
				expect(await store.getByHash(record.hash)).toEqual(record)
			} finally {
				await store.close()
			}
		})

		it('rejects a call whose connection is killed mid-query, and the next call works', async () => {
			const app = `kwtest_kill_${randomUUID().slice(0, 8)}`
			const withName = new URL(target)
			withName.searchParams.set('application_name', app)
			const store = postgresStore({ url: withName.href, table, namespace: ns('kill') })
			const locker = await admin.connect()
			try {
				const record = testRecord()
				await store.insert(record)
				await locker.query('BEGIN')
				await locker.query(`SELECT 1 FROM ${table} WHERE namespace = $1 AND id = $2 FOR UPDATE`, [
					store.namespace,
					record.id,
				])
				const revoke = store.blacklist(record.id, { reason: 'revoked', at: at(1), note: null })
				revoke.catch(() => undefined)
				await waitFor(async () => {
					const { rows } = await admin.query(
						"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
						[app],
					)
					return rows.length > 0
				})
				await expect(revoke).rejects.toThrow()
				await locker.query('ROLLBACK')
				expect((await store.blacklist(record.id, { reason: 'revoked', at: at(2), note: null }))?.moved).toBe(true)
			} finally {
				locker.release()
				await store.close()
			}
		})

		it('rejects within the bound while the server accepts connections but never answers', async () => {
			const proxy = new TcpProxy(new URL(target))
			proxy.mode = 'hang'
			await proxy.start()
			const store = postgresStore({ url: proxy.url(), table, namespace: ns('mute'), timeout: '300ms' })
			try {
				const started = performance.now()
				const error = await createKeyward({ store })
					.get(randomUUID())
					.catch((e: unknown) => e)
				const elapsed = performance.now() - started
				expect(isKeywardError(error, 'store_unavailable')).toBe(true)
				expect(elapsed).toBeGreaterThanOrEqual(250)
				expect(elapsed).toBeLessThan(1000)
			} finally {
				await store.close()
				await proxy.stop()
			}
		})

		it('rejects while the server is unreachable and works again when it returns, without a new store', async () => {
			const proxy = new TcpProxy(new URL(target))
			await proxy.start()
			const store = postgresStore({ url: proxy.url(), table, namespace: ns('outage'), timeout: '1s' })
			const keyward = createKeyward({ store })
			try {
				const { key } = await keyward.issue({ ownerId: 'u1' })
				expect((await keyward.verify(key)).ok).toBe(true)
				await proxy.stop() // every connection dropped, new ones refused
				const started = performance.now()
				await expect(keyward.verify(key)).rejects.toMatchObject({ code: 'store_unavailable' })
				await expect(keyward.issue({ ownerId: 'u1' })).rejects.toMatchObject({ code: 'store_unavailable' })
				expect(performance.now() - started).toBeLessThan(1000)
				await proxy.start()
				expect((await keyward.verify(key)).ok).toBe(true)
			} finally {
				await store.close()
				await proxy.stop()
			}
		})

		it('rejects a query that exceeds the timeout within the bound (server-side statement_timeout)', async () => {
			const store = open(ns('slow'), { timeout: '300ms' })
			const keyward = createKeyward({ store })
			const locker = await admin.connect()
			try {
				const { record } = await keyward.issue({ ownerId: 'u1' })
				await locker.query('BEGIN')
				await locker.query(`SELECT 1 FROM ${table} WHERE namespace = $1 AND id = $2 FOR UPDATE`, [
					store.namespace,
					record.id,
				])
				const started = performance.now()
				const error = await keyward.revoke(record.id).catch((e: unknown) => e)
				const elapsed = performance.now() - started
				expect(isKeywardError(error, 'store_unavailable')).toBe(true)
				expect(elapsed).toBeGreaterThanOrEqual(250)
				expect(elapsed).toBeLessThan(1000)
				await locker.query('ROLLBACK')
				expect((await keyward.get(record.id))?.blacklistedAt).toBeNull() // the server cancelled it: nothing moved
			} finally {
				locker.release()
				await store.close()
			}
		})

		it('rejects within the bound on a host pool whose server hangs (pg_sleep behind every query)', async () => {
			const host = new pg.Pool({ connectionString: target, max: 2 })
			host.on('error', () => {})
			const hanging: PostgresPool = {
				query: (query) => host.query({ ...(query as pg.QueryConfig), text: 'SELECT pg_sleep(3)', values: [] }),
				connect: () => host.connect(),
			}
			const store = postgresStore({ pool: hanging, table, namespace: ns('hang'), timeout: '300ms', autoMigrate: false })
			try {
				const started = performance.now()
				await expect(store.getByHash('x')).rejects.toThrow(/did not answer within 300 ms|Query read timeout/)
				const elapsed = performance.now() - started
				expect(elapsed).toBeGreaterThanOrEqual(250)
				expect(elapsed).toBeLessThan(1000)
				expect((await host.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]) // the pool still serves
			} finally {
				await store.close()
				await host.end()
			}
		})

		it('never puts the password of the URL in an error', async () => {
			const store = postgresStore({ url: 'postgres://app:s3cr3t-Pa55@127.0.0.1:1/test', timeout: '1s' })
			try {
				const direct = await store.getByHash('x').catch((e: unknown) => e)
				const viaKeyward = await createKeyward({ store })
					.issue({ ownerId: 'u1' })
					.catch((e: unknown) => e)
				expect(isKeywardError(viaKeyward, 'store_unavailable')).toBe(true)
				expect(direct).toBeInstanceOf(Error)
				for (const error of [direct, viaKeyward]) expect(everything(error)).not.toContain('s3cr3t-Pa55')
				expect(inspect(store, { depth: 5 })).not.toContain('s3cr3t-Pa55')
			} finally {
				await store.close()
			}
		})

		it('never puts the password of the URL in an error from a live connection either', async () => {
			const withPassword = new URL(target)
			withPassword.password = 's3cr3t-Live' // trust auth on the test server ignores it; pg still holds it
			const store = postgresStore({ url: withPassword.href, table: freshTable('none'), autoMigrate: false })
			try {
				const error = await store.getById('x').catch((e: unknown) => e)
				expect(error).toMatchObject({ code: '42P01' })
				expect(everything(error)).not.toContain('s3cr3t-Live')
			} finally {
				await store.close()
			}
		})
	})

	describe('cost', () => {
		it('verifies a key with exactly one query (one round trip)', async () => {
			const { pool, texts } = recording(admin)
			const store = postgresStore({ pool, table, namespace: ns('roundtrip') })
			const keyward = createKeyward({ store })
			const { key } = await keyward.issue({ ownerId: 'u1' })
			const revoked = await keyward.issue({ ownerId: 'u1' })
			await keyward.revoke(revoked.record.id)
			const unknown = (await createKeyward().issue({ ownerId: 'u1' })).key
			for (const [candidate, outcome] of [
				[key, 'valid'],
				[revoked.key, 'revoked_key'],
				[unknown, 'unknown_key'],
			] as const) {
				texts.length = 0
				const result = await keyward.verify(candidate)
				expect(result.ok ? 'valid' : result.code).toBe(outcome)
				expect(texts).toHaveLength(1)
				expect(texts[0]).toMatch(/^SELECT .* WHERE namespace = \$1 AND hash = \$2$/s)
			}
			texts.length = 0
			await store.getByHash('x')
			expect(texts).toHaveLength(1)
		})

		it('sweeps a table loaded moments before by index and TID scans, never a Seq Scan', async () => {
			const fresh = freshTable('plan')
			const { pool, texts } = recording(admin)
			const store = postgresStore({ pool, table: fresh, namespace: 'big' })
			try {
				await store.migrate()
				await admin.query(`ALTER TABLE ${fresh} SET (autovacuum_enabled = false)`) // stays unanalysed
				// Learn the statements the store sends on the sweep paths, on the still empty table.
				const learn = async (call: () => Promise<unknown>) => {
					await call()
					return texts.at(-1) as string
				}
				const now = at(0).toISOString()
				const statements = {
					moveExpired: [await learn(() => store.moveExpired({ now: at(0), limit: 500 })), ['big', now, 500]],
					purgeBlacklisted: [
						await learn(() => store.purgeBlacklisted({ before: at(0), limit: 500 })),
						['big', now, 500],
					],
					countExpired: [await learn(() => store.count({ expiredBy: at(0) })), ['big', now]],
					countBlacklisted: [await learn(() => store.count({ blacklistedBefore: at(0) })), ['big', now]],
					listExpiring: [
						await learn(() => store.listExpiring({ after: at(-1), until: at(0), limit: 100 })),
						['big', now, 100, at(-1).toISOString()],
					],
				} as const
				// 20,000 rows: 18,000 in 'big' (1,000 of them expired, 1,000 revoked), 2,000 in another namespace.
				await admin.query(`INSERT INTO ${fresh} (namespace, id, hash, prefix, hint, owner_id, name, created_at,
					expires_at, scopes, metadata, blacklisted_at, reason)
					SELECT CASE WHEN i % 10 = 0 THEN 'other' ELSE 'big' END, 'id' || i, md5(i::text), 'kw', 'kw_x', 'o' || i % 100,
						'', timestamptz '2029-01-01',
						CASE WHEN i % 20 = 3 THEN timestamptz '2029-06-01' + i * interval '1 second'
							WHEN i % 3 = 0 THEN NULL ELSE timestamptz '2031-01-01' END,
						'{read}', '{}',
						CASE WHEN i % 20 = 7 THEN timestamptz '2029-02-01' END,
						CASE WHEN i % 20 = 7 THEN 'revoked' END
					FROM generate_series(1, 20000) AS i`)
				const stats = await admin.query(
					'SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = $1',
					[fresh],
				)
				expect(stats.rows[0]).toEqual({ last_analyze: null, last_autoanalyze: null })
				const client = await admin.connect()
				const plans: Record<string, string> = {}
				try {
					for (const [name, [text, values]] of Object.entries(statements)) {
						await client.query('BEGIN')
						const explained = await client.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${text}`, [...values])
						await client.query('ROLLBACK')
						plans[name] = explained.rows.map((row) => row['QUERY PLAN']).join('\n')
					}
				} finally {
					await client.query('ROLLBACK')
					client.release()
				}
				for (const [name, plan] of Object.entries(plans))
					console.info(`${name} plan on a fresh 20k-row table:\n${plan}`)
				expect(plans.moveExpired).toMatch(/Tid Scan on kwtest_plan_\w+ \(actual rows=500 loops=1\)/)
				expect(plans.moveExpired).toMatch(/Index Scan (using|on) kwtest_plan_\w+_expiry_idx/)
				expect(plans.purgeBlacklisted).toMatch(/Tid Scan on kwtest_plan_\w+ \(actual rows=500 loops=1\)/)
				expect(plans.purgeBlacklisted).toMatch(/Index Scan (using|on) kwtest_plan_\w+_blacklist_idx/)
				expect(plans.listExpiring).toMatch(/Index Scan (using|on) kwtest_plan_\w+_expiry_idx/)
				for (const [name, plan] of Object.entries(plans)) expect(plan, name).not.toMatch(/Seq Scan/)

				const started = performance.now()
				const report = await createKeyward({ store }).sweep({ now: at(0), batchSize: 500 })
				const sweepMs = performance.now() - started
				console.info(`sweep of 1000 expired among 20000 rows (batches of 500): ${sweepMs.toFixed(1)} ms`)
				expect(report).toMatchObject({ expired: 1000, scanned: 1000 })
				expect(await store.count({ expiredBy: at(0) })).toBe(0)
				expect(await store.count({ blacklistedBefore: at(1) })).toBe(2000)
			} finally {
				await admin.query(`DROP TABLE IF EXISTS ${fresh}`)
			}
		})
	})

	it('two OS processes sweeping at once move each expired key exactly once, then exit after close()', async () => {
		const namespace = ns('procs')
		await admin.query(
			`INSERT INTO ${table} (namespace, id, hash, prefix, hint, owner_id, name, created_at, expires_at, scopes, metadata)
			SELECT $1, 'id' || i, md5($1 || i), 'kw', 'kw_x', 'o', '', timestamptz '2029-01-01',
				timestamptz '2029-06-01' + i * interval '1 second', '{}', '{}'
			FROM generate_series(1, 1000) AS i`,
			[namespace],
		)
		const adapter = fileURLToPath(new URL('../../adapters/postgres.ts', import.meta.url))
		const child = `
			import { postgresStore } from ${JSON.stringify(adapter)}
			const store = postgresStore({ url: process.env.KW_URL, table: process.env.KW_TABLE, namespace: process.env.KW_NS })
			await store.count({ expiredBy: new Date(0) })
			process.stdout.write('ready\\n')
			for await (const _ of process.stdin) break
			const ids = []
			for (;;) {
				const { moved } = await store.moveExpired({ now: new Date(process.env.KW_NOW), limit: 20 })
				if (moved.length === 0) break
				for (const record of moved) ids.push(record.id)
			}
			process.stdout.write(JSON.stringify(ids) + '\\n')
			await store.close()
		`
		const env = { ...process.env, KW_URL: target, KW_TABLE: table, KW_NS: namespace, KW_NOW: at(0).toISOString() }
		const children = [0, 1].map(() =>
			spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
				cwd: fileURLToPath(new URL('../..', import.meta.url)),
				env,
				stdio: ['pipe', 'pipe', 'inherit'],
			}),
		)
		const outputs = children.map((proc) => {
			let out = ''
			proc.stdout.on('data', (chunk) => {
				out += chunk
			})
			const ready = waitFor(async () => out.startsWith('ready\n'), 10_000)
			const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve))
			return { ready, exited, out: () => out }
		})
		await Promise.all(outputs.map((o) => o.ready))
		for (const proc of children) proc.stdin.end('go\n')
		const codes = await Promise.all(outputs.map((o) => o.exited)) // exits by itself: close() released the pool
		expect(codes).toEqual([0, 0])
		const moved = outputs.map((o) => JSON.parse(o.out().slice('ready\n'.length)) as string[])
		console.info(`two processes moved ${moved.map((ids) => ids.length).join(' + ')} keys`)
		const all = moved.flat()
		expect(all).toHaveLength(1000)
		expect(new Set(all).size).toBe(1000)
		const left = await admin.query(
			`SELECT count(*)::int AS n FROM ${table} WHERE namespace = $1 AND blacklisted_at IS NULL`,
			[namespace],
		)
		expect(left.rows[0].n).toBe(0)
	})
})

async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<void> {
	const deadline = Date.now() + ms
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
		await new Promise((resolve) => setTimeout(resolve, 20))
	}
}

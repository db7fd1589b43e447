/**
 * `keyward/postgres`: a {@link KeyStore} on PostgreSQL, with its own table, an expiry index and
 * single-statement atomic moves. Needs the `pg` package (8.x).
 *
 * @example
 * ```ts
 * import { createKeyward } from 'keyward'
 * import { postgresStore } from 'keyward/postgres'
 *
 * const store = postgresStore({ url: process.env.DATABASE_URL as string, namespace: 'billing-api' })
 * const keyward = createKeyward({ store })
 * ```
 * @packageDocumentation
 */
import type { Pool as PgPool } from 'pg'
import { type Duration, parseDuration, typeOf } from '../src/duration.js'
import { invalidOption, KeywardError } from '../src/errors.js'
import { checkKnown } from '../src/options.js'
import type { BlacklistReason, KeyRecord } from '../src/record.js'
import type { KeyRecordPatch, KeyStore } from '../src/store.js'
import { deadlines, withTimeout } from '../src/timeout.js'

/**
 * One query as the store sends it to {@link PostgresPool.query}: SQL text with `$1…` placeholders and
 * their values. The object also carries pg's per-query `types` (raw text for every value) and
 * `query_timeout`; pass it on as it is.
 */
export interface PostgresQuery {
	/** The SQL, with `$1`, `$2`… placeholders. */
	readonly text: string
	/** The placeholders' values. */
	readonly values: readonly unknown[]
}

/** What a query answers: the rows (one object per row, by column name) and how many rows it touched. */
export interface PostgresQueryResult {
	/** One object per row, keyed by column name. */
	readonly rows: readonly unknown[]
	/** How many rows the statement touched (pg's `rowCount`). */
	readonly rowCount: number | null
}

/** A connection checked out of a {@link PostgresPool} (a pg `PoolClient` fits it). */
export interface PostgresPoolClient {
	/** Runs one statement on this connection. */
	query(query: PostgresQuery): Promise<PostgresQueryResult>
	/** Returns the connection to the pool; with a truthy argument, the pool closes it instead. */
	release(destroy?: boolean | Error): void
	/** Listens for the connection failing while checked out (the store listens during `migrate()`). */
	on(event: 'error', listener: (error: Error) => void): unknown
	/** Stops listening. */
	removeListener(event: 'error', listener: (error: Error) => void): unknown
}

/**
 * The parts of a `pg.Pool` (pg 8) that {@link postgresStore} uses: a real `pg.Pool` fits it, and so
 * does a wrapper that counts or traces queries.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * const real = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * real.on('error', () => {})
 * let queries = 0
 * const pool: PostgresPool = {
 *   query: (query) => {
 *     queries++
 *     return real.query(query as pg.QueryConfig)
 *   },
 *   connect: () => real.connect(),
 * }
 * const store = postgresStore({ pool })
 * ```
 */
export interface PostgresPool {
	/** Runs one statement on any free connection: every store call but `migrate()` uses it. */
	query(query: PostgresQuery): Promise<PostgresQueryResult>
	/** Checks out one connection: `migrate()` uses it for its transaction. */
	connect(): Promise<PostgresPoolClient>
}

/**
 * Options of {@link postgresStore}: one of `url` or `pool`, plus the shared options.
 *
 * @example
 * ```ts
 * const options: PostgresStoreOptions = { url: 'postgres://app@db.internal/app', schema: 'auth', namespace: 'api', timeout: '2s' }
 * ```
 */
export type PostgresStoreOptions = (
	| {
			/**
			 * A PostgreSQL URL (`postgres://user:password@host:5432/db`). The store opens its own `pg.Pool`
			 * on first use (with an error listener, `statement_timeout` and `query_timeout` set to
			 * `timeout`) and ends it in `close()`. Query parameters such as `sslmode` or
			 * `application_name` are passed to pg.
			 */
			url: string
			pool?: never
	  }
	| {
			/**
			 * Your `pg.Pool`. The store never ends it, and does not add an `'error'` listener to it:
			 * give it one yourself (`pool.on('error', …)`), or a dropped idle connection crashes the process.
			 */
			pool: PostgresPool
			url?: never
	  }
) & {
	/**
	 * The schema of the store's table: a lowercase SQL identifier (`a–z`, `0–9`, `_`, 1–63 characters).
	 * Created by the migration if it does not exist.
	 * @defaultValue `'public'`
	 */
	schema?: string
	/**
	 * The store's table: a lowercase SQL identifier (`a–z`, `0–9`, `_`, 1–40 characters, so index
	 * names derived from it fit PostgreSQL's 63).
	 * @defaultValue `'keyward_keys'`
	 */
	table?: string
	/**
	 * Separates apps (or test files) sharing one table: every row carries it, every query filters
	 * on it. 1–64 of `A–Z a–z 0–9 _ . -`.
	 * @defaultValue `'default'`
	 */
	namespace?: string
	/**
	 * How long one query may take (waiting for a connection included) before the call rejects.
	 * keyward reports the failure as `store_unavailable`.
	 * @defaultValue `'5s'`
	 */
	timeout?: Duration
	/**
	 * Create the schema, table and indexes on first use when they are missing. Turn it off when the
	 * app's database user may not run DDL, and run {@link PostgresKeyStore.migrate} at deploy time.
	 * @defaultValue `true`
	 */
	autoMigrate?: boolean
}

/**
 * A PostgreSQL store: a {@link KeyStore} with `migrate()` and `close()`.
 *
 * @example
 * ```ts
 * const store = postgresStore({ url: process.env.DATABASE_URL as string, autoMigrate: false })
 * await store.migrate()
 * // … serve requests with createKeyward({ store }) …
 * await store.close()
 * ```
 */
export interface PostgresKeyStore extends KeyStore {
	/** The namespace every row of this store carries. */
	readonly namespace: string
	/** The schema of the store's table. */
	readonly schema: string
	/** The store's table. */
	readonly table: string
	/**
	 * Creates the schema, table and indexes if they are missing. Idempotent, and safe when several
	 * processes run it at once (they take turns on a transaction-scoped advisory lock).
	 * @returns once the table and its indexes exist
	 * @throws the driver's error when the database fails or refuses the DDL; KeywardError
	 *   `store_unavailable` when it does not answer within `timeout`, or after `close()`
	 */
	migrate(): Promise<void>
	/**
	 * Ends the pool the store opened from `url` (never a pool you passed in), once its queries
	 * finish. Later calls reject with `store_unavailable`. Calling it again does nothing.
	 * @returns once the store's connections are closed
	 */
	close(): Promise<void>
}

const KNOWN = {
	url: true,
	pool: true,
	schema: true,
	table: true,
	namespace: true,
	timeout: true,
	autoMigrate: true,
} satisfies Record<string, true>

/** Every value comes back as PostgreSQL's text (or `null`), whatever type parsers the host's pg has installed. */
const RAW_TYPES = { getTypeParser: () => (value: string) => value }

/**
 * A row as the store reads it (see `COLUMNS`): PostgreSQL's text for every value. A pool that
 * ignores the per-query type parsers may hand back parsed values instead; {@link toRecord} takes both.
 */
type Row = Record<string, string | null>

const epochMs = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::int8`

/** The columns every read and `RETURNING` answers, shaped for {@link toRecord}. */
const COLUMNS = [
	'id',
	'hash',
	'prefix',
	'hint',
	'owner_id',
	'name',
	`${epochMs('created_at')} AS created_ms`,
	`${epochMs('expires_at')} AS expires_ms`,
	'to_json(scopes) AS scopes',
	'metadata',
	`${epochMs('last_used_at')} AS last_used_ms`,
	'replaced_by',
	`${epochMs('blacklisted_at')} AS blacklisted_ms`,
	'reason',
	'note',
].join(', ')

/**
 * A {@link KeyStore} on PostgreSQL for deployments with several app instances.
 *
 * - One table (default `public.keyward_keys`) with real columns; a record is active while
 *   `blacklisted_at` is null. Verifying a key is one indexed query by `(namespace, hash)`.
 * - Partial B-tree indexes on expiry, on the blacklist and on owners: sweeps, `expiring()` and
 *   purges cost in proportion to the keys they touch, not to all keys.
 * - Every move is one statement: a revoke moves a key only if it is still active, and a sweep batch
 *   locks its rows with `FOR UPDATE SKIP LOCKED`, so concurrent sweeps and revokes across processes
 *   move each key exactly once, and a crash never leaves a key half-moved.
 * - Nothing connects at construction. The first call opens the pool and (with `autoMigrate`)
 *   creates the table; every query is bounded by `timeout`; failures reject (keyward reports
 *   `store_unavailable`) and the next call works again once the server is back.
 *
 * @param options - see {@link PostgresStoreOptions}
 * @returns a {@link PostgresKeyStore}
 * @throws KeywardError `invalid_option` for bad options (never echoing the URL, which may hold a password)
 * @example
 * ```ts
 * import pg from 'pg'
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * pool.on('error', (error) => console.warn('idle postgres connection lost', error.message))
 * const store = postgresStore({ pool, namespace: 'billing-api', autoMigrate: false })
 * await store.migrate() // at deploy time
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresKeyStore {
	checkKnown(options, KNOWN, 'postgresStore()')
	const url: unknown = options.url
	const hostPool: unknown = options.pool
	if ((url === undefined) === (hostPool === undefined)) {
		throw invalidOption('postgresStore() needs exactly one of url or pool')
	}
	if (url !== undefined) checkUrl(url)
	if (hostPool !== undefined && !isPool(hostPool)) {
		throw invalidOption(`pool must be a pg.Pool, with query() and connect() methods (got ${typeOf(hostPool)})`)
	}
	const schema = identifier(options.schema ?? 'public', 'schema', 63)
	const table = identifier(options.table ?? 'keyward_keys', 'table', 40)
	const namespace = options.namespace ?? 'default'
	if (typeof namespace !== 'string' || !/^[\w.-]{1,64}$/.test(namespace)) {
		throw invalidOption(`namespace must be 1–64 of A–Z a–z 0–9 _ . - (got ${typeOf(namespace)})`)
	}
	const timeoutMs = parseDuration(options.timeout ?? '5s', 'timeout')
	if (timeoutMs < 1 || timeoutMs > 2_147_483_647) {
		throw invalidOption(`timeout must be from 1 ms to about 24 days (got ${timeoutMs} ms)`)
	}
	const autoMigrate = options.autoMigrate ?? true
	if (typeof autoMigrate !== 'boolean') {
		throw invalidOption(`autoMigrate must be true or false (got ${typeOf(autoMigrate)})`)
	}

	const T = `"${schema}"."${table}"`
	const indexes = { expiry: `${table}_expiry_idx`, blacklist: `${table}_blacklist_idx`, owner: `${table}_owner_idx` }
	const ddl = migrationStatements(schema, table)
	const sql = {
		insert: `INSERT INTO ${T} (namespace, id, hash, prefix, hint, owner_id, name, created_at, expires_at, scopes,
			metadata, last_used_at, replaced_by, blacklisted_at, reason, note)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::timestamptz, $10::text[], $11::jsonb,
			$12::timestamptz, $13, $14::timestamptz, $15, $16)`,
		byHash: `SELECT ${COLUMNS} FROM ${T} WHERE namespace = $1 AND hash = $2`,
		byId: `SELECT ${COLUMNS} FROM ${T} WHERE namespace = $1 AND id = $2`,
		byOwner: `SELECT ${COLUMNS} FROM ${T} WHERE namespace = $1 AND owner_id = $2 ORDER BY created_at, id`,
		activeByOwner: `SELECT ${COLUMNS} FROM ${T} WHERE namespace = $1 AND owner_id = $2 AND blacklisted_at IS NULL
			ORDER BY created_at, id`,
		expiring: `SELECT ${COLUMNS} FROM ${T} WHERE namespace = $1 AND blacklisted_at IS NULL
			AND expires_at IS NOT NULL AND expires_at <= $2::timestamptz ORDER BY expires_at LIMIT $3`,
		expiringAfter: `SELECT ${COLUMNS} FROM ${T} WHERE namespace = $1 AND blacklisted_at IS NULL
			AND expires_at IS NOT NULL AND expires_at <= $2::timestamptz AND expires_at > $4::timestamptz
			ORDER BY expires_at LIMIT $3`,
		countExpired: `SELECT count(*) AS n FROM ${T} WHERE namespace = $1 AND blacklisted_at IS NULL
			AND expires_at IS NOT NULL AND expires_at <= $2::timestamptz`,
		countBlacklisted: `SELECT count(*) AS n FROM ${T} WHERE namespace = $1 AND blacklisted_at IS NOT NULL
			AND blacklisted_at < $2::timestamptz`,
		// Moves the record only if it is still active; otherwise answers it as it was (see blacklist()).
		blacklist: `WITH moved AS (
				UPDATE ${T} SET blacklisted_at = $3::timestamptz, reason = $4, note = $5
				WHERE namespace = $1 AND id = $2 AND blacklisted_at IS NULL
				RETURNING ${COLUMNS}
			)
			SELECT true AS was_moved, moved.* FROM moved
			UNION ALL
			SELECT false, ${COLUMNS} FROM ${T}
			WHERE namespace = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM moved)`,
		// ctid = ANY(ARRAY(subquery)): the subquery runs once and the update is a TID scan of the rows it
		// locked, whatever the table's statistics say (see docs/postgres.md). SKIP LOCKED lets concurrent
		// sweeps take disjoint batches; FOR UPDATE re-checks the WHERE on rows changed meanwhile.
		moveExpired: `UPDATE ${T} SET blacklisted_at = $2::timestamptz, reason = 'expired', note = NULL
			WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM ${T}
				WHERE namespace = $1 AND blacklisted_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $2::timestamptz
				ORDER BY expires_at LIMIT $3
				FOR UPDATE SKIP LOCKED
			))
			RETURNING ${COLUMNS}`,
		purge: `DELETE FROM ${T}
			WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM ${T}
				WHERE namespace = $1 AND blacklisted_at IS NOT NULL AND blacklisted_at < $2::timestamptz
				ORDER BY blacklisted_at LIMIT $3
				FOR UPDATE SKIP LOCKED
			))`,
		present: `SELECT count(*) AS n FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
			WHERE s.nspname = $1 AND c.relname = ANY($2::text[])`,
	}
	const relations = [table, indexes.expiry, indexes.blacklist, indexes.owner]

	let closed = false
	let closing: Promise<void> | undefined
	/** The pool the store opened from `url`, once the first call created it. */
	let ownPool: Promise<PgPool> | undefined
	const getPool = (): PostgresPool | Promise<PostgresPool> => {
		if (hostPool !== undefined) return hostPool as PostgresPool
		ownPool ??= openPool(url as string, timeoutMs)
		return ownPool
	}
	const closedError = () =>
		new KeywardError('store_unavailable', 'this postgres store was closed; create a new one to use the database again')

	const bounded = deadlines(timeoutMs, 'the postgres key store')
	/** One query, bounded twice: pg's `query_timeout` drops a connection that stops answering, and a timer bounds the wait for a connection too. */
	const send = async (
		text: string,
		values: readonly unknown[],
		via?: PostgresPoolClient,
	): Promise<PostgresQueryResult> => {
		if (closed) throw closedError()
		const target = via ?? (await getPool())
		const query = { text, values, types: RAW_TYPES, query_timeout: timeoutMs }
		return bounded(target.query(query))
	}

	let migrated = !autoMigrate
	let migrating: Promise<void> | undefined
	/** On first use: one catalog query; the locked migration only when something is missing. Retried after a failure. */
	const ensureMigrated = (): Promise<void> => {
		migrating ??= (async () => {
			const found = await send(sql.present, [schema, relations])
			if (!(Number((found.rows[0] as Row | undefined)?.n) >= relations.length)) await migrate()
			migrated = true
		})().finally(() => {
			migrating = undefined
		})
		return migrating
	}
	const run = async (text: string, values: readonly unknown[]): Promise<PostgresQueryResult> => {
		if (!migrated) await ensureMigrated()
		return send(text, values)
	}
	const rows = async (text: string, values: readonly unknown[]): Promise<KeyRecord[]> =>
		(await run(text, values)).rows.map((row) => toRecord(row as Row))
	const one = async (text: string, values: readonly unknown[]): Promise<KeyRecord | null> => {
		const [row] = (await run(text, values)).rows
		return row === undefined ? null : toRecord(row as Row)
	}

	async function migrate(): Promise<void> {
		if (closed) throw closedError()
		const pool = await getPool()
		const connecting = pool.connect()
		let client: PostgresPoolClient
		try {
			client = await withTimeout(connecting, timeoutMs, 'the postgres key store')
		} catch (error) {
			connecting.then(
				(late) => late.release(true),
				() => undefined,
			)
			throw error
		}
		// A connection that dies while checked out emits 'error'; without a listener that crashes the process.
		const onError = () => {}
		client.on('error', onError)
		let failed = false
		try {
			await send('BEGIN', [], client)
			await send('SELECT pg_advisory_xact_lock(hashtext($1))', [`keyward:migrate:${schema}.${table}`], client)
			const exists = await send('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [schema], client)
			if (exists.rows.length === 0) await send(`CREATE SCHEMA IF NOT EXISTS "${schema}"`, [], client)
			for (const statement of ddl) await send(statement, [], client)
			await send('COMMIT', [], client)
			migrated = true
		} catch (error) {
			failed = true // the connection is closed, not reused: that also rolls the transaction back
			throw error
		} finally {
			client.removeListener('error', onError)
			client.release(failed)
		}
	}

	const iso = pgInstant
	/** A query bound: before PostgreSQL's earliest timestamp (4714 BC) nothing can be, so it is -infinity. */
	const bound = (date: Date) => (date.getTime() < PG_EARLIEST ? '-infinity' : pgInstant(date))

	return {
		name: 'postgres',
		namespace,
		schema,
		table,
		capabilities: { expiryIndex: true, atomicMove: true },
		migrate,

		async insert(record) {
			try {
				await run(sql.insert, [
					namespace,
					record.id,
					record.hash,
					record.prefix,
					record.hint,
					record.ownerId,
					record.name,
					iso(record.createdAt),
					iso(record.expiresAt),
					[...record.scopes],
					JSON.stringify(record.metadata),
					iso(record.lastUsedAt),
					record.replacedBy,
					iso(record.blacklistedAt),
					record.reason,
					record.note,
				])
			} catch (error) {
				if ((error as { code?: unknown } | null)?.code === '23505') {
					throw new KeywardError(
						'conflict',
						`the postgres store already holds a key with id ${record.id} or the same hash (namespace ${namespace})`,
						{ cause: error },
					)
				}
				throw error
			}
		},

		getByHash: (hash) => one(sql.byHash, [namespace, hash]),

		getById: (id) => one(sql.byId, [namespace, id]),

		listByOwner: (ownerId, { includeBlacklisted }) =>
			rows(includeBlacklisted ? sql.byOwner : sql.activeByOwner, [namespace, ownerId]),

		listExpiring: ({ after, until, limit }) =>
			after === null
				? rows(sql.expiring, [namespace, bound(until), limit])
				: rows(sql.expiringAfter, [namespace, bound(until), limit, bound(after)]),

		async count(query) {
			const result =
				'expiredBy' in query
					? await run(sql.countExpired, [namespace, bound(query.expiredBy)])
					: await run(sql.countBlacklisted, [namespace, bound(query.blacklistedBefore)])
			return Number((result.rows[0] as Row).n)
		},

		async update(id, patch: KeyRecordPatch) {
			const values: unknown[] = [namespace, id]
			const sets: string[] = []
			if (patch.expiresAt !== undefined) {
				values.push(iso(patch.expiresAt))
				sets.push(`expires_at = $${values.length}::timestamptz`)
			}
			if (patch.replacedBy !== undefined) {
				values.push(patch.replacedBy)
				sets.push(`replaced_by = $${values.length}`)
			}
			const where = 'WHERE namespace = $1 AND id = $2 AND blacklisted_at IS NULL'
			return one(
				sets.length === 0
					? `SELECT ${COLUMNS} FROM ${T} ${where}`
					: `UPDATE ${T} SET ${sets.join(', ')} ${where} RETURNING ${COLUMNS}`,
				values,
			)
		},

		async blacklist(id, { reason, at, note }) {
			const [row] = (await run(sql.blacklist, [namespace, id, iso(at), reason, note])).rows as Row[]
			if (row === undefined) return null
			if (row.was_moved === 't' || (row.was_moved as unknown) === true) return { record: toRecord(row), moved: true }
			if (row.blacklisted_ms !== null) return { record: toRecord(row), moved: false }
			// Active in the statement's snapshot, yet not moved: another transaction moved it meanwhile
			// (the UPDATE waited for it and re-checked). Read what it committed.
			const record = await one(sql.byId, [namespace, id])
			return record === null ? null : { record, moved: false }
		},

		async moveExpired({ now, limit }) {
			const moved = await rows(sql.moveExpired, [namespace, iso(now), limit])
			return { moved, scanned: moved.length }
		},

		async purgeBlacklisted({ before, limit }) {
			const purged = (await run(sql.purge, [namespace, bound(before), limit])).rowCount ?? 0
			return { purged, scanned: purged }
		},

		async close() {
			closed = true
			closing ??= (async () => {
				if (ownPool === undefined) return
				const pool = await ownPool.catch(() => undefined)
				await pool?.end()
			})()
			await closing
		},
	}
}

/** The DDL `migrate()` runs (after creating the schema when it is missing), in order. */
function migrationStatements(schema: string, table: string): string[] {
	const T = `"${schema}"."${table}"`
	return [
		`CREATE TABLE IF NOT EXISTS ${T} (
			namespace      text        NOT NULL,
			id             text        NOT NULL,
			hash           text        NOT NULL,
			prefix         text        NOT NULL,
			hint           text        NOT NULL,
			owner_id       text        NOT NULL,
			name           text        NOT NULL,
			created_at     timestamptz NOT NULL,
			expires_at     timestamptz NULL,
			scopes         text[]      NOT NULL,
			metadata       jsonb       NOT NULL,
			last_used_at   timestamptz NULL,
			replaced_by    text        NULL,
			blacklisted_at timestamptz NULL,
			reason         text        NULL,
			note           text        NULL,
			CONSTRAINT "${table}_pkey" PRIMARY KEY (namespace, id),
			CONSTRAINT "${table}_hash_key" UNIQUE (namespace, hash)
		)`,
		`CREATE INDEX IF NOT EXISTS "${table}_expiry_idx" ON ${T} (namespace, expires_at)
			WHERE blacklisted_at IS NULL AND expires_at IS NOT NULL`,
		`CREATE INDEX IF NOT EXISTS "${table}_blacklist_idx" ON ${T} (namespace, blacklisted_at)
			WHERE blacklisted_at IS NOT NULL`,
		`CREATE INDEX IF NOT EXISTS "${table}_owner_idx" ON ${T} (namespace, owner_id, created_at)`,
	]
}

/** Opens the pool for `url` on first use; `pg` is loaded then, not when this module is imported. */
async function openPool(url: string, timeoutMs: number): Promise<PgPool> {
	const { Pool } = await import('pg')
	const pool = new Pool({
		connectionString: url,
		application_name: 'keyward', // a URL's ?application_name=… wins
		connectionTimeoutMillis: timeoutMs,
		statement_timeout: timeoutMs,
		query_timeout: timeoutMs,
		keepAlive: true,
		allowExitOnIdle: true,
	})
	// An idle connection that dies (server restart, failover, pg_terminate_backend) is reported here;
	// the pool has already dropped it and the next query opens a new one. Without a listener, Node
	// would crash the process on this 'error' event.
	pool.on('error', () => {})
	return pool
}

/** PostgreSQL's earliest timestamp, 4714-11-24 BC, in epoch milliseconds. */
const PG_EARLIEST = -210_866_803_200_000

/**
 * An instant as text PostgreSQL reads. `toISOString()` writes years after 9999 as `+275760-…` and
 * years before 1 as `-000001-…`, which PostgreSQL refuses (`time zone displacement out of range`);
 * it reads `275760-…` and `0002-… BC` (ISO year 0 is 1 BC).
 */
function pgInstant(date: Date | null): string | null {
	if (date === null) return null
	const text = date.toISOString()
	if (text.startsWith('+')) return text.slice(1)
	if (text.startsWith('-') || text.startsWith('0000')) {
		return `${String(1 - date.getUTCFullYear()).padStart(4, '0')}${text.slice(text.indexOf('-', 1))} BC`
	}
	return text
}

function checkUrl(url: unknown): void {
	// Never print the value: it may hold a password.
	const bad = 'url must be a postgres:// or postgresql:// URL string (the value is not shown: it may hold a password)'
	if (typeof url !== 'string') throw invalidOption(`${bad}; got ${typeOf(url)}`)
	let protocol: string
	try {
		protocol = new URL(url).protocol
	} catch {
		throw invalidOption(bad)
	}
	if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw invalidOption(bad)
}

function isPool(value: unknown): boolean {
	return (
		typeof value === 'object' &&
		value !== null &&
		typeof (value as PostgresPool).query === 'function' &&
		typeof (value as PostgresPool).connect === 'function'
	)
}

function identifier(value: unknown, name: string, max: number): string {
	if (typeof value !== 'string' || !new RegExp(`^[a-z_][a-z0-9_]{0,${max - 1}}$`).test(value)) {
		throw invalidOption(
			`${name} must be a lowercase SQL identifier: a–z, 0–9 and _, not starting with a digit, 1–${max} characters (got ${
				typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeOf(value)
			})`,
		)
	}
	return value
}

const date = (ms: string | null | undefined): Date | null =>
	ms === null || ms === undefined ? null : new Date(Number(ms))
const json = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : structuredClone(value))

/** A fresh record from a row: nothing in it is shared with the caller or another record. */
function toRecord(row: Row): KeyRecord {
	return {
		id: row.id as string,
		hash: row.hash as string,
		prefix: row.prefix as string,
		hint: row.hint as string,
		ownerId: row.owner_id as string,
		name: row.name as string,
		createdAt: date(row.created_ms) as Date,
		expiresAt: date(row.expires_ms),
		scopes: json(row.scopes) as string[],
		metadata: json(row.metadata) as Record<string, unknown>,
		lastUsedAt: date(row.last_used_ms),
		replacedBy: row.replaced_by ?? null,
		blacklistedAt: date(row.blacklisted_ms),
		reason: (row.reason ?? null) as BlacklistReason | null,
		note: row.note ?? null,
	}
}

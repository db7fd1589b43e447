/**
 * Store URLs for the `keyward` command: which store a URL names, how to show it without its
 * password, and how to open it with its driver loaded only when needed.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { isKeywardError, KeywardError } from '../src/errors.js'
import type { KeyStore } from '../src/store.js'
import { withTimeout } from '../src/timeout.js'
import { CliError, EXIT } from './errors.js'

/** The kinds of store the command line can open. */
export type StoreKind = 'redis' | 'postgres' | 'sqlite'

/** A store URL, checked and classified. */
export interface StoreTarget {
	/** Which store the URL names. */
	readonly kind: StoreKind
	/** The URL as given (it may hold a password: never print it; print {@link StoreTarget.redacted}). */
	readonly url: string
	/** The URL with any password replaced by `***`: safe for messages and logs. */
	readonly redacted: string
	/** For `sqlite://`, the database file path (relative paths are resolved against the working directory). */
	readonly file?: string
}

/** An open store and the one way to release it. */
export interface OpenStore {
	readonly store: KeyStore
	readonly target: StoreTarget
	/** Closes the connections or file handles the command line opened; never rejects. */
	close(): Promise<void>
}

/** How long connecting to Redis may take. */
const CONNECT_TIMEOUT_MS = 5000

const SCHEMES: Record<string, StoreKind> = {
	'redis:': 'redis',
	'rediss:': 'redis',
	'postgres:': 'postgres',
	'postgresql:': 'postgres',
	'sqlite:': 'sqlite',
}

/** Query parameters that may carry a credential in a connection string (`?password=…`, `?sslpassword=…`). */
const SECRET_PARAM = /pass|pwd|secret|token|key|auth|credential/i

/**
 * Shows a store URL without its secrets: the password becomes `***`, and so do query parameters
 * whose name suggests a credential (`password`, `sslpassword`, `token`…). A value that is not a URL
 * is not shown at all, since it might be a password pasted in the wrong place.
 *
 * @param url - a store URL as the user gave it
 * @returns a string safe to print and to log
 * @example
 * ```ts
 * redactUrl('redis://:s3cret@cache:6379/0') // 'redis://:***@cache:6379/0'
 * ```
 */
export function redactUrl(url: string): string {
	let parsed: URL
	try {
		parsed = new URL(url)
	} catch {
		return '(a store URL that is not a valid URL; not shown)'
	}
	if (parsed.password !== '') parsed.password = '***'
	for (const name of [...parsed.searchParams.keys()]) {
		if (SECRET_PARAM.test(name)) parsed.searchParams.set(name, '***')
	}
	// URL encodes the asterisks it writes into the password and the query; show them plainly.
	return parsed.href.replaceAll('%2A%2A%2A', '***').replaceAll('%2a%2a%2a', '***')
}

/**
 * Removes every trace of a store URL's secrets from a text, such as a driver's error message:
 * the whole URL becomes its redacted form, and the password (raw, decoded or percent-encoded) becomes `***`.
 *
 * @param text - any text that may quote the URL or its password
 * @param url - the store URL
 * @returns the text with the secrets replaced
 */
export function scrubSecrets(text: string, url: string): string {
	let out = text.replaceAll(url, redactUrl(url))
	const secrets = new Set<string>()
	try {
		const parsed = new URL(url)
		if (parsed.password !== '') {
			secrets.add(parsed.password)
			secrets.add(safeDecode(parsed.password))
		}
		for (const [name, value] of parsed.searchParams) if (SECRET_PARAM.test(name) && value !== '') secrets.add(value)
	} catch {
		// not a URL: only the whole value could leak, and it was replaced above
	}
	for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
		if (secret.length > 0) out = out.replaceAll(secret, '***')
	}
	return out
}

function safeDecode(value: string): string {
	try {
		return decodeURIComponent(value)
	} catch {
		return value
	}
}

/**
 * Checks a store URL and tells which store it names.
 *
 * @param url - `redis://…`, `rediss://…`, `postgres://…`, `postgresql://…` or `sqlite://path/to/file.db`
 * @returns the classified {@link StoreTarget}
 * @throws CliError (exit 2) when the URL is missing, not a URL, or of an unsupported scheme
 * @example
 * ```ts
 * parseStoreUrl('sqlite://./keys.db').file // '/current/dir/keys.db'
 * ```
 */
export function parseStoreUrl(url: string | undefined): StoreTarget {
	if (url === undefined || url === '') {
		throw new CliError(
			EXIT.usage,
			'no store given: pass --store URL or set KEYWARD_STORE (redis://…, postgres://… or sqlite://./keys.db)',
		)
	}
	const redacted = redactUrl(url)
	let parsed: URL
	try {
		parsed = new URL(url)
	} catch {
		throw new CliError(
			EXIT.usage,
			'the store URL is not a valid URL (it is not shown: it may hold a password); use redis://…, postgres://… or sqlite://./keys.db',
		)
	}
	const kind = SCHEMES[parsed.protocol]
	if (kind === undefined) {
		throw new CliError(
			EXIT.usage,
			`unsupported store ${redacted}: use redis://, rediss://, postgres://, postgresql:// or sqlite://`,
		)
	}
	if (kind !== 'sqlite') return { kind, url, redacted }
	const path = safeDecode(url.slice('sqlite://'.length).split('?')[0] ?? '')
	if (path === '' || path === ':memory:') {
		throw new CliError(
			EXIT.usage,
			'a sqlite store needs a file, such as sqlite://./keys.db or sqlite:///var/lib/keys.db',
		)
	}
	return { kind, url, redacted, file: resolve(path) }
}

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
	/** The store's namespace; `undefined` keeps each store's default (`keyward`, or `default` on PostgreSQL). */
	readonly namespace?: string | undefined
	/** PostgreSQL: the store's table (default `keyward_keys`); sqlite: the keyv table (default `keyv`). */
	readonly table?: string | undefined
	/** PostgreSQL: the table's schema (default `public`). */
	readonly schema?: string | undefined
	/**
	 * Every command but `issue`: refuse a sqlite file that does not exist yet, and do not create a
	 * PostgreSQL table that does not exist yet, so a typo in the URL or `--table` is not a new empty store.
	 */
	readonly mustExist?: boolean
}

/**
 * Opens the store a URL names, importing its driver only now: a Redis user never needs `pg` or sqlite.
 *
 * - `redis://`: `redisStore({ url, namespace })` from `keyward/redis` (needs `@keyv/redis` and `keyv`)
 * - `postgres://`: `postgresStore({ url, namespace, table, schema })` from `keyward/postgres` (needs `pg`)
 * - `sqlite://`: `keyvStore(new Keyv({ store: new KeyvSqlite({ uri, table }), throwOnErrors: true }), { namespace })`
 *   (needs `@keyv/sqlite` and `keyv`)
 *
 * Redis connects here, once (so a down server fails now, with a clear message); the other stores
 * connect on their first call.
 *
 * @param target - from {@link parseStoreUrl}
 * @param options - see {@link OpenStoreOptions}
 * @returns the store and its `close()`
 * @throws CliError (exit 1) when the driver is not installed or the sqlite file is missing;
 *   KeywardError `store_unavailable` when Redis cannot be reached, `invalid_option` for a bad namespace
 * @example
 * ```ts
 * const { store, close } = await openStore(parseStoreUrl(process.env.KEYWARD_STORE), { namespace: 'billing' })
 * try {
 *   console.log(await sweep(store))
 * } finally {
 *   await close()
 * }
 * ```
 */
export async function openStore(target: StoreTarget, options: OpenStoreOptions = {}): Promise<OpenStore> {
	const { namespace, table, schema } = options
	if (target.kind === 'redis' && (table !== undefined || schema !== undefined)) {
		throw new CliError(EXIT.usage, '--table and --schema apply to postgres:// and sqlite:// stores, not to Redis')
	}
	if (target.kind === 'sqlite' && schema !== undefined) {
		throw new CliError(EXIT.usage, '--schema applies to postgres:// stores only; a sqlite store takes --table')
	}
	if (target.kind === 'redis') {
		const [{ redisStore }, { createClient }] = await Promise.all([
			loadDriver(target, () => import('../adapters/redis.js')),
			loadDriver(target, () => import('@keyv/redis')),
		])
		// The command line connects its own client, once, before the first call: no reconnecting, no offline
		// queue. (Handing redisStore a URL would also work, but @keyv/redis 5.1 then leaves a connect-timeout
		// timer running for 2 s after a successful connect, which holds every run open for 2 s.)
		const client = createClient({
			url: target.url,
			disableOfflineQueue: true,
			socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false },
		})
		client.on('error', () => {})
		try {
			await withTimeout(client.connect(), CONNECT_TIMEOUT_MS, 'the redis key store')
		} catch (error) {
			destroy(client)
			if (isKeywardError(error)) throw error
			throw new KeywardError('store_unavailable', 'could not connect to the redis key store', { cause: error })
		}
		const store = redisStore({ client, ...(namespace !== undefined && { namespace }) })
		return {
			store,
			target,
			close: quietly(async () => {
				await client.close().catch(() => destroy(client))
			}),
		}
	}
	if (target.kind === 'postgres') {
		const { postgresStore } = await loadDriver(target, () => import('../adapters/postgres.js'))
		// pg is imported by the store on first use; load it now so a missing driver is reported as such.
		await loadDriver(target, () => import('pg'))
		const store = postgresStore({
			url: target.url,
			...(namespace !== undefined && { namespace }),
			...(table !== undefined && { table }),
			...(schema !== undefined && { schema }),
			autoMigrate: options.mustExist !== true, // only `issue` creates the table
		})
		return { store, target, close: quietly(() => store.close()) }
	}
	const file = target.file as string
	if (options.mustExist === true && !existsSync(file)) {
		throw new CliError(
			EXIT.failed,
			`the sqlite store ${target.redacted} does not exist (no file ${file}); check the path, or create it with keyward issue`,
		)
	}
	const [{ default: Keyv }, { default: KeyvSqlite }, { keyvStore }] = await Promise.all([
		loadDriver(target, () => import('keyv')),
		loadDriver(target, () => import('@keyv/sqlite')),
		import('../src/stores/keyv.js'),
	])
	// iterationLimit: how many rows each iteration query reads; keyv's default of 10 makes sweeps crawl.
	if (table !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) {
		throw new CliError(EXIT.usage, '--table must be a SQL name: letters, digits and _, not starting with a digit')
	}
	const adapter = new KeyvSqlite({
		uri: `sqlite://${file}`,
		busyTimeout: 5000,
		iterationLimit: 1000,
		...(table !== undefined && { table }),
	})
	// A failed open is also emitted as 'error'; the store call that needed the file rejects with it.
	adapter.on('error', () => {})
	const keyv = new Keyv({ store: adapter, throwOnErrors: true })
	keyv.on('error', () => {})
	const base = keyvStore(keyv, namespace !== undefined ? { namespace } : {})
	// One transaction per sweep batch: a batch is moved (or purged) all at once, and sqlite syncs to
	// disk once per batch instead of once per key (1,000 keys: about 1 s instead of about 9 s).
	const inTransaction =
		<Q, R>(work: (query: Q) => Promise<R>) =>
		async (query: Q): Promise<R> => {
			await adapter.query('BEGIN IMMEDIATE')
			try {
				const result = await work(query)
				await adapter.query('COMMIT')
				return result
			} catch (error) {
				await adapter.query('ROLLBACK').catch(() => undefined)
				throw error
			}
		}
	const store: KeyStore = {
		...base,
		name: 'sqlite',
		moveExpired: inTransaction(base.moveExpired),
		purgeBlacklisted: inTransaction(base.purgeBlacklisted),
	}
	return { store, target, close: quietly(() => keyv.disconnect()) }
}

const PACKAGES: Record<StoreKind, string> = {
	redis: '@keyv/redis keyv',
	postgres: 'pg',
	sqlite: '@keyv/sqlite keyv',
}

/** Runs a dynamic import, turning "package not installed" into a message that names what to install. */
async function loadDriver<T>(target: StoreTarget, load: () => Promise<T>): Promise<T> {
	try {
		return await load()
	} catch (error) {
		const code = (error as { code?: unknown }).code
		if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
			const missing = /Cannot find (?:package|module) '([^']+)'/.exec(String((error as Error).message))?.[1]
			throw new CliError(
				EXIT.failed,
				`the ${target.kind} store needs ${PACKAGES[target.kind].split(' ').join(' and ')}` +
					`${missing === undefined ? '' : ` (${missing} is missing)`}: run npm install ${PACKAGES[target.kind]}`,
				{ cause: error },
			)
		}
		throw error
	}
}

/** Drops a Redis connection at once; a client that is already closed throws, which is fine here. */
function destroy(client: { destroy(): void }): void {
	try {
		client.destroy()
	} catch {
		// already closed
	}
}

function quietly(close: () => Promise<unknown>): () => Promise<void> {
	let done: Promise<void> | undefined
	return () => {
		done ??= close().then(
			() => undefined,
			() => undefined,
		)
		return done
	}
}

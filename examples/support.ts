/**
 * What the three example apps share: the admin API's input checks and problem answers, the sweep
 * schedule the app owns, and the welcome banner. Each app file holds only its framework's wiring.
 */
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { type IssueOptions, isKeywardError, type KeyRecord, type Keyward } from 'keyward'

/** Options of every example app. */
export interface ExampleOptions {
	/** The keyward instance to use. @defaultValue `createKeyward({ prefix: 'sk' })` (in-memory store) */
	keyward?: Keyward
	/** The port to listen on; `0` picks a free one. @defaultValue `0` */
	port?: number
	/** The interface to listen on. @defaultValue `'127.0.0.1'` */
	host?: string
	/** How often the app runs `sweep()`, in ms. @defaultValue `60_000` */
	sweepEveryMs?: number
	/** Where the app's log lines go (sweep reports, unexpected errors). @defaultValue console.log */
	log?: (line: string) => void
}

/** A listening example app. */
export interface RunningExample {
	/** Its base URL, such as `http://127.0.0.1:3000`. */
	readonly url: string
	/** The keyward instance it checks keys with. */
	readonly keyward: Keyward
	/** Stops the sweep interval (waiting for a run in progress) and the server. Safe to call twice. */
	close(): Promise<void>
}

/** How long revoked and expired keys stay recognisable before a sweep purges them. */
export const RETENTION = '30d'
/** The lifetime of a key issued through the admin API without `expiresIn`. */
export const DEFAULT_LIFETIME = '30d'

export const ROUTES = {
	'GET /': 'this description; no key needed',
	'GET /me': 'the key you sent; any valid key',
	'GET /reports': 'needs a key with the reports:read scope',
	'POST /admin/users/:ownerId/keys': `issue a key; JSON body { name?, expiresIn? (default ${DEFAULT_LIFETIME}), scopes? }; admin scope`,
	'GET /admin/users/:ownerId/keys': "list an owner's keys, revoked and expired included; admin scope",
	'DELETE /admin/keys/:id': 'revoke a key; admin scope',
}

export const REPORTS = [
	{ id: 'usage-2030-q1', title: 'API usage, first quarter' },
	{ id: 'keys-expiring', title: 'Keys expiring within 7 days' },
]

export const JSON_ONLY = 'Send the body as application/json.'

/** An answer the app chooses (bad input, no such route), as opposed to an unexpected failure. */
export class HttpError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
	) {
		super(message)
	}
}

export interface Problem {
	status: number
	headers: Record<string, string>
	body: { type: string; title: string; status: number; detail: string; code: string }
}

export const TITLES: Record<string, string> = {
	invalid_request: 'Invalid request',
	invalid_json: 'Invalid JSON body',
	body_too_large: 'Body too large',
	unsupported_media_type: 'Unsupported media type',
	not_found: 'Not found',
	store_unavailable: 'Key store unavailable',
	internal_error: 'Internal error',
}

export function problem(status: number, code: string, detail: string, headers: Record<string, string> = {}): Problem {
	return {
		status,
		headers: { 'cache-control': 'no-store', ...headers },
		body: { type: `urn:keyward-example:problem:${code}`, title: TITLES[code] ?? code, status, detail, code },
	}
}

/** Maps an error to an RFC 9457 problem: bad input is the client's 4xx, never a 500. */
export function toProblem(error: unknown, log: (line: string) => void): Problem {
	if (error instanceof HttpError) return problem(error.status, error.code, error.message)
	// keyward's messages say what to fix and never hold a key; the "[keyward:code]" tag is for logs.
	if (isKeywardError(error, 'invalid_option')) return problem(400, 'invalid_request', untagged(error.message))
	if (isKeywardError(error, 'not_found')) return problem(404, 'not_found', 'No key has this id.')
	if (isKeywardError(error, 'store_unavailable')) {
		return problem(503, 'store_unavailable', 'The key store cannot be reached. Retry later.', { 'retry-after': '5' })
	}
	log(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
	return problem(500, 'internal_error', 'Something went wrong on our side; it was logged.')
}

export function untagged(message: string): string {
	return message.replace(/ \[keyward:[a-z_]+\]$/, '')
}

/**
 * The admin API's issue body: `{ name?, expiresIn?, scopes? }`. Anything else is refused, so a typo
 * (`"scope"`) cannot issue a key with defaults; the values themselves are checked by `issue()`.
 */
export function issueFields(body: unknown): Pick<IssueOptions, 'name' | 'expiresIn' | 'scopes'> {
	if (body === undefined) return { expiresIn: DEFAULT_LIFETIME }
	if (typeof body !== 'object' || body === null || Array.isArray(body)) {
		throw new HttpError(400, 'invalid_request', 'The body must be a JSON object: { name?, expiresIn?, scopes? }.')
	}
	for (const field of Object.keys(body)) {
		if (field !== 'name' && field !== 'expiresIn' && field !== 'scopes') {
			throw new HttpError(
				400,
				'invalid_request',
				`${JSON.stringify(field.slice(0, 40))} is not a field of this body; it takes name, expiresIn and scopes.`,
			)
		}
	}
	const { name, expiresIn = DEFAULT_LIFETIME, scopes } = body as Record<string, unknown>
	return { name, expiresIn, scopes } as Pick<IssueOptions, 'name' | 'expiresIn' | 'scopes'>
}

/** What `GET /me` answers. */
export function me(record: KeyRecord) {
	return {
		ownerId: record.ownerId,
		keyId: record.id,
		name: record.name,
		scopes: record.scopes,
		expiresAt: record.expiresAt,
	}
}

/** A record as the admin API shows it: no hash (it is nobody's business outside the store). */
export function view(record: KeyRecord) {
	return {
		id: record.id,
		hint: record.hint,
		ownerId: record.ownerId,
		name: record.name,
		scopes: record.scopes,
		createdAt: record.createdAt,
		expiresAt: record.expiresAt,
		blacklistedAt: record.blacklistedAt,
		reason: record.reason,
		note: record.note,
	}
}

/** Who revoked a key, kept on its record for audit. */
export function revokeNote(admin: KeyRecord): string {
	return `revoked through the admin API with key ${admin.id} (owner ${admin.ownerId})`
}

export function checkInterval(ms: number): number {
	if (!Number.isSafeInteger(ms) || ms < 1 || ms > 2_147_483_647) {
		throw new RangeError(`sweepEveryMs must be a whole number of ms from 1 to 2147483647 (got ${ms})`)
	}
	return ms
}

/**
 * Runs `sweep()` every `everyMs`, the way an app that owns its schedule does: one line per run,
 * failures logged (never thrown into the timer), a run skipped while the previous one is still going.
 * Returns the function that stops it and waits for a run in progress.
 */
export function scheduleSweeps(keyward: Keyward, everyMs: number, log: (line: string) => void): () => Promise<void> {
	let running: Promise<void> | null = null
	const timer = setInterval(() => {
		if (running) {
			log('sweep: skipped, the previous run is still going')
			return
		}
		running = keyward
			.sweep({ retention: RETENTION })
			.then(
				(report) =>
					log(
						`sweep: ${report.expired} expired, ${report.purged} purged, ${report.scanned} scanned in ${report.durationMs.toFixed(1)} ms`,
					),
				(error: unknown) => log(`sweep failed: ${error instanceof Error ? error.message : String(error)}`),
			)
			.finally(() => {
				running = null
			})
	}, everyMs)
	return async function stopSweeps() {
		clearInterval(timer)
		await running
	}
}

export function baseUrl(host: string, address: AddressInfo): string {
	const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
	return `http://${shown}:${address.port}`
}

/** Issues the bootstrap admin key and prints it, once, with a curl line for every route. */
export async function printWelcome(
	running: RunningExample,
	framework: string,
	log: (line: string) => void,
): Promise<void> {
	const { url, keyward } = running
	const { key, record } = await keyward.issue({
		ownerId: 'bootstrap',
		name: 'bootstrap admin key',
		expiresIn: '24h',
		scopes: ['admin'],
	})
	const auth = (name: string) => `-H "Authorization: Bearer $${name}"`
	log(`keyward ${framework} example listening on ${url} (in-memory store: keys are lost on restart)`)
	log('')
	log(`Bootstrap admin key (scope admin, expires ${record.expiresAt?.toISOString()}):`)
	log('')
	log(`    ${key}`)
	log('')
	log('WARNING: this key is shown only once, now. keyward keeps only its hash: copy it before you go on.')
	log('')
	log('Try it:')
	log(`  export ADMIN_KEY=...   # the admin key above`)
	log(`  curl -i ${url}/`)
	log(
		`  curl -i ${auth('ADMIN_KEY')} -H 'content-type: application/json' -d '{"name":"laptop","expiresIn":"1h","scopes":["reports:read"]}' ${url}/admin/users/user_42/keys`,
	)
	log(`  export KEY=... KEY_ID=...   # "key" and "record.id" from that answer`)
	log(`  curl -i ${auth('KEY')} ${url}/me`)
	log(`  curl -i ${auth('KEY')} ${url}/reports`)
	log(`  curl -i ${auth('ADMIN_KEY')} ${url}/reports   # 403 insufficient_scope`)
	log(`  curl -i ${auth('ADMIN_KEY')} ${url}/admin/users/user_42/keys`)
	log(`  curl -i -X DELETE ${auth('ADMIN_KEY')} ${url}/admin/keys/$KEY_ID`)
	log(`  curl -i ${auth('KEY')} ${url}/me   # 401 revoked_key`)
	log(`  curl -i ${url}/me   # 401 missing_key`)
	log('')
}

/**
 * Runs an example app when its file is executed directly (`npm run example:*`): reads PORT, HOST and
 * SWEEP_EVERY_MS, and stops cleanly on SIGINT and SIGTERM.
 */
export function runWhenMain(moduleUrl: string, start: (options: ExampleOptions) => Promise<RunningExample>): void {
	if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return
	const port = Number(process.env.PORT ?? 3000)
	const sweepEveryMs = process.env.SWEEP_EVERY_MS ? Number(process.env.SWEEP_EVERY_MS) : undefined
	start({ port, host: process.env.HOST, sweepEveryMs }).then(
		(running) => {
			for (const signal of ['SIGINT', 'SIGTERM'] as const) {
				process.once(signal, () => {
					console.log(`${signal}: stopping the sweeps and the server`)
					running.close().catch((error: unknown) => {
						console.error(error)
						process.exitCode = 1
					})
				})
			}
		},
		(error: unknown) => {
			console.error(error)
			process.exitCode = 1
		},
	)
}

/**
 * The `close()` of a running example: stops the sweeps (waiting for a run in progress), then the
 * server; safe to call twice.
 */
export function runningExample(
	url: string,
	keyward: Keyward,
	stopSweeps: () => Promise<void>,
	stopServer: () => Promise<void>,
): RunningExample {
	let closing: Promise<void> | undefined
	return {
		url,
		keyward,
		close: () => {
			closing ??= (async () => {
				await stopSweeps()
				await stopServer()
			})()
			return closing
		},
	}
}

/**
 * What `npm run example:*` does: starts the app, issues a bootstrap admin key, and prints it once
 * with curl lines for every route. The only place an example prints a plaintext key.
 */
export function startExample(
	framework: string,
	create: (options: ExampleOptions) => Promise<RunningExample>,
): (options?: ExampleOptions) => Promise<RunningExample> {
	return async (options = {}) => {
		const log = options.log ?? console.log
		const running = await create(options)
		try {
			await printWelcome(running, framework, log)
		} catch (error) {
			await running.close()
			throw error
		}
		return running
	}
}

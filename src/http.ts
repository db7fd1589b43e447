/**
 * The framework-agnostic half of the HTTP adapters: reading the key from a request, checking scopes,
 * bounding verification with a timeout, and mapping every outcome to one RFC 9457 problem response.
 * Express, Fastify and Koa adapters only translate requests and responses to and from this.
 */
import { type Duration, parseDuration, typeOf } from './duration.js'
import { invalidOption, isKeywardError } from './errors.js'
import { checkScopes } from './issue.js'
import type { Keyward } from './keyward.js'
import { checkKnown } from './options.js'
import type { KeyRecord } from './record.js'
import { deadlines } from './timeout.js'
import { fastVerify, type VerifyFailureCode, type VerifyResult } from './verify.js'

/** Every outcome of an authenticated request, as `onResult` and problem bodies name it. */
export type HttpOutcomeCode = 'valid' | VerifyFailureCode | 'insufficient_scope' | 'store_unavailable'

/** A response keyward (or your `respond` hook) sends for a refused request. */
export interface HttpProblemResponse {
	/** HTTP status: 401, 403 or 503 by default. */
	readonly status: number
	/** Response headers (lower-case names). */
	readonly headers: Readonly<Record<string, string>>
	/** The JSON body: an RFC 9457 problem by default. */
	readonly body: unknown
}

/** The default problem body (RFC 9457) for a refused request. */
export interface ProblemBody {
	/** A URI naming the problem type: `urn:keyward:problem:<code>` unless `problemType` says otherwise. */
	readonly type: string
	/** A short summary that does not change between occurrences. */
	readonly title: string
	/** The HTTP status, repeated. */
	readonly status: number
	/** What happened and what the client can do. */
	readonly detail: string
	/** The keyward code, stable: branch on it. */
	readonly code: Exclude<HttpOutcomeCode, 'valid'>
	/** For `expired_key`: when the key expired, ISO 8601. */
	readonly expiredAt?: string
	/** For `insufficient_scope`: the scopes the route requires. */
	readonly requiredScopes?: readonly string[]
}

/** What `onResult` observes for every request an adapter checks. */
export interface HttpResultEvent<Req = unknown> {
	/** `valid`, or why the request was refused. */
	readonly code: HttpOutcomeCode
	/** The status the adapter answers with (200 is reported for `valid`: the route decides the rest). */
	readonly status: number
	/** The key's record when it was found (valid, expired, revoked, lacking a scope); otherwise `null`. */
	readonly record: KeyRecord | null
	/** The framework's request object. */
	readonly request: Req
	/** The error behind a `store_unavailable`. */
	readonly error?: unknown
}

/** Options shared by `keyward/express`, `keyward/fastify` and `keyward/koa`. */
export interface ApiKeyOptions<Req = unknown> {
	/**
	 * Scopes a key must all have; a valid key lacking one gets 403 `insufficient_scope`.
	 * @defaultValue `[]`
	 */
	scopes?: readonly string[]
	/**
	 * Header names to read the key from, in order. `authorization` is read as `Bearer <key>`; any
	 * other header holds the bare key.
	 * @defaultValue `['authorization', 'x-api-key']`
	 */
	header?: string | readonly string[]
	/** Reads the key from the request yourself (a cookie, a signed body…); replaces `header` and `allowQuery`. Return `undefined` for "no key". */
	extract?: (request: Req) => unknown
	/**
	 * Also accept the key from the query string, when no header holds one: `true` reads `api_key`,
	 * a string names the parameter. Off by default: URLs end up in logs, browser history and referrers.
	 * @defaultValue `false`
	 */
	allowQuery?: boolean | string
	/**
	 * How long verification may take before the request is answered 503 `store_unavailable`.
	 * @defaultValue `'5s'`
	 */
	timeout?: Duration
	/**
	 * The `Retry-After` sent with 503 `store_unavailable`.
	 * @defaultValue `'5s'`
	 */
	retryAfter?: Duration
	/**
	 * The `realm` of the `WWW-Authenticate: Bearer` challenge.
	 * @defaultValue `'api'`
	 */
	realm?: string
	/**
	 * Builds the problem `type` URI from a code, such as `(code) => \`https://docs.example.com/errors#${code}\``.
	 * @defaultValue `(code) => \`urn:keyward:problem:${code}\``
	 */
	problemType?: (code: Exclude<HttpOutcomeCode, 'valid'>) => string
	/** Observes every outcome, for metrics and audit logs. It must not throw. The plaintext key is never passed. */
	onResult?: (event: HttpResultEvent<Req>) => void
	/**
	 * Replaces the response for a refused request (for a legacy JSON shape): return the response to
	 * send, or `undefined` to send keyward's. Receives keyward's response and the outcome.
	 */
	respond?: (problem: HttpProblemResponse, event: HttpResultEvent<Req>) => HttpProblemResponse | undefined
}

/**
 * What an {@link Authenticate} answers for one request: the record to attach, or the response to send.
 * A pass carries `report` when this check is the first of its instance in the request: call it once the
 * request is done, so `onResult` hears the final outcome (a later route-level refusal replaces the pass).
 */
export type AuthOutcome =
	| { readonly ok: true; readonly record: KeyRecord; readonly report?: () => void }
	| { readonly ok: false; readonly response: HttpProblemResponse }

/** Node's incoming headers: lower-case names; a repeated header is joined or an array. */
export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>

/** Per-request context an adapter passes to {@link Authenticate}. */
export interface AuthContext {
	/**
	 * An object that lives as long as the request (Express's `req`, Koa's `ctx.state`). keyward notes
	 * there the first verification of each instance, so a later check in the same request (a route's
	 * `scopes`) reuses it: one store read and one `onResult` per request.
	 */
	readonly carrier?: object
	/** Scopes this route requires on top of the middleware's own. */
	readonly extraScopes?: readonly string[]
}

/**
 * Checks one request: reads the key, verifies it (or reuses the verification an earlier check of the
 * same instance noted on `context.carrier`), checks scopes, and answers the record or the response
 * to send. Built once per middleware by {@link createAuthenticator}.
 */
export type Authenticate<Req> = (
	request: Req,
	headers: IncomingHeaders,
	url: string | undefined,
	context?: AuthContext,
) => Promise<AuthOutcome>

/** What the first check of an instance notes on a request's carrier. */
interface Verification {
	readonly keyward: Keyward
	readonly record: KeyRecord
	readonly onResult: ((event: never) => void) | undefined
	/** The request's outcome has been reported: by this check's pass, or by a later check's refusal. */
	reported: boolean
}

const VERIFIED = Symbol.for('keyward.verified')
type Carrier = { [VERIFIED]?: Verification }

const KNOWN = {
	scopes: true,
	header: true,
	extract: true,
	allowQuery: true,
	timeout: true,
	retryAfter: true,
	realm: true,
	problemType: true,
	onResult: true,
	respond: true,
} satisfies Record<keyof ApiKeyOptions, true>

const TITLES: Record<Exclude<HttpOutcomeCode, 'valid'>, string> = {
	missing_key: 'API key required',
	malformed_key: 'Malformed API key',
	unknown_key: 'Unknown API key',
	expired_key: 'API key expired',
	revoked_key: 'API key revoked',
	insufficient_scope: 'Insufficient scope',
	store_unavailable: 'Key store unavailable',
}

/**
 * The building block of the HTTP adapters, for writing one for another framework: resolves
 * {@link ApiKeyOptions} once and returns the per-request check. An adapter reads the request's
 * headers and URL, calls it, then attaches `outcome.record` or writes `outcome.response` (status,
 * headers, and `JSON.stringify(body)`).
 *
 * @param keyward - the instance to verify with
 * @param input - see {@link ApiKeyOptions}
 * @param where - the adapter's name, for error messages
 * @returns an {@link Authenticate} function
 * @throws KeywardError `invalid_option` for a bad option
 * @example
 * ```ts
 * const authenticate = createAuthenticator(keyward, { scopes: ['read'] }, 'myAdapter()')
 * const outcome = await authenticate(req, req.headers, req.url)
 * if (!outcome.ok) return send(outcome.response.status, outcome.response.headers, JSON.stringify(outcome.response.body))
 * ```
 */
export function createAuthenticator<Req>(
	keyward: Keyward,
	input: ApiKeyOptions<Req> | undefined,
	where: string,
): Authenticate<Req> {
	const check = createCheck(keyward, input, where)
	return async function authenticate(request, incoming, url, context) {
		return check(request, incoming, url, context?.carrier, context?.extraScopes)
	}
}

/**
 * {@link Authenticate} for keyward's own adapters: the same check, answered at once (not as a
 * promise) when verification needed no I/O: a malformed or missing key, a cache hit, the memory
 * store. A failure other than `store_unavailable` is answered as a rejected promise, never thrown.
 * Context is passed positionally, so a request allocates no context object.
 * @internal
 */
export type Check<Req> = (
	request: Req,
	incoming: IncomingHeaders,
	url: string | undefined,
	carrier: object | undefined,
	extraScopes: readonly string[] | undefined,
) => AuthOutcome | Promise<AuthOutcome>

/**
 * Resolves {@link ApiKeyOptions} once and returns the {@link Check} the adapters run per request.
 * @internal
 */
export function createCheck<Req>(keyward: Keyward, input: ApiKeyOptions<Req> | undefined, where: string): Check<Req> {
	if (typeof keyward !== 'object' || keyward === null || typeof keyward.verify !== 'function') {
		throw invalidOption(`${where} needs a keyward instance from createKeyward() as its first argument`)
	}
	const options = checkKnown(input ?? {}, KNOWN, where)
	const scopes = checkScopes(options.scopes)
	const headers = headerNames(options.header)
	const query = options.allowQuery === true ? 'api_key' : options.allowQuery || null
	if (query !== null && (typeof query !== 'string' || !/^[\w.-]{1,64}$/.test(query))) {
		throw invalidOption(`allowQuery must be true, false or a query parameter name (got ${typeOf(options.allowQuery)})`)
	}
	const { extract, onResult, respond } = options
	for (const [name, fn] of Object.entries({ extract, onResult, respond, problemType: options.problemType })) {
		if (fn !== undefined && typeof fn !== 'function')
			throw invalidOption(`${name} must be a function (got ${typeOf(fn)})`)
	}
	const timeoutMs = parseDuration(options.timeout ?? '5s', 'timeout')
	if (timeoutMs === 0) throw invalidOption('timeout must be longer than 0 ms')
	const retryAfter = String(Math.ceil(parseDuration(options.retryAfter ?? '5s', 'retryAfter') / 1000))
	const realm = options.realm ?? 'api'
	if (typeof realm !== 'string' || !/^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(realm)) {
		throw invalidOption('realm must be 1–64 printable ASCII characters without quotes or backslashes')
	}
	const problemType = options.problemType ?? ((code: string) => `urn:keyward:problem:${code}`)
	const problems = problemBuilder(realm, retryAfter, problemType, headers, query)

	const read: (request: Req, incoming: IncomingHeaders, url: string | undefined) => unknown = extract
		? (request) => extract(request)
		: (_, incoming, url) => readKey(incoming, url, headers, query)
	const bounded = deadlines(timeoutMs, 'the key store')
	// The instance's own verify, synchronous when it can be; a wrapped or replaced verify is called as given.
	const verifyKey = fastVerify.get(keyward.verify) ?? ((key: unknown) => Promise.resolve(keyward.verify(key)))

	/** The outcome of a request whose key was verified (or whose earlier verification is reused). */
	const settle = (
		request: Req,
		carrier: Carrier | undefined,
		prior: Verification | undefined,
		extraScopes: readonly string[] | undefined,
		result: VerifyResult,
	): AuthOutcome => {
		if (result.ok) {
			const required = extraScopes !== undefined && extraScopes.length > 0 ? union(scopes, extraScopes) : scopes
			const held = result.record.scopes
			if (required.every((scope) => held.includes(scope))) return pass(request, carrier, prior, result.record)
			return refuse(request, prior, 'insufficient_scope', result.record, problems.insufficientScope(required))
		}
		if (result.code === 'expired_key') {
			return refuse(request, prior, result.code, result.record, problems.expired(result.expiredAt))
		}
		const record = result.code === 'revoked_key' ? result.record : null
		return refuse(request, prior, result.code, record, problems.fixed[result.code])
	}

	/** A verification that failed: `store_unavailable` is answered 503; anything else goes to the framework. */
	const failed = (request: Req, failure: unknown): AuthOutcome | Promise<never> => {
		if (!isKeywardError(failure, 'store_unavailable')) return Promise.reject(failure)
		return refuse(request, undefined, 'store_unavailable', null, problems.fixed.store_unavailable, failure)
	}

	const pass = (
		request: Req,
		carrier: Carrier | undefined,
		prior: Verification | undefined,
		record: KeyRecord,
	): AuthOutcome => {
		if (prior !== undefined) return { ok: true, record } // the first check reports
		// Without onResult there is nothing to report: no report(), so adapters add no listeners.
		if (onResult === undefined) {
			if (carrier !== undefined) carrier[VERIFIED] = { keyward, record, onResult, reported: false }
			return { ok: true, record }
		}
		const verification: Verification = { keyward, record, onResult, reported: false }
		if (carrier !== undefined) carrier[VERIFIED] = verification
		const report = () => {
			if (verification.reported) return
			verification.reported = true
			onResult({ code: 'valid', status: 200, record, request })
		}
		return { ok: true, record, report }
	}

	const refuse = (
		request: Req,
		prior: Verification | undefined,
		code: Exclude<HttpOutcomeCode, 'valid'>,
		record: KeyRecord | null,
		response: HttpProblemResponse,
		error?: unknown,
	): AuthOutcome => {
		const event: HttpResultEvent<Req> = { code, status: response.status, record, request, error }
		if (prior !== undefined)
			prior.reported = true // this refusal is the request's outcome
		;(onResult ?? (prior?.onResult as typeof onResult))?.(event)
		const replaced = respond?.(response, event)
		return { ok: false, response: replaced === undefined ? response : withContentType(replaced) }
	}

	return function check(request, incoming, url, carrier, extraScopes) {
		const held = (carrier as Carrier | undefined)?.[VERIFIED]
		const prior = held?.keyward === keyward ? held : undefined
		if (prior !== undefined) {
			return settle(request, carrier as Carrier, prior, extraScopes, { ok: true, record: prior.record })
		}
		let result: VerifyResult | Promise<VerifyResult>
		try {
			result = verifyKey(read(request, incoming, url))
		} catch (failure) {
			return failed(request, failure)
		}
		if (!(result instanceof Promise))
			return settle(request, carrier as Carrier | undefined, undefined, extraScopes, result)
		return bounded(result).then(
			(verified) => settle(request, carrier as Carrier | undefined, undefined, extraScopes, verified),
			(failure: unknown) => failed(request, failure),
		)
	}
}

/**
 * Reads a key from a request's headers (and from the query string, when `query` names a parameter),
 * the way the adapters do. The `authorization` header must use the Bearer scheme: another scheme
 * counts as no key, and `Bearer` with nothing after it as an empty (malformed) key. Pure; never throws.
 *
 * @param headers - Node's incoming headers (lower-case names)
 * @param url - the request URL with its query string, or `undefined`
 * @param names - lower-case header names, in order
 * @param query - the query parameter to read when no header holds a key, or `null`
 * @returns the candidate key (unchecked; pass it to `verify()`), or `undefined` when none was sent
 */
export function readKey(
	headers: IncomingHeaders,
	url: string | undefined,
	names: readonly string[],
	query: string | null,
): unknown {
	for (const name of names) {
		const raw = headers[name]
		if (raw === undefined) continue
		const value = Array.isArray(raw) ? raw.join(', ') : raw
		if (name !== 'authorization') return trimOws(value)
		if (isPlainBearer(value)) return value.slice(7) // the usual "Bearer <key>": no regex, nothing to trim
		const match = /^[ \t]*bearer(?:[ \t]+|$)/i.exec(value)
		// "Bearer" with nothing after it sent a credential that is empty: malformed, not missing.
		if (match) return trimOws(value.slice(match[0].length)) || EMPTY_CREDENTIAL
	}
	if (query !== null && url !== undefined) {
		const at = url.indexOf('?')
		if (at !== -1) return new URLSearchParams(url.slice(at + 1)).get(query) ?? undefined
	}
	return undefined
}

/**
 * `Bearer <credential>` with exactly one space and no whitespace around the credential: what
 * {@link readKey}'s general path would read as `value.slice(7)`, recognised without a regex.
 */
function isPlainBearer(value: string): boolean {
	const first = value.charCodeAt(7)
	const last = value.charCodeAt(value.length - 1)
	return value.length > 7 && value.startsWith('Bearer ') && first !== 32 && first !== 9 && last !== 32 && last !== 9
}

/** Trims HTTP's optional whitespace (spaces and tabs), and nothing else. */
const trimOws = (value: string): string => value.replace(/^[ \t]+|[ \t]+$/g, '')

/** Stands for an empty Bearer credential: a non-empty string no key can equal, so verify() answers malformed_key. */
const EMPTY_CREDENTIAL = ' '

function headerNames(header: unknown): readonly string[] {
	if (header === undefined) return ['authorization', 'x-api-key']
	const names = typeof header === 'string' ? [header] : header
	if (!Array.isArray(names) || names.length === 0) {
		throw invalidOption(`header must be a header name or a non-empty array of them (got ${typeOf(header)})`)
	}
	return names.map((name) => {
		if (typeof name !== 'string' || !/^[!#$%&'*+.^`|~\w-]{1,64}$/.test(name)) {
			throw invalidOption(`header names must be HTTP token characters (got ${typeOf(name)})`)
		}
		return name.toLowerCase()
	})
}

function union(a: readonly string[], b: readonly string[]): readonly string[] {
	return [...new Set([...a, ...b])]
}

/** Builds the responses once; only `expired_key` and `insufficient_scope` vary per request. */
function problemBuilder(
	realm: string,
	retryAfter: string,
	problemType: (code: Exclude<HttpOutcomeCode, 'valid'>) => string,
	headerList: readonly string[],
	query: string | null,
) {
	const challenge = `Bearer realm="${realm}"`
	const base = { 'content-type': 'application/problem+json', 'cache-control': 'no-store' }
	const invalid = (description: string) => ({
		...base,
		'www-authenticate': `${challenge}, error="invalid_token", error_description="${description}"`,
	})
	const make = (
		code: Exclude<HttpOutcomeCode, 'valid'>,
		status: number,
		headers: Record<string, string>,
		detail: string,
		extra: Partial<ProblemBody> = {},
	): HttpProblemResponse =>
		Object.freeze({
			status,
			headers: Object.freeze(headers),
			body: Object.freeze({ type: problemType(code), title: TITLES[code], status, detail, code, ...extra }),
		})
	const where = [
		...headerList.map((name) =>
			name === 'authorization' ? 'the Authorization header as "Bearer <key>"' : `the ${name} header`,
		),
		...(query === null ? [] : [`the ${query} query parameter`]),
	].join(' or ')

	return {
		fixed: {
			missing_key: make('missing_key', 401, { ...base, 'www-authenticate': challenge }, `Send an API key in ${where}.`),
			malformed_key: make(
				'malformed_key',
				401,
				invalid('The API key is malformed'),
				'The API key is not well formed: check that it was copied whole, with its prefix.',
			),
			unknown_key: make('unknown_key', 401, invalid('The API key is unknown'), 'The API key is not recognised.'),
			revoked_key: make(
				'revoked_key',
				401,
				invalid('The API key was revoked'),
				'The API key was revoked. Ask its owner for a new key.',
			),
			store_unavailable: make(
				'store_unavailable',
				503,
				{ ...base, 'retry-after': retryAfter },
				'API keys cannot be checked right now. Retry later.',
			),
		},
		expired(expiredAt: Date): HttpProblemResponse {
			const iso = expiredAt.toISOString()
			return make('expired_key', 401, invalid('The API key expired'), `The API key expired at ${iso}. Renew it.`, {
				expiredAt: iso,
			})
		},
		insufficientScope(required: readonly string[]): HttpProblemResponse {
			const scope = required.join(' ')
			return make(
				'insufficient_scope',
				403,
				{ ...base, 'www-authenticate': `${challenge}, error="insufficient_scope", scope="${scope}"` },
				`This request needs an API key with the scope${required.length > 1 ? 's' : ''} ${scope}.`,
				{ requiredScopes: required },
			)
		},
	}
}

/** A replacement response from `respond` is JSON unless it names its own content type. */
function withContentType(response: HttpProblemResponse): HttpProblemResponse {
	const named = Object.keys(response.headers).some((name) => name.toLowerCase() === 'content-type')
	return named ? response : { ...response, headers: { 'content-type': 'application/json', ...response.headers } }
}

/**
 * `npm run demo`: the whole life of two keys on the in-memory store, printed step by step.
 *
 *   issue two keys → verify both → revoke one → let the other expire → verify says expired_key
 *   before any sweep → sweep() → the swept key still answers expired_key → a purge forgets it.
 *
 * Then the same over HTTP: the Express example app (examples/express-app.ts) on a free port, with a
 * clock the demo moves, answering every row of the HTTP contract to real requests.
 */
import { pathToFileURL } from 'node:url'
import { createKeyward, memoryStore, type VerifyResult } from 'keyward'
import { createExpressExample } from './express-app.js'

/** Options of {@link runDemo}. */
export interface DemoOptions {
	/** Where lines go. @defaultValue console.log */
	log?: (line: string) => void
	/** Lifetime of the short-lived key in ms. @defaultValue 1200 */
	expiryMs?: number
}

/** Runs the demo; resolves with the keys' final answers so a test can check them. */
export async function runDemo({ log = console.log, expiryMs = 1200 }: DemoOptions = {}) {
	const store = memoryStore()
	const keyward = createKeyward({ store, prefix: 'sk' })
	const show = (result: VerifyResult) =>
		result.ok
			? 'valid'
			: result.code === 'expired_key'
				? `expired_key (expired at ${result.expiredAt.toISOString()})`
				: result.code

	log('keyward demo: the life of two API keys on the in-memory store\n')

	log('1. issue two keys for user_42')
	const short = await keyward.issue({ ownerId: 'user_42', name: 'short-lived', expiresIn: expiryMs, scopes: ['read'] })
	const long = await keyward.issue({ ownerId: 'user_42', name: 'CI deploy key', expiresIn: '90d', scopes: ['deploy'] })
	for (const { key, record } of [short, long]) {
		log(`   ${record.name}: id ${record.id}, key ${mask(key)} (the full key is shown once, to its owner)`)
		log(`     expires ${record.expiresAt?.toISOString()}, scopes ${record.scopes.join(', ')}`)
	}
	log(`   the store holds only hashes, e.g. ${short.record.hash}\n`)

	log('2. verify both')
	log(`   ${short.record.name}: ${show(await keyward.verify(short.key))}`)
	log(`   ${long.record.name}: ${show(await keyward.verify(long.key))}`)
	const typo = short.key.slice(0, -1) + (short.key.endsWith('x') ? 'y' : 'x')
	log(`   a typo: ${show(await keyward.verify(typo))}, no key: ${show(await keyward.verify(undefined))}\n`)

	log('3. revoke the CI deploy key (it leaked in a build log)')
	const revoked = await keyward.revoke(long.record.id, { note: 'leaked in a build log' })
	log(`   blacklisted at ${revoked.blacklistedAt.toISOString()}, reason ${revoked.reason}`)
	log(`   verify: ${show(await keyward.verify(long.key))}\n`)

	log(`4. wait ${expiryMs} ms for the short-lived key to expire`)
	await new Promise((resolve) => setTimeout(resolve, expiryMs + 50))
	const beforeSweep = await keyward.verify(short.key)
	log(`   verify, before any sweep: ${show(beforeSweep)}`)
	log(`   still in the active set: ${(await keyward.get(short.record.id))?.blacklistedAt === null}\n`)

	log('5. the scheduler runs sweep()')
	const report = await keyward.sweep()
	log(
		`   report: ${report.expired} expired, ${report.purged} purged, ${report.scanned} scanned, ${report.durationMs.toFixed(2)} ms`,
	)
	const afterSweep = await keyward.verify(short.key)
	log(`   verify, after the sweep: ${show(afterSweep)} (not unknown_key: clients can be told to renew)`)
	const listed = await keyward.list({ ownerId: 'user_42', includeBlacklisted: true })
	for (const record of listed) log(`   ${record.name}: ${record.reason ?? 'active'}`)
	log('')

	log('6. a later sweep with a retention of 0 purges the blacklist')
	const purge = await keyward.sweep({ retention: 0, now: new Date(Date.now() + 1) })
	const afterPurge = await keyward.verify(short.key)
	log(`   report: ${purge.expired} expired, ${purge.purged} purged; verify now: ${show(afterPurge)}\n`)

	const http = await runHttpDemo(log)
	log('\ndone.')
	return { beforeSweep, afterSweep, afterPurge, report, purge, http }
}

/** One request of the HTTP part and what the server answered. */
export interface ObservedAnswer {
	/** The contract row, such as `expired_key` or `valid`. */
	readonly row: string
	/** The request, such as `GET /me`. */
	readonly request: string
	readonly status: number
	/** The problem's `code`; `null` for a 2xx. */
	readonly code: string | null
	/** The `WWW-Authenticate` header; `null` when there is none. */
	readonly wwwAuthenticate: string | null
	/** For `expired_key`: the `expiredAt` of the problem body. */
	readonly expiredAt?: string
}

/**
 * Steps 7 to 9: the Express example on a free port, with a keyward whose clock the demo moves on.
 * Resolves with what the server answered to each row of the contract, then to the swept key.
 */
async function runHttpDemo(log: (line: string) => void) {
	let offset = 0
	const keyward = createKeyward({ prefix: 'sk', clock: () => new Date(Date.now() + offset) })
	// The app's own sweep would run every minute; the demo runs one itself, when it wants, in step 8.
	const app = await createExpressExample({ keyward, port: 0, log: (line) => log(`   [app] ${line}`) })
	try {
		log(`7. the same over HTTP: the Express example (examples/express-app.ts) on ${app.url}`)
		const admin = await keyward.issue({ ownerId: 'ops', name: 'demo admin key', scopes: ['admin'] })
		log(`   an admin key for ops: ${mask(admin.key)} (scope admin)`)
		const issue = async (name: string, body: object) => {
			const response = await fetch(`${app.url}/admin/users/user_7/keys`, {
				method: 'POST',
				headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
				body: JSON.stringify(body),
			})
			const issued = (await response.json()) as { key: string; record: { id: string; expiresAt: string } }
			log(
				`   POST /admin/users/user_7/keys ${JSON.stringify(body)} → ${response.status}, key ${mask(issued.key)}, expires ${issued.record.expiresAt}`,
			)
			return { name, ...issued }
		}
		const reader = await issue('reader', { name: 'reports reader', scopes: ['reports:read'], expiresIn: '90d' })
		const hourly = await issue('hourly', { name: 'one-hour key', expiresIn: '1h' })
		const leaked = await issue('leaked', { name: 'leaked key' })
		const revoked = await fetch(`${app.url}/admin/keys/${leaked.record.id}`, {
			method: 'DELETE',
			headers: { authorization: `Bearer ${admin.key}` },
		})
		const revokedRecord = (await revoked.json()) as { reason: string }
		log(`   DELETE /admin/keys/${leaked.record.id} → ${revoked.status}, reason ${revokedRecord.reason}`)
		const unknown = (await createKeyward({ prefix: 'sk' }).issue({ ownerId: 'elsewhere' })).key

		log('\n   every row of the HTTP contract, over HTTP:')
		const ask = async (row: string, path: string, key?: string): Promise<ObservedAnswer> => {
			const response = await fetch(`${app.url}${path}`, {
				headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
			})
			const body = (await response.json()) as { code?: string; expiredAt?: string }
			const answer: ObservedAnswer = {
				row,
				request: `GET ${path}`,
				status: response.status,
				code: response.ok ? null : (body.code ?? null),
				wwwAuthenticate: response.headers.get('www-authenticate'),
				...(body.expiredAt === undefined ? {} : { expiredAt: body.expiredAt }),
			}
			log(describeAnswer(answer))
			return answer
		}
		const rows: ObservedAnswer[] = []
		rows.push(await ask('valid', '/me', reader.key))
		rows.push(await ask('missing_key', '/me'))
		rows.push(await ask('malformed_key', '/me', typo(reader.key)))
		rows.push(await ask('unknown_key', '/me', unknown))
		rows.push(await ask('revoked_key', '/me', leaked.key))
		rows.push(await ask('insufficient_scope', '/reports', hourly.key))
		log('   (the clock moves on two hours: the one-hour key expires, and no sweep has run)')
		offset += 2 * 3_600_000
		rows.push(await ask('expired_key', '/me', hourly.key))

		log('\n8. the scheduler runs sweep()')
		const sweep = await keyward.sweep()
		log(`   report: ${sweep.expired} expired, ${sweep.purged} purged, ${sweep.scanned} scanned`)
		const swept = await keyward.get(hourly.record.id)
		log(`   the one-hour key is blacklisted at ${swept?.blacklistedAt?.toISOString()}, reason ${swept?.reason}`)
		const afterSweep = await ask('expired_key', '/me', hourly.key)
		log('   still expired_key after the sweep: the client is told to renew, not that its key is unknown')
		return { rows, sweep, afterSweep }
	} finally {
		await app.close()
		log('\n9. server closed')
	}
}

function describeAnswer({ row, request, status, code, wwwAuthenticate, expiredAt }: ObservedAnswer): string {
	const outcome = `${status}${code === null ? '' : ` ${code}`}${expiredAt === undefined ? '' : ` (expiredAt ${expiredAt})`}`
	const challenge = wwwAuthenticate === null ? '' : `\n${' '.repeat(42)}WWW-Authenticate: ${wwwAuthenticate}`
	return `   ${row.padEnd(19)} ${request.padEnd(13)} → ${outcome}${challenge}`
}

/** The key with its last character changed: the checksum no longer matches. */
function typo(key: string): string {
	return key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x')
}

/** The prefix and a few characters: enough to recognise a key, never enough to use it. */
function mask(key: string): string {
	return `${key.slice(0, 7)}…`
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
	runDemo().catch((error) => {
		console.error(error)
		process.exitCode = 1
	})
}

/**
 * `npm run demo`: the whole life of two keys on the in-memory store, printed step by step.
 *
 *   issue two keys → verify both → revoke one → let the other expire → verify says expired_key
 *   before any sweep → sweep() → the swept key still answers expired_key → a purge forgets it.
 */
import { pathToFileURL } from 'node:url'
import { createKeyward, memoryStore, type VerifyResult } from 'keyward'

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
	log(`   report: ${purge.expired} expired, ${purge.purged} purged; verify now: ${show(afterPurge)}`)
	log('\ndone.')
	return { beforeSweep, afterSweep, afterPurge, report, purge }
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

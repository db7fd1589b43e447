/**
 * Where the test servers are. Suites read REDIS_URL and DATABASE_URL. In CI (CI=true) a missing
 * URL is an error, so a suite can never be skipped there; locally it skips with a message that
 * says how to run it.
 */
import { randomUUID } from 'node:crypto'
import { createClient } from '@keyv/redis'

export function serverUrl(name: 'REDIS_URL' | 'DATABASE_URL'): string | undefined {
	const url = process.env[name]
	if (url) return url
	if (process.env.CI) throw new Error(`${name} is not set: CI must run the ${name} suites (.ci/run sets it)`)
	const example = name === 'REDIS_URL' ? 'redis://127.0.0.1:6379' : 'postgres://root@127.0.0.1:5432/test'
	console.warn(`skipping the ${name} suites: run them with ${name}=${example} npm test`)
	return undefined
}

/** A namespace no other test file or run uses. */
export function uniqueNamespace(label: string): string {
	return `kwtest_${label}_${randomUUID().slice(0, 8)}`
}

/** Deletes every key of a namespace (`<namespace>:*`) on a Redis server. */
export async function wipeRedisNamespace(url: string, namespace: string): Promise<void> {
	const client = createClient({ url })
	await client.connect()
	for await (const keys of client.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) {
		if (keys.length > 0) await client.unlink(keys)
	}
	await client.close()
}

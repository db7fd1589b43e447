/**
 * Where the test servers are. Suites read REDIS_URL and DATABASE_URL. In CI (CI=true) a missing
 * URL is an error, so a suite can never be skipped there; locally it skips with a message that
 * says how to run it.
 */
import { randomUUID } from 'node:crypto'

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

/**
 * Opens the store a worker process was told to use, from its environment: `KW_STORE` (`redis` or
 * `postgres`), `KW_URL`, `KW_NS` (the namespace) and, for PostgreSQL, `KW_TABLE`.
 */
import { postgresStore } from '../../../adapters/postgres.js'
import { redisStore } from '../../../adapters/redis.js'
import type { KeyStore } from '../../../src/store.js'

export function openStore(): KeyStore & { close(): Promise<void> } {
	const url = process.env.KW_URL as string
	const namespace = process.env.KW_NS as string
	return process.env.KW_STORE === 'postgres'
		? postgresStore({ url, namespace, table: process.env.KW_TABLE as string, autoMigrate: false })
		: redisStore({ url, namespace })
}

const heard: string[] = []
const waiting: (() => void)[] = []
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk: string) => {
	heard.push(...chunk.split('\n').filter(Boolean))
	for (const wake of waiting.splice(0)) wake()
})

/** Resolves when the parent has written `word` on a line of stdin. */
export async function parentSays(word: string): Promise<void> {
	while (!heard.includes(word)) await new Promise<void>((resolve) => waiting.push(resolve))
}

/** Whether the parent has written `word` on a line of stdin yet. */
export function parentSaid(word: string): boolean {
	return heard.includes(word)
}

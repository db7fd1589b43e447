/**
 * The memory store's heap per key, in a child process of its own (started by bench/issue.ts with
 * `--expose-gc`), so nothing else the runner holds is counted: collects garbage, notes
 * `heapUsed`, issues the keys its argument names into a `memoryStore()`, collects again, and sends
 * the parent `{ keys, bytes }` over IPC.
 */
import { createKeyward, memoryStore } from '../src/index.js'
import { ISSUE_FIELDS } from './issue-fields.js'

async function main(): Promise<void> {
	const count = Number(process.argv[2])
	const gc = globalThis.gc
	if (!gc) throw new Error('run with --expose-gc')
	gc()
	gc()
	const before = process.memoryUsage().heapUsed
	const store = memoryStore()
	const keyward = createKeyward({ store, prefix: 'sk' })
	for (let i = 0; i < count; i += 1000) {
		const batch: Promise<unknown>[] = []
		for (let j = i; j < Math.min(count, i + 1000); j++) batch.push(keyward.issue(ISSUE_FIELDS(j)))
		await Promise.all(batch)
	}
	gc()
	gc()
	const bytes = process.memoryUsage().heapUsed - before
	process.send?.({ keys: count, bytes, alive: store.name })
}

main().then(
	() => process.disconnect?.(),
	(error: unknown) => {
		console.error('heap measurement failed:', error instanceof Error ? error.message : error)
		process.exit(1)
	},
)

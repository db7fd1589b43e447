/**
 * A sweeping process. `KW_MODE=loop`: after "go" on stdin, runs `sweep()` (batch `KW_BATCH`) again and
 * again until the parent writes "stop", then until a sweep finds nothing, and prints one JSON line: the sum of its reports'
 * `expired` and the ids its store's `moveExpired` calls answered as moved. `KW_MODE=once`: after "go",
 * prints "sweeping" and runs one sweep at `KW_NOW`, batch `KW_BATCH`, printing "progress <moved>" after
 * every batch, then prints "done" (the parent SIGKILLs it somewhere in between).
 */
import { sweep } from '../../../src/sweep.js'
import { openStore, parentSaid, parentSays } from './open-store.js'

const inner = openStore()
const moved: string[] = []
const store = {
	...inner,
	moveExpired: async (query: { now: Date; limit: number }) => {
		const result = await inner.moveExpired(query)
		for (const record of result.moved) moved.push(record.id)
		return result
	},
}
const batchSize = Number(process.env.KW_BATCH ?? 50)

await inner.count({ expiredBy: new Date(0) }) // connected
process.stdout.write('ready\n')
await parentSays('go')

if (process.env.KW_MODE === 'once') {
	process.stdout.write('sweeping\n')
	const report = await sweep(store, {
		now: new Date(Number(process.env.KW_NOW)),
		batchSize,
		onProgress: ({ expired }) => process.stdout.write(`progress ${expired}\n`),
	})
	process.stdout.write(`done ${report.expired}\n`)
} else {
	let expired = 0
	let sweeps = 0
	for (;;) {
		const stopping = parentSaid('stop')
		const report = await sweep(store, { batchSize })
		expired += report.expired
		sweeps++
		if (stopping && report.expired === 0) break
		if (report.expired === 0) await new Promise((resolve) => setTimeout(resolve, 10))
	}
	process.stdout.write(`${JSON.stringify({ expired, sweeps, moved })}\n`)
}
await inner.close()
process.exit(0)

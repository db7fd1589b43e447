/**
 * The fifth process of the concurrent-sweep scenario: an Express app with `requireApiKey()` on the
 * shared store, and a loop of keep-alive requests to it with the valid keys in `KW_KEYS` (a JSON
 * array), 4 at a time, until the parent writes "stop". Prints the app's URL, then one JSON line: the
 * requests sent and the answers by status.
 */
import type { AddressInfo } from 'node:net'
import express from 'express'
import { requireApiKey } from '../../../adapters/express.js'
import { createKeyward } from '../../../src/keyward.js'
import { openStore, parentSays } from './open-store.js'

const store = openStore()
const keyward = createKeyward({ store, prefix: 'sk' })
const app = express()
app.get('/me', requireApiKey(keyward), (req, res) => {
	res.json({ id: req.apiKey.id })
})
const server = app.listen(0, '127.0.0.1')
await new Promise<void>((resolve) => server.once('listening', () => resolve()))
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/me`
const keys = JSON.parse(process.env.KW_KEYS as string) as string[]
const byStatus: Record<string, number> = {}
const failures: string[] = []
let requests = 0
let stop = false

process.stdout.write(`listening ${url}\n`)
parentSays('stop').then(() => {
	stop = true
})

async function client(offset: number) {
	for (let i = offset; !stop; i += 4) {
		const key = keys[i % keys.length] as string
		requests++
		try {
			const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } })
			const body = await response.text()
			byStatus[response.status] = (byStatus[response.status] ?? 0) + 1
			if (response.status !== 200 && failures.length < 10) failures.push(`${response.status} ${body.slice(0, 200)}`)
		} catch (error) {
			byStatus.error = (byStatus.error ?? 0) + 1
			if (failures.length < 10) failures.push(String(error))
		}
	}
}
await Promise.all([0, 1, 2, 3].map(client))
process.stdout.write(`${JSON.stringify({ requests, byStatus, failures })}\n`)
await new Promise((resolve) => server.close(resolve))
await store.close()
process.exit(0)

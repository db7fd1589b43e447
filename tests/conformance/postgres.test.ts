import { type PostgresKeyStore, postgresStore } from 'keyward/postgres'
import { storeConformance } from 'keyward/testing'
import pg from 'pg'
import { afterEach, describe, it } from 'vitest'
import { serverUrl, uniqueNamespace } from '../helpers/servers.js'

const url = serverUrl('DATABASE_URL')

/** Shared by the tests of this file; each test gets its own namespace, whose rows are deleted after it. */
const table = 'kwtest_conformance'

describe.skipIf(!url)('postgresStore (real server)', () => {
	const target = url as string
	const used: string[] = []
	const open = (namespace: string): PostgresKeyStore => postgresStore({ url: target, table, namespace })

	afterEach(async () => {
		const namespaces = used.splice(0)
		if (namespaces.length === 0) return
		const admin = new pg.Client({ connectionString: target })
		await admin.connect()
		try {
			await admin.query(`DELETE FROM ${table} WHERE namespace = ANY($1)`, [namespaces])
		} finally {
			await admin.end()
		}
	})

	storeConformance({
		it,
		createStore: () => {
			const namespace = uniqueNamespace('pg')
			used.push(namespace)
			return open(namespace)
		},
		// Its own pool: races between the two are real races between connections.
		openPeer: (store) => open((store as PostgresKeyStore).namespace),
		createUnavailableStore: () => postgresStore({ url: 'postgres://root@127.0.0.1:1/test', timeout: '1s' }),
	})
})

/**
 * The built package, as users get it: `npm test` builds dist/ before vitest runs.
 * Each check runs in a fresh Node process that imports or requires `keyward` by name.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname

async function node(args: string[]): Promise<string> {
	const { stdout } = await run(process.execPath, args, { cwd: root })
	return stdout.trim()
}

const lifecycle = `
	const kw = createKeyward({ prefix: 'sk' })
	const { key, record } = await kw.issue({ ownerId: 'u1', expiresIn: '1h' })
	const ok = (await kw.verify(key)).ok
	await kw.revoke(record.id)
	const code = (await kw.verify(key)).code
	let notFound
	try { await kw.revoke('nope') } catch (e) { notFound = isKeywardError(e, 'not_found') && e instanceof KeywardError }
	console.log(JSON.stringify({ ok, code, notFound }))
`

describe('the built package', () => {
	it('has been built (npm test runs the build first)', () => {
		expect(existsSync(`${root}dist/index.js`) && existsSync(`${root}dist/index.cjs`)).toBe(true)
	})

	it('works from ESM: import { createKeyward } from "keyward"', async () => {
		const out = await node([
			'--input-type=module',
			'-e',
			`import { createKeyward, isKeywardError, KeywardError } from 'keyward'\n${lifecycle}`,
		])
		expect(JSON.parse(out)).toEqual({ ok: true, code: 'revoked_key', notFound: true })
	})

	it('works from CommonJS: require("keyward")', async () => {
		const out = await node([
			'--input-type=commonjs',
			'-e',
			`const { createKeyward, isKeywardError, KeywardError } = require('keyward');(async () => {${lifecycle}})()`,
		])
		expect(JSON.parse(out)).toEqual({ ok: true, code: 'revoked_key', notFound: true })
	})

	it('shares one KeywardError between keyward and keyward/testing in each format', async () => {
		const check = (load: string) => `${load}
			const record = testing.testRecord()
			const store = core.memoryStore()
			store.insert(record).then(() => store.insert(record)).catch((e) => console.log(e instanceof core.KeywardError, e.code))`
		const cjs = await node(['-e', check(`const core = require('keyward'); const testing = require('keyward/testing')`)])
		const esm = await node([
			'--input-type=module',
			'-e',
			check(`import * as core from 'keyward'; import * as testing from 'keyward/testing'`),
		])
		expect([cjs, esm]).toEqual(['true conflict', 'true conflict'])
		const shared = await node([
			'-e',
			`const core = require('keyward'); const { storeConformance } = require('keyward/testing');
			 let failed = []; const tests = []
			 storeConformance({ it: (name, fn) => tests.push([name, fn]), createStore: () => core.memoryStore() })
			 ;(async () => { for (const [name, fn] of tests) await fn().catch(() => failed.push(name)); console.log(tests.length, failed.length) })()`,
		])
		expect(shared).toMatch(/^\d+ 0$/)
	})

	it('keyward/cache works from ESM and CommonJS, and shares KeywardError with keyward', async () => {
		const body = `
			const cache = cached.verifyCache({ ttl: '10s', max: 10 })
			const kw = core.createKeyward({ cache })
			const { key, record } = await kw.issue({ ownerId: 'u1', expiresIn: '1h' })
			const first = (await kw.verify(key)).ok
			const size = cache.size
			await kw.revoke(record.id)
			const code = (await kw.verify(key)).code
			let shared
			try { cached.verifyCache({}) } catch (e) { shared = e instanceof core.KeywardError && e.code }
			console.log(JSON.stringify({ first, size, code, shared }))`
		const esm = await node([
			'--input-type=module',
			'-e',
			`import * as core from 'keyward'; import * as cached from 'keyward/cache'\n${body}`,
		])
		const cjs = await node([
			'--input-type=commonjs',
			'-e',
			`const core = require('keyward'); const cached = require('keyward/cache');(async () => {${body}})()`,
		])
		const expected = { first: true, size: 1, code: 'revoked_key', shared: 'invalid_option' }
		expect(JSON.parse(esm)).toEqual(expected)
		expect(JSON.parse(cjs)).toEqual(expected)
	})

	it('passes publint --strict', async () => {
		const { stdout } = await run('npx', ['publint', '--strict'], { cwd: root })
		expect(stdout).toContain('All good')
	})

	it('passes arethetypeswrong for node16 (ESM and CJS) and bundlers', async () => {
		const { stdout } = await run('npx', ['attw', '--pack', '.', '--profile', 'node16', '--format', 'ascii'], {
			cwd: root,
		})
		// attw exits non-zero (execFile rejects) on any problem in the checked resolutions.
		const verdicts = stdout.split('\n').filter((line) => /^(node16|bundler)/.test(line))
		expect(verdicts.length).toBeGreaterThanOrEqual(6) // three resolutions × each entry point
		for (const line of verdicts) expect(line).toContain('🟢')
	}, 60_000)
})

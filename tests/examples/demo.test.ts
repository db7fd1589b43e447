import { describe, expect, it } from 'vitest'
import { runDemo } from '../../examples/demo.js'

describe('npm run demo', () => {
	it('walks a key from valid to expired_key before and after the sweep, then unknown_key after a purge', async () => {
		const lines: string[] = []
		const result = await runDemo({ log: (line) => lines.push(line), expiryMs: 60 })
		const output = lines.join('\n')
		expect(result.beforeSweep).toMatchObject({ ok: false, code: 'expired_key' })
		expect(result.afterSweep).toMatchObject({ ok: false, code: 'expired_key' })
		expect(result.afterPurge).toMatchObject({ ok: false, code: 'unknown_key' })
		expect(result.report).toMatchObject({ expired: 1, purged: 0, aborted: false })
		expect(result.purge).toMatchObject({ expired: 0, purged: 2 })
		for (const text of ['revoked_key', 'malformed_key', 'missing_key', 'verify, before any sweep: expired_key']) {
			expect(output).toContain(text)
		}
	})

	it('answers every row of the HTTP contract from the Express example, before and after a sweep', async () => {
		const lines: string[] = []
		const { http } = await runDemo({ log: (line) => lines.push(line), expiryMs: 20 })
		const invalidToken = /^Bearer realm="api", error="invalid_token", error_description="[^"]+"$/
		expect(http.rows.map(({ row, status, code }) => [row, status, code])).toEqual([
			['valid', 200, null],
			['missing_key', 401, 'missing_key'],
			['malformed_key', 401, 'malformed_key'],
			['unknown_key', 401, 'unknown_key'],
			['revoked_key', 401, 'revoked_key'],
			['insufficient_scope', 403, 'insufficient_scope'],
			['expired_key', 401, 'expired_key'],
		])
		const byRow = Object.fromEntries(http.rows.map((answer) => [answer.row, answer]))
		expect(byRow.valid?.wwwAuthenticate).toBeNull()
		expect(byRow.missing_key?.wwwAuthenticate).toBe('Bearer realm="api"')
		for (const row of ['malformed_key', 'unknown_key', 'revoked_key', 'expired_key']) {
			expect(byRow[row]?.wwwAuthenticate).toMatch(invalidToken)
		}
		expect(byRow.insufficient_scope?.wwwAuthenticate).toBe(
			'Bearer realm="api", error="insufficient_scope", scope="reports:read"',
		)
		expect(byRow.expired_key?.expiredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

		expect(http.sweep).toMatchObject({ expired: 1, purged: 0, aborted: false })
		expect(http.afterSweep).toMatchObject({ status: 401, code: 'expired_key', expiredAt: byRow.expired_key?.expiredAt })
		expect(http.afterSweep.wwwAuthenticate).toMatch(invalidToken)

		const output = lines.join('\n')
		for (const text of ['WWW-Authenticate: Bearer realm="api"', '403 insufficient_scope', 'server closed']) {
			expect(output).toContain(text)
		}
	})

	it('never prints a whole key', async () => {
		const lines: string[] = []
		await runDemo({ log: (line) => lines.push(line), expiryMs: 20 })
		const keyShaped = /sk_[1-9A-HJ-NP-Za-km-z]{32}/
		expect(lines.filter((line) => keyShaped.test(line))).toEqual([])
	})
})

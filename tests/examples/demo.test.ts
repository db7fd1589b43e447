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

	it('never prints a whole key', async () => {
		const lines: string[] = []
		await runDemo({ log: (line) => lines.push(line), expiryMs: 20 })
		const keyShaped = /sk_[1-9A-HJ-NP-Za-km-z]{32}/
		expect(lines.filter((line) => keyShaped.test(line))).toEqual([])
	})
})

/**
 * On a terminal, `keyward sweep` draws a progress bar and prints a summary. `script` (util-linux)
 * gives the child a pseudo-terminal, as a person running the command would.
 */
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cliPath, keyward, requireBuiltCli, type StoreCase, seed, sqliteCase } from './support.js'

const hasScript = spawnSync('script', ['--version']).status === 0
if (!hasScript && process.env.CI)
	throw new Error('the TTY tests need script from util-linux (apt-get install bsdutils)')

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`

/** Runs the binary on a pseudo-terminal; answers everything the terminal showed (stdout and stderr). */
function onTerminal(args: string[]): { code: number | null; screen: string } {
	const command = [process.execPath, cliPath, ...args].map(quote).join(' ')
	const run = spawnSync('script', ['-qec', command, '/dev/null'], {
		encoding: 'utf8',
		env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm', COLUMNS: '100' },
		timeout: 60_000,
	})
	return { code: run.status, screen: run.stdout }
}

describe.skipIf(!hasScript)('keyward sweep on a terminal', () => {
	let store: StoreCase
	beforeAll(async () => {
		requireBuiltCli()
		store = sqliteCase('cli_tty')
		await seed(store.store, { expired: 12, active: 2, revoked: 3, revokedDaysAgo: 100 })
	}, 60_000)
	afterAll(async () => store?.cleanup(), 60_000)

	it('draws a progress bar up to 100% and prints a summary', () => {
		const { code, screen } = onTerminal([
			'sweep',
			'--store',
			store.url,
			'--namespace',
			store.namespace,
			'--batch-size',
			'4',
			'--retention',
			'30d',
		])
		expect(code, screen).toBe(0)
		// Redrawn in place: carriage return and erase-line before each state of the bar.
		expect(screen).toContain('\r\x1b[2K[')
		expect(screen).toMatch(/\[#{2,}-+\]\s+\d+% \d+\/15/)
		expect(screen).toMatch(/\[#+\] 100% 15\/15 \(expired 12, purged 3\)/)
		expect(screen).toContain(`Swept ${store.url} (namespace ${store.namespace}) in `)
		expect(screen).toMatch(/expired {2}12 moved to the blacklist/)
		expect(screen).toMatch(/purged {3}3 deleted, blacklisted more than 30d ago/)
	})

	it('prints no bar with --json, and one JSON object even on a terminal', () => {
		const { code, screen } = onTerminal(['sweep', '--store', store.url, '--namespace', store.namespace, '--json'])
		expect(code, screen).toBe(0)
		expect(screen).not.toContain('\x1b[2K')
		expect(JSON.parse(screen.trim())).toMatchObject({ expired: 0, purged: 0, aborted: false })
	})

	it('the same sweep without a terminal prints one line and no bar', async () => {
		const run = await keyward(['sweep', '--store', store.url, '--namespace', store.namespace])
		expect(run.code).toBe(0)
		expect(run.stdout.split('\n')).toHaveLength(2)
		expect(run.stdout + run.stderr).not.toContain('\x1b')
	})
})

/**
 * Exit codes, usage errors, help texts, unreachable stores and missing drivers, through the built binary.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyward, requireBuiltCli, root, sqliteCase } from './support.js'

beforeAll(requireBuiltCli)

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
	const server = createServer()
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	const { port } = server.address() as { port: number }
	await new Promise((resolve) => server.close(resolve))
	return port
}

describe('usage errors exit 2', () => {
	it.each([
		[[], /Usage: keyward/],
		[['sweap'], /unknown command 'sweap'/],
		[['sweep', '--store', 'sqlite://./x.db', '--retenion', '30d'], /unknown option '--retenion'/],
		[['sweep', '--store', 'sqlite://./x.db', '--retention', '30 days'], /a duration is a whole number and a unit/],
		[['sweep', '--store', 'sqlite://./x.db', '--batch-size', '0'], /a whole number from 1 to 10000/],
		[['sweep'], /no store given: pass --store URL or set KEYWARD_STORE/],
		[['sweep', '--store', 'mysql://app:s3cret@db/app'], /unsupported store mysql:\/\/app:\*\*\*@db\/app/],
		[['issue', '--store', 'sqlite://./x.db'], /required option '--owner <id>' not specified/],
		[['issue', '--store', 'sqlite://./x.db', '--owner', 'u', '--prefix', 'SK'], /2–8 lowercase letters/],
		[['revoke', '--store', 'sqlite://./x.db'], /missing required argument 'id'/],
		[['list', '--store', 'sqlite://./x.db'], /list needs --owner ID, --expiring-within DURATION, or both/],
	])('keyward %j', async (args, message) => {
		const run = await keyward(args)
		expect(run.code).toBe(2)
		expect(run.stderr).toMatch(message)
		expect(run.stdout).toBe('')
		expect(run.stderr).not.toContain('s3cret')
	})

	it('an invalid option value that only the library checks is a usage error too', async () => {
		const store = sqliteCase('cli_usage')
		try {
			await keyward(['issue', '--store', store.url, '--owner', 'u'])
			const run = await keyward(['issue', '--store', store.url, '--owner', 'x'.repeat(300)])
			expect(run.code).toBe(2)
			expect(run.stderr).toMatch(/ownerId.*\[keyward:invalid_option\]/)
		} finally {
			await store.cleanup()
		}
	})
})

describe('--help', () => {
	it.each(['sweep', 'issue', 'revoke', 'rotate', 'list', 'inspect'])(
		'keyward %s --help shows its options and examples',
		async (name) => {
			const run = await keyward([name, '--help'])
			expect(run.code).toBe(0)
			expect(run.stdout).toMatch(new RegExp(`^Usage: keyward ${name} `))
			expect(run.stdout).toContain('--store <url>')
			expect(run.stdout).toContain('KEYWARD_STORE')
			expect(run.stdout).toMatch(new RegExp(`Examples:\\n\\s+\\$ .*keyward ${name}`))
		},
	)

	it('keyward --help lists every command and the exit codes', async () => {
		const run = await keyward(['--help'])
		expect(run.code).toBe(0)
		for (const name of ['sweep', 'issue', 'revoke', 'rotate', 'list', 'inspect'])
			expect(run.stdout).toContain(`  ${name} `)
		expect(run.stdout).toMatch(/Exit codes: 0 done, 1 failed, 2 usage error/)
	})

	it('keyward sweep --help names every sweep option', async () => {
		const run = await keyward(['sweep', '--help'])
		for (const option of ['--retention', '--batch-size', '--dry-run', '--namespace', '--json', '--quiet']) {
			expect(run.stdout).toContain(option)
		}
	})

	it('keyward --version prints the package version', async () => {
		const { version } = (await import('../../package.json', { with: { type: 'json' } })).default
		const run = await keyward(['--version'])
		expect(run).toMatchObject({ code: 0, stdout: `${version}\n` })
	})
})

describe('failures exit 1 with a message that names the store without its password', () => {
	it.each([
		['redis', (port: number) => `redis://admin:s3cret-pw@127.0.0.1:${port}/0`],
		['postgres', (port: number) => `postgres://app:s3cret-pw@127.0.0.1:${port}/app`],
	])('%s on a closed port', async (_name, url) => {
		const port = await closedPort()
		const run = await keyward(['sweep', '--store', url(port)])
		expect(run.code).toBe(1)
		expect(run.stderr).toContain(`${url(port).replace('s3cret-pw', '***')} unavailable`)
		expect(run.stderr).toMatch(/store_unavailable/)
		expect(run.stdout + run.stderr).not.toContain('s3cret')

		const json = await keyward(['sweep', '--store', url(port), '--json'])
		expect(json.code).toBe(1)
		expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'store_unavailable', exitCode: 1 } })
		expect(json.stdout + json.stderr).not.toContain('s3cret')
	})

	it('sqlite://./keys.db is relative to the working directory, and issue creates it', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'keyward-cli-'))
		try {
			const issue = await keyward(['issue', '--owner', 'u', '--store', 'sqlite://./keys.db'], { cwd: dir })
			expect(issue.code, issue.stderr).toBe(0)
			expect(existsSync(join(dir, 'keys.db'))).toBe(true)
			const list = await keyward(['list', '--owner', 'u', '--json'], {
				cwd: dir,
				env: { KEYWARD_STORE: 'sqlite://./keys.db' },
			})
			expect(JSON.parse(list.stdout).keys).toHaveLength(1)
		} finally {
			rmSync(dir, { recursive: true, force: true })
		}
	})

	it('a sqlite file that does not exist (a typo) is not silently created by sweep', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'keyward-cli-'))
		try {
			const run = await keyward(['sweep', '--store', `sqlite://${dir}/typo.db`])
			expect(run.code).toBe(1)
			expect(run.stderr).toMatch(/does not exist/)
		} finally {
			rmSync(dir, { recursive: true, force: true })
		}
	})
})

describe('a missing driver exits 1 and names the package to install', () => {
	// The built files next to only commander (keyward's one runtime dependency for the CLI): no drivers.
	const dir = mkdtempSync(join(tmpdir(), 'keyward-nodrivers-'))
	afterAll(() => rmSync(dir, { recursive: true, force: true }))
	beforeAll(() => {
		requireBuiltCli()
		cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
		writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'keyward', type: 'module' }))
		mkdirSync(join(dir, 'node_modules'))
		symlinkSync(join(root, 'node_modules', 'commander'), join(dir, 'node_modules', 'commander'))
	})

	it.each([
		['redis://127.0.0.1:6379', /the redis store needs @keyv\/redis and keyv .*: run npm install @keyv\/redis keyv/],
		['postgres://root@127.0.0.1:5432/test', /the postgres store needs pg .*: run npm install pg/],
		['sqlite:///tmp/keys.db', /the sqlite store needs @keyv\/sqlite and keyv .*: run npm install @keyv\/sqlite keyv/],
	])('%s', async (url, message) => {
		const run = await keyward(['issue', '--owner', 'u', '--store', url], {
			command: [process.execPath, join(dir, 'dist', 'cli.js')],
			cwd: dir,
		})
		expect(run.code).toBe(1)
		expect(run.stderr).toMatch(message)
	})
})

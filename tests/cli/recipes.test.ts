/**
 * The scheduler recipes that call the CLI, run as written: the crontab line under /bin/sh with a
 * cron-like environment, and the Kubernetes CronJob's command and args. Only the placeholders the
 * files name (paths and the store URL) are substituted.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { binLink, keyward, requireBuiltCli, root, type StoreCase, seed, sqliteCase } from './support.js'

beforeAll(requireBuiltCli)

interface Crontab {
	readonly env: [string, string][]
	readonly schedule: string
	readonly command: string
}

/** Reads a crontab as cron does: `NAME=value` lines, and job lines of five time fields and a command. */
function readCrontab(text: string): Crontab {
	const env: [string, string][] = []
	const jobs: { schedule: string; command: string }[] = []
	for (const line of text.split('\n')) {
		if (line.trim() === '' || line.trimStart().startsWith('#')) continue
		const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
		if (assignment) {
			env.push([assignment[1] as string, assignment[2] as string])
			continue
		}
		const job = /^(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+(.+)$/.exec(line)
		if (!job) throw new Error(`not a crontab line: ${line}`)
		// cron turns an unescaped % into a newline (the rest becomes stdin), and \% into %.
		if (/(^|[^\\])%/.test(job[2] as string)) throw new Error('the command has an unescaped %, which cron would cut')
		jobs.push({ schedule: job[1] as string, command: (job[2] as string).replaceAll('\\%', '%') })
	}
	expect(jobs).toHaveLength(1)
	return { env, ...(jobs[0] as { schedule: string; command: string }) }
}

async function closedPort(): Promise<number> {
	const server = createServer()
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	const { port } = server.address() as { port: number }
	await new Promise((resolve) => server.close(resolve))
	return port
}

describe('examples/schedulers/crontab', () => {
	const crontab = readCrontab(readFileSync(join(root, 'examples/schedulers/crontab'), 'utf8'))
	const link = binLink()
	const dir = mkdtempSync(join(tmpdir(), 'keyward-cron-'))
	const log = join(dir, 'sweep.log')
	const lock = join(dir, 'sweep.lock')
	let store: StoreCase
	beforeAll(() => {
		store = sqliteCase('cli_cron', { defaultNamespace: true })
	})
	afterAll(async () => {
		link.remove()
		rmSync(dir, { recursive: true, force: true })
		await store?.cleanup()
	}, 60_000)

	/** Runs the job line as cron would: /bin/sh -c, a near-empty environment plus the crontab's own variables. */
	function runJob(storeUrl: string): number | null {
		const command = crontab.command
			.replaceAll('/usr/local/bin/keyward', link.bin)
			.replaceAll('/var/lock/keyward-sweep.lock', lock)
			.replaceAll('/var/log/keyward-sweep.log', log)
		const env = crontab.env.map(([name, value]) => `${name}=${value.replaceAll('KEYWARD_STORE_URL', storeUrl)}`)
		const run = spawnSync(
			'env',
			['-i', 'PATH=/usr/bin:/bin', `HOME=${dir}`, 'SHELL=/bin/sh', 'LOGNAME=cron', ...env, '/bin/sh', '-c', command],
			{ encoding: 'utf8', timeout: 60_000 },
		)
		expect(run.stdout + run.stderr, 'cron would mail any output: there must be none').toBe('')
		return run.status
	}
	const logLines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [])

	it('runs every 15 minutes, with flock -n, and calls keyward sweep', () => {
		expect(crontab.schedule).toBe('*/15 * * * *')
		expect(crontab.command).toMatch(/^flock -n /)
		expect(crontab.command).toContain('/usr/local/bin/keyward sweep')
	})

	it('is the line README.md and docs/cli.md show, so the tested line is the one users copy', () => {
		const line = `${crontab.schedule} ${crontab.command}`
		for (const doc of ['README.md', 'docs/cli.md']) {
			const shown = readFileSync(join(root, doc), 'utf8')
				.split('\n')
				.filter((text) => text.includes('keyward sweep') && /^[*\d]/.test(text))
			expect(shown, doc).toEqual([line])
		}
	})

	it('sweeps, and appends exactly one summary line to the log', async () => {
		const { expired } = await seed(store.store, { expired: 5, active: 2 })
		expect(runJob(store.url)).toBe(0)
		const lines = logLines()
		expect(lines).toHaveLength(1)
		expect(lines[0]).toMatch(/^keyward sweep: done expired=5 purged=0 .*aborted=false/)
		for (const id of expired) expect((await store.store.getById(id))?.reason).toBe('expired')
	})

	it('skips a run while the previous one holds the lock, and logs one line saying so', async () => {
		const { expired } = await seed(store.store, { expired: 3 })
		// Its own process group, so that killing the group ends sleep too (it inherits the locked descriptor).
		const holder = spawn('flock', [lock, 'sleep', '60'], { stdio: 'ignore', detached: true })
		const exited = new Promise((resolve) => holder.once('exit', resolve))
		try {
			// Wait until the holder has the lock.
			while (spawnSync('flock', ['-n', lock, 'true']).status === 0) await new Promise((r) => setTimeout(r, 20))
			expect(runJob(store.url)).toBe(0)
		} finally {
			process.kill(-(holder.pid as number), 'SIGKILL')
		}
		const lines = logLines()
		expect(lines).toHaveLength(2)
		expect(lines[1]).toMatch(/^keyward sweep: skipped at \d{4}-\d\d-\d\dT\S+, the previous sweep still runs$/)
		for (const id of expired) expect((await store.store.getById(id))?.blacklistedAt).toBeNull()

		await exited
		expect(runJob(store.url)).toBe(0)
		expect(logLines()[2]).toMatch(/^keyward sweep: done expired=3 /)
	})

	it('logs one error line, without the password, when the store is unreachable', async () => {
		const before = logLines().length
		const url = `redis://:cron-s3cret@127.0.0.1:${await closedPort()}`
		expect(runJob(url)).toBe(0)
		const lines = logLines().slice(before)
		expect(lines).toHaveLength(1)
		expect(lines[0]).toMatch(/^keyward: error: store redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ unavailable: /)
		expect(lines[0]).not.toContain('cron-s3cret')
	})
})

describe('examples/schedulers/k8s-cronjob.yaml', () => {
	const manifest = parse(readFileSync(join(root, 'examples/schedulers/k8s-cronjob.yaml'), 'utf8'))
	const job = manifest.spec.jobTemplate.spec.template.spec
	const container = job.containers[0]
	const link = binLink()
	let store: StoreCase
	beforeAll(() => {
		store = sqliteCase('cli_k8s', { defaultNamespace: true })
	})
	afterAll(async () => {
		link.remove()
		await store?.cleanup()
	}, 60_000)

	it('is a CronJob that never runs two sweeps at once and reads the store URL from a Secret', () => {
		expect(manifest).toMatchObject({ apiVersion: 'batch/v1', kind: 'CronJob' })
		expect(manifest.spec.concurrencyPolicy).toBe('Forbid')
		expect(job.restartPolicy).toBe('Never')
		expect(job.terminationGracePeriodSeconds).toBeGreaterThan(0)
		expect(container.env).toContainEqual({
			name: 'KEYWARD_STORE',
			valueFrom: { secretKeyRef: { name: 'keyward-store', key: 'url' } },
		})
		expect(JSON.stringify(manifest)).not.toMatch(/redis:\/\/|postgres:\/\//)
	})

	it('its command and args run keyward sweep and print one JSON report', async () => {
		const { expired } = await seed(store.store, { expired: 4, active: 1 })
		const [command, ...rest] = (container.command as string[]).map((part) =>
			part.replace('/app/node_modules/.bin/keyward', link.bin),
		)
		// The container's environment: the Secret's value as KEYWARD_STORE, the workingDir as cwd.
		const run = await keyward(container.args as string[], {
			command: [command as string, ...rest],
			cwd: link.dir,
			env: { KEYWARD_STORE: store.url },
		})
		expect(run.code, run.stderr).toBe(0)
		expect(run.stdout.trim().split('\n')).toHaveLength(1)
		expect(JSON.parse(run.stdout)).toMatchObject({ expired: 4, aborted: false, dryRun: false })
		for (const id of expired) expect((await store.store.getById(id))?.reason).toBe('expired')
	})
})

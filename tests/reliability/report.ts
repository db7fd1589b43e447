/**
 * Renders docs/reliability.md from the figures the reliability suite wrote to `.vitest/reliability/`.
 *
 *   npx vitest run tests/reliability     # with REDIS_URL and DATABASE_URL set, as CI runs it
 *   npx tsx tests/reliability/report.ts  # writes docs/reliability.md
 *   npx tsx tests/reliability/report.ts --stdout   # prints it instead (for a CI log)
 *
 * Exits with status 1 when a scenario's figures are missing or record a failure.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIGURES_DIR = join(ROOT, '.vitest', 'reliability')

interface Recorded {
	title: string
	claim: string
	result: 'passed' | 'failed'
	figures: Record<string, unknown>
	machine: { cores: number; cpu: string; node: string }
	date: string
}

/** The scenarios, in the order of issue #7, each with the files it writes and what a reader should know. */
const SCENARIOS: { heading: string; files: string[]; test: string; notes: string[] }[] = [
	{
		heading: 'Concurrent sweeps across processes',
		files: ['concurrent-sweeps-redis', 'concurrent-sweeps-postgres'],
		test: 'tests/reliability/concurrent-sweeps.test.ts',
		notes: [
			'Four worker processes run `sweep()` in a loop; each reports the ids its store\'s `moveExpired` calls answered as moved, so "exactly once" is checked by id, not only by count. A fifth process serves an Express app with `requireApiKey()` on the same store and sends keep-alive requests with the valid keys throughout.',
			'The 10,000 expiring keys are written while the workers already sweep (through `store.insert` on Redis; in bulk SQL on PostgreSQL, where 10,000 single-row inserts take half a minute on a loaded machine), each expiring 1–4 s after it is written. After the run the raw store is read back: every expiring key is blacklisted once with `reason: expired` and `blacklistedAt >= expiresAt`, the valid keys are unchanged field for field, and the record count is whole.',
		],
	},
	{
		heading: 'Killed mid-sweep',
		files: ['killed-sweep-redis', 'killed-sweep-postgres'],
		test: 'tests/reliability/killed-sweep.test.ts',
		notes: [
			'Each round writes 100 expired keys (and 5 that are not) in a namespace of its own, starts a sweeping process (batches of 2, so one sweep is 50 store calls), and SIGKILLs it once it has reported a seeded random number of batches, after a further seeded delay of up to 3 ms; the process keeps sweeping while the signal is on its way, so the kill lands at an arbitrary point of a later batch. A sweep that finished before the signal does not count as a kill. After each kill the raw data is checked (Redis: records, id keys, and the expiry, blacklist and owner sorted sets against each other; PostgreSQL: every row active or blacklisted with its reason), then a new sweep must move exactly the keys still active, and the data is checked again.',
			"PostgreSQL finishes and commits a statement whose client was killed if the statement was already running; the test waits until the killed worker's backends are gone (found by `application_name`) before reading the table. The wait is recorded above.",
		],
	},
	{
		heading: 'Store outage under load',
		files: ['store-outage-redis', 'store-outage-postgres'],
		test: 'tests/reliability/store-outage.test.ts',
		notes: [
			'Redis: a private redis-server on a free loopback port, with its data in a temporary directory, is stopped with `SHUTDOWN SAVE` and later with SIGTERM, and started again on the same port with the same data; then it is frozen with SIGSTOP (its connections stay open and nothing answers, so only the store timeout can end a call) and resumed with SIGCONT. Requests sent after the server went away (or froze) and answered before it was being started (or resumed) must all be 503 (no store could have checked them). The app is never restarted.',
			"PostgreSQL: the store's own connections, and only those (the test's connection string sets a unique `application_name`), are terminated with `pg_terminate_backend` 8 times, 300 ms apart, under load.",
			"An answer is correct when it is the key's own answer (200 for a valid key, 401 with its code otherwise) or 503 `store_unavailable` with `Retry-After`; a malformed key must always get its 401, since it needs no store. Memory is sampled every 100 ms.",
		],
	},
	{
		heading: 'Hostile input',
		files: ['hostile-input'],
		test: 'tests/reliability/hostile-input.test.ts',
		notes: [
			"Beyond `tests/http/hostile-input.test.ts` (the header grammar over raw sockets, about 6,600 requests): any JavaScript value, random bytes, right-length random strings, Cyrillic/Greek/fullwidth look-alikes, zero-width and combining characters, transpositions, keys with a valid checksum on a body no one issued, and valid checksums under other prefixes. Over HTTP: the same candidates in `Authorization: Bearer` or `X-API-Key`, with up to 400 extra header lines (heads past Node's 16 KB limit get 431).",
			"The model is written without keyward's parser (its checksum is `zlib.crc32`). A store wrapper records every `getByHash` argument: a well-formed key causes exactly one read, of its SHA-256; a malformed one none.",
		],
	},
	{
		heading: 'Secrets at rest and in logs',
		files: ['secrets'],
		test: 'tests/reliability/secrets.test.ts',
		notes: [
			"Checked pieces per key: the key, its body, its secret part (everything after the 4 characters the non-secret `hint` shows), its base64 and hex forms, and every 10-character substring of the secret part. The store dump is checked to hold every record's hash, so an empty dump cannot pass.",
			'Error paths include a plaintext key passed where a record id belongs (`revoke(key)`, `rotate(key)`, `get(key)`): keyward withholds key-shaped ids from its messages.',
		],
	},
	{
		heading: 'Clock and expiry boundaries',
		files: ['clock-boundaries'],
		test: 'tests/reliability/clock-boundaries.test.ts',
		notes: [
			'An `expiresAt` at or before the instant of issue is **refused** with `invalid_option` (so is `expiresIn: 0`); nothing is stored. A key is expired at exactly its `expiresAt` (`now >= expiresAt`) and valid 1 ms before; a sweep at that instant moves it, a sweep 1 ms before does not.',
			'Found and fixed here: `postgresStore` sent instants as `toISOString()` text, which writes years after 9999 as `+275760-…` and years before 1 as `-000001-…`; PostgreSQL refuses both, so issuing a key expiring at the largest `Date`, or sweeping at such an instant, failed with `store_unavailable`.',
			"Also found and fixed: a duration that carries an instant past the largest `Date` (`expiresIn`, a rotation grace period, a rotated key's lifetime) made an Invalid Date that reached the store (the memory store kept it; Redis and PostgreSQL failed with `store_unavailable`). `expiresIn` is now refused with `invalid_option`; grace periods and lifetimes stop at the largest `Date`; a sweep `retention` reaching before the earliest instant purges nothing (PostgreSQL failed on bounds before 4714 BC).",
		],
	},
	{
		heading: 'Timing of unknown keys',
		files: ['timing'],
		test: 'tests/reliability/timing.test.ts',
		notes: [
			'Groups of 64 keys with valid checksums share 0, 8, 16 or 25 (all but one) leading body characters with a real key. Every round the groups take turns in a shuffled order, each timing 16 `verify()` calls; the medians are compared with a generous bound (slowest at most twice the fastest) so a loaded machine cannot flake it. The structural guarantee is asserted exactly: the store receives the SHA-256 of each key, never the key.',
		],
	},
]

function label(name: string): string {
	if (name.includes(' ')) return name // already words, such as a test's name
	return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
}

function value(v: unknown): string {
	if (Array.isArray(v)) {
		return v.every((x) => typeof x !== 'object' || x === null) ? v.join(', ') : v.map((x) => `(${value(x)})`).join('; ')
	}
	if (typeof v === 'object' && v !== null) {
		return Object.entries(v)
			.map(([k, x]) => `${label(k)}: ${typeof x === 'object' && x !== null ? `{ ${value(x)} }` : String(x)}`)
			.join(', ')
	}
	if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : String(v)
	return String(v)
}

const cell = (v: unknown) => value(v).replace(/\|/g, '\\|')
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Figures as a two-column table; a figure that is an object of objects (per store, per case) gets a grid of its own. */
function table(figures: Record<string, unknown>): string {
	const grids: string[] = []
	const rows: string[] = []
	for (const [k, v] of Object.entries(figures)) {
		const inner = isObject(v) ? Object.values(v) : []
		if (inner.length > 0 && inner.every(isObject)) grids.push(grid(k, v as Record<string, Record<string, unknown>>))
		else rows.push(`| ${label(k)} | ${cell(v)} |`)
	}
	return [['| figure | value |', '| --- | --- |', ...rows].join('\n'), ...grids].join('\n\n')
}

/** An object of objects as a grid: the side with more names becomes the rows. */
function grid(name: string, data: Record<string, Record<string, unknown>>): string {
	const outer = Object.keys(data)
	const inner = [...new Set(Object.values(data).flatMap((o) => Object.keys(o)))]
	const transpose = inner.length > outer.length
	const [rowNames, columnNames] = transpose ? [inner, outer] : [outer, inner]
	const at = (row: string, column: string) => (transpose ? data[column]?.[row] : data[row]?.[column])
	return [
		`| ${label(name)} | ${columnNames.map(label).join(' | ')} |`,
		`| --- | ${columnNames.map(() => '---').join(' | ')} |`,
		...rowNames.map(
			(row) => `| ${label(row)} | ${columnNames.map((column) => cell(at(row, column) ?? '')).join(' | ')} |`,
		),
	].join('\n')
}

function render(): { markdown: string; ok: boolean } {
	const recorded = new Map<string, Recorded>()
	for (const scenario of SCENARIOS) {
		for (const file of scenario.files) {
			const path = join(FIGURES_DIR, `${file}.json`)
			if (existsSync(path)) recorded.set(file, JSON.parse(readFileSync(path, 'utf8')) as Recorded)
		}
	}
	const all = [...recorded.values()]
	const latest = all
		.map((r) => r.date)
		.sort()
		.at(-1)
	const machine = all[0]?.machine
	let ok = true
	const out: string[] = [
		'# Reliability and security',
		'',
		'<!-- Generated by `npx tsx tests/reliability/report.ts` from the figures `npx vitest run tests/reliability` writes to .vitest/reliability/. Do not edit by hand. -->',
		'',
		'What the reliability suite (`tests/reliability/`, part of `npm test`) proves under faults, load, concurrency and hostile input, with the figures it measured on its last run. Every scenario is a test that asserts; the figures below are what those tests recorded, not targets.',
		'',
		`- **Run**: ${latest ?? 'never'}`,
		`- **Machine**: ${machine ? `${machine.cores} cores (${machine.cpu}), Node ${machine.node}` : 'unknown'}`,
		'- **Servers**: Redis and PostgreSQL from `REDIS_URL` and `DATABASE_URL`; the Redis outage uses a private redis-server the test starts and stops on loopback.',
		'- **Reproduce**: `REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://root@127.0.0.1:5432/test npx vitest run tests/reliability && npx tsx tests/reliability/report.ts`',
		'',
		'| scenario | result |',
		'| --- | --- |',
	]
	for (const scenario of SCENARIOS) {
		const results = scenario.files.map((file) => recorded.get(file)?.result ?? 'not run')
		const result = results.every((r) => r === 'passed') ? 'passed' : results.join(' / ')
		if (result !== 'passed') ok = false
		out.push(`| [${scenario.heading}](#${scenario.heading.toLowerCase().replace(/ /g, '-')}) | ${result} |`)
	}
	for (const scenario of SCENARIOS) {
		out.push('', `## ${scenario.heading}`, '', `Test: \`${scenario.test}\``, '')
		for (const file of scenario.files) {
			const r = recorded.get(file)
			if (!r) {
				out.push(`### ${file}`, '', '**Not run**: no figures were recorded.', '')
				continue
			}
			if (scenario.files.length > 1) out.push(`### ${r.title}`, '')
			out.push(`**Result: ${r.result}.** ${r.claim}`, '', table(r.figures), '')
		}
		for (const note of scenario.notes) out.push(note, '')
	}
	out.push(
		'',
		'## Also in the suite',
		'',
		'`tests/reliability/rotate-failure.test.ts`: a store that fails between the two writes of `rotate()` (on memory, Redis and PostgreSQL, the failure injected into `update`) makes it reject with `store_unavailable`, leave the old key as it was, and revoke the successor it had inserted, so no usable key exists that nobody was given. Before the fix the successor stayed active.',
	)
	return {
		markdown: `${out
			.join('\n')
			.replace(/\n{3,}/g, '\n\n')
			.trimEnd()}\n`,
		ok,
	}
}

const { markdown, ok } = render()
if (process.argv.includes('--stdout')) process.stdout.write(markdown)
else writeFileSync(join(ROOT, 'docs', 'reliability.md'), markdown)
if (!ok) {
	process.stderr.write('reliability report: some scenarios are missing or failed (see the summary table)\n')
	process.exitCode = 1
}

/**
 * What every `keyward` command shares: where it writes, the options that name a store, value
 * parsers that turn bad input into usage errors (exit 2), and how records are shown.
 */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { parseDuration } from '../src/duration.js'
import { isKeywardError } from '../src/errors.js'
import type { KeyRecord } from '../src/record.js'
import { CliError, EXIT } from './errors.js'
import { type OpenStore, openStore, parseStoreUrl, type StoreTarget } from './store-url.js'

/** A writable text stream: `process.stdout`, or a buffer in tests. */
export interface Output {
	write(text: string): unknown
	readonly isTTY?: boolean | undefined
	readonly columns?: number | undefined
}

/** Where a command reads and writes, and the state it reports back. */
export interface CliContext {
	readonly stdout: Output
	readonly stderr: Output
	readonly stdin: NodeJS.ReadableStream
	/** The exit code the command chose (0 unless it set another). */
	exitCode: number
	/** The store URL in use, once known: failure messages are scrubbed of its secrets. */
	storeUrl?: string
	/** `true` when the running command was given `--json`: failures are then also one JSON object on stdout. */
	json: boolean
}

/** The options of every command that opens a store. */
export interface StoreOptions {
	store?: string
	namespace?: string
	table?: string
	schema?: string
	json?: boolean
}

/**
 * Adds `--store` (or `KEYWARD_STORE`), `--namespace` (or `KEYWARD_NAMESPACE`), `--table` and `--schema`
 * (or `KEYWARD_TABLE`, `KEYWARD_SCHEMA`), and `--json` to a command.
 * @param command - the command
 * @returns the command
 * @example
 * ```ts
 * storeOptions(program.command('list')).action((options: StoreOptions) => …)
 * ```
 */
export function storeOptions(command: Command): Command {
	return command
		.addOption(
			new Option('--store <url>', 'the key store: redis://…, rediss://…, postgres://…, sqlite://./keys.db').env(
				'KEYWARD_STORE',
			),
		)
		.addOption(
			new Option(
				'--namespace <name>',
				"the store's namespace, as the app configures it (default: keyward; default on PostgreSQL)",
			).env('KEYWARD_NAMESPACE'),
		)
		.addOption(
			new Option(
				'--table <name>',
				"PostgreSQL: the store's table (default: keyward_keys); sqlite: the keyv table (default: keyv)",
			).env('KEYWARD_TABLE'),
		)
		.addOption(new Option('--schema <name>', "PostgreSQL: the table's schema (default: public)").env('KEYWARD_SCHEMA'))
		.option('--json', 'print one JSON object on stdout instead of text')
}

/**
 * Adds `--prefix` (or `KEYWARD_PREFIX`) to a command; a value that is not 2–8 lowercase letters is a usage error.
 * @param command - the command
 * @param what - what the prefix is for, for the help text
 * @returns the command
 * @example
 * ```ts
 * prefixOption(storeOptions(program.command('issue')), 'the prefix of the new key')
 * ```
 */
export function prefixOption(command: Command, what: string): Command {
	return command.addOption(
		new Option('--prefix <prefix>', `${what} (2–8 lowercase letters; default: kw)`)
			.env('KEYWARD_PREFIX')
			.argParser((value: string) => {
				if (!/^[a-z]{2,8}$/.test(value)) throw new InvalidArgumentError('a prefix is 2–8 lowercase letters, such as sk')
				return value
			}),
	)
}

/**
 * A commander value parser for durations (`'90d'`, `'12h'`, or digits for milliseconds).
 * @param name - the option's name in keyward (`retention`, `within`…)
 * @returns a parser answering the duration as keyward takes it; it throws commander's `InvalidArgumentError` (exit 2)
 * @example
 * ```ts
 * command.option('--retention <duration>', 'purge older entries', durationArg('retention'))
 * ```
 */
export function durationArg(name: string): (value: string) => string | number {
	return (value: string) => {
		const parsed: string | number = /^\d+$/.test(value) ? Number(value) : value
		try {
			parseDuration(parsed, name)
		} catch (error) {
			if (isKeywardError(error)) {
				throw new InvalidArgumentError(
					"a duration is a whole number and a unit: '500ms', '45s', '15m', '12h', '30d', '2w'",
				)
			}
			throw error
		}
		return parsed
	}
}

/**
 * A commander value parser for whole numbers from `min` to `max`.
 * @param min - the smallest value accepted
 * @param max - the largest value accepted
 * @returns a parser answering the number; it throws commander's `InvalidArgumentError` (exit 2)
 * @example
 * ```ts
 * command.option('--batch-size <n>', 'records per store call', wholeArg(1, 10_000))
 * ```
 */
export function wholeArg(min: number, max: number): (value: string) => number {
	return (value: string) => {
		const n = Number(value)
		if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
			throw new InvalidArgumentError(`a whole number from ${min} to ${max}`)
		}
		return n
	}
}

/**
 * Opens the store named by `--store`/`KEYWARD_STORE`, runs `work`, and always closes the store.
 * @param context - the command's context (records the URL, so failures can be scrubbed)
 * @param options - the command's store options
 * @param work - what to do with the open store
 * @param mustExist - refuse a sqlite file, or a PostgreSQL table, that does not exist yet (every command but `issue`)
 * @returns what `work` answers
 * @throws CliError (exit 2) for a missing or unsupported URL, (exit 1) for a missing driver or sqlite file;
 *   whatever `work` throws, such as KeywardError `store_unavailable`
 * @example
 * ```ts
 * await withStore(context, options, async ({ store }) => createKeyward({ store }).revoke(id))
 * ```
 */
export async function withStore<T>(
	context: CliContext,
	options: StoreOptions,
	work: (open: OpenStore) => Promise<T>,
	mustExist = true,
): Promise<T> {
	const target = parseStoreUrl(options.store)
	context.storeUrl = target.url
	const open = await openStore(target, {
		namespace: options.namespace,
		table: options.table,
		schema: options.schema,
		mustExist,
	})
	try {
		return await work(open)
	} catch (error) {
		throw missingTable(error, target, options) ?? error
	} finally {
		await open.close()
	}
}

/** PostgreSQL's "relation does not exist": the table a command was pointed at has never been created. */
const UNDEFINED_TABLE = '42P01'

/** A clear error for a PostgreSQL table that does not exist (a typo in `--table` or `--schema`), or `undefined`. */
function missingTable(error: unknown, target: StoreTarget, options: StoreOptions): CliError | undefined {
	if (target.kind !== 'postgres') return undefined
	let cause: unknown = error
	for (let depth = 0; depth < 4 && cause instanceof Error; depth++, cause = cause.cause) {
		if ((cause as { code?: unknown }).code !== UNDEFINED_TABLE) continue
		const name = `${options.schema ?? 'public'}.${options.table ?? 'keyward_keys'}`
		return new CliError(
			EXIT.failed,
			`the table ${name} does not exist in ${target.redacted}: check --table and --schema (KEYWARD_TABLE, KEYWARD_SCHEMA), or create it with keyward issue, or with the app's postgresStore() (it creates its table on first use, or with migrate())`,
		)
	}
	return undefined
}

/**
 * The status of a record at an instant.
 * @param record - any record
 * @param now - the instant
 * @returns `active`, `expired` (past its expiry, swept or not) or `revoked`
 * @example
 * ```ts
 * statusOf(record, new Date()) // 'active'
 * ```
 */
export function statusOf(record: KeyRecord, now: Date): 'active' | 'expired' | 'revoked' {
	if (record.reason !== null) return record.reason
	return record.expiresAt !== null && now.getTime() >= record.expiresAt.getTime() ? 'expired' : 'active'
}

/**
 * A record as the command line shows it in `--json`: every field but the hash, instants as ISO strings,
 * plus its {@link statusOf | status}.
 * @param record - the record
 * @param now - the instant its status is judged at
 * @returns plain JSON data
 * @example
 * ```ts
 * writeJson(context.stdout, { keys: records.map((record) => recordView(record, now)) })
 * ```
 */
export function recordView(record: KeyRecord, now: Date): Record<string, unknown> {
	const iso = (date: Date | null) => (date === null ? null : date.toISOString())
	return {
		id: record.id,
		hint: record.hint,
		prefix: record.prefix,
		ownerId: record.ownerId,
		name: record.name,
		status: statusOf(record, now),
		createdAt: iso(record.createdAt),
		expiresAt: iso(record.expiresAt),
		scopes: [...record.scopes],
		metadata: record.metadata,
		lastUsedAt: iso(record.lastUsedAt),
		replacedBy: record.replacedBy,
		blacklistedAt: iso(record.blacklistedAt),
		reason: record.reason,
		note: record.note,
	}
}

/**
 * Lines of `label value`, aligned, for a record shown as text (never its hash).
 * @param record - the record
 * @param now - the instant its status is judged at
 * @returns the lines, each ending with a newline
 * @example
 * ```ts
 * context.stdout.write(recordLines(record, new Date()))
 * ```
 */
export function recordLines(record: KeyRecord, now: Date): string {
	const iso = (date: Date | null, none: string) => (date === null ? none : date.toISOString())
	const rows: [string, string][] = [
		['id', record.id],
		['hint', `${record.hint}…`],
		['owner', record.ownerId],
		['name', record.name === '' ? '-' : record.name],
		['status', statusOf(record, now)],
		['scopes', record.scopes.length === 0 ? '-' : record.scopes.join(' ')],
		['created', record.createdAt.toISOString()],
		['expires', iso(record.expiresAt, 'never')],
	]
	if (record.blacklistedAt !== null)
		rows.push(['blacklisted', `${record.blacklistedAt.toISOString()} (${record.reason})`])
	if (record.note !== null) rows.push(['note', record.note])
	if (record.replacedBy !== null) rows.push(['replaced by', record.replacedBy])
	return table(rows)
}

/**
 * Aligns rows of cells into columns (no trailing spaces).
 * @param rows - the rows, a header first if wanted
 * @returns the table, each line ending with a newline
 * @example
 * ```ts
 * table([['ID', 'OWNER'], [record.id, record.ownerId]])
 * ```
 */
export function table(rows: readonly (readonly string[])[]): string {
	const widths: number[] = []
	for (const row of rows) {
		for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
	}
	return rows
		.map((row) =>
			row
				.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
				.join('  ')
				.trimEnd(),
		)
		.join('\n')
		.concat('\n')
}

/**
 * Writes one JSON object on one line.
 * @param out - where to write
 * @param value - the object
 * @example
 * ```ts
 * writeJson(context.stdout, { status: 'valid', record: null })
 * ```
 */
export function writeJson(out: Output, value: unknown): void {
	out.write(`${JSON.stringify(value)}\n`)
}

/**
 * Adds an `Examples:` block to a command's help.
 * @param command - the command
 * @param lines - command lines, shown after `$ `
 * @returns the command
 * @example
 * ```ts
 * examples(command, ['keyward sweep --store redis://127.0.0.1:6379'])
 * ```
 */
export function examples(command: Command, lines: readonly string[]): Command {
	return command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`)
}

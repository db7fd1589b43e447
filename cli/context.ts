/**
 * What every `keyward` command shares: where it writes, the options that name a store, value
 * parsers that turn bad input into usage errors (exit 2), and how records are shown.
 */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { parseDuration } from '../src/duration.js'
import { isKeywardError } from '../src/errors.js'
import type { KeyRecord } from '../src/record.js'
import { type OpenStore, openStore, parseStoreUrl } from './store-url.js'

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
	json?: boolean
}

/**
 * Adds `--store` (or `KEYWARD_STORE`), `--namespace` (or `KEYWARD_NAMESPACE`) and `--json` to a command.
 * @param command - the command
 * @returns the command
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
		.option('--json', 'print one JSON object on stdout instead of text')
}

/** Adds `--prefix` (or `KEYWARD_PREFIX`) to a command. */
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

/** A commander value parser for durations (`'90d'`, `'12h'`, milliseconds). */
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

/** A commander value parser for whole numbers from `min` to `max`. */
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
 * @param mustExist - for sqlite: refuse a file that does not exist yet
 */
export async function withStore<T>(
	context: CliContext,
	options: StoreOptions,
	work: (open: OpenStore) => Promise<T>,
	mustExist = true,
): Promise<T> {
	const target = parseStoreUrl(options.store)
	context.storeUrl = target.url
	const open = await openStore(target, { namespace: options.namespace, mustExist })
	try {
		return await work(open)
	} finally {
		await open.close()
	}
}

/** The status of a record at an instant: `active`, `expired` (not yet swept, or swept) or `revoked`. */
export function statusOf(record: KeyRecord, now: Date): 'active' | 'expired' | 'revoked' {
	if (record.reason !== null) return record.reason
	return record.expiresAt !== null && now.getTime() >= record.expiresAt.getTime() ? 'expired' : 'active'
}

/** A record as the command line shows it in `--json`: every field but the hash, instants as ISO strings. */
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

/** Lines of `label value`, aligned, for a record shown as text. */
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

/** Aligns rows of cells into columns (no trailing spaces). */
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

/** Writes one JSON object on one line. */
export function writeJson(out: Output, value: unknown): void {
	out.write(`${JSON.stringify(value)}\n`)
}

/** Adds an `Examples:` block to a command's help. */
export function examples(command: Command, lines: readonly string[]): Command {
	return command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`)
}

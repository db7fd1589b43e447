import type { Command } from 'commander'
import { createKeyward } from '../../src/keyward.js'
import type { VerifyResult } from '../../src/verify.js'
import {
	type CliContext,
	examples,
	prefixOption,
	recordLines,
	recordView,
	type StoreOptions,
	storeOptions,
	withStore,
	writeJson,
} from '../context.js'

interface InspectCommandOptions extends StoreOptions {
	prefix?: string
}

/**
 * Adds `keyward inspect KEY`: what keyward answers for a key, without printing the key.
 *
 * @param program - the root command
 * @param context - where the command writes and reads (`-` reads the key from stdin)
 * @returns the `inspect` command
 * @example
 * ```sh
 * printf '%s' "$KEY" | keyward inspect -
 * ```
 */
export function inspectCommand(program: Command, context: CliContext): Command {
	const command = prefixOption(
		storeOptions(
			program
				.command('inspect')
				.summary('show the status of a key without printing it')
				.description(
					'Verifies a key as the app would and shows its status (valid, malformed_key, unknown_key, ' +
						'expired_key, revoked_key) and its record: id, hint, owner, scopes, expiry. The key itself is ' +
						'never printed. Pass - to read the key from stdin, which keeps it out of shell history and ps. ' +
						'Exit 0 whatever the status: read it from the output (status in --json).',
				)
				.argument('<key>', 'the key, or - to read it from stdin'),
		),
		"the keys' prefix (default: read from the key)",
	).action((key: string, options: InspectCommandOptions) => runInspect(context, key, options))
	return examples(command, [
		'printf %s "$KEY" | keyward inspect - --store redis://127.0.0.1:6379',
		'keyward inspect "$KEY" --json',
	])
}

async function runInspect(context: CliContext, input: string, options: InspectCommandOptions): Promise<void> {
	const key = input === '-' ? (await readAll(context.stdin)).trim() : input
	const inferred = /^([a-z]{2,8})_/.exec(key)?.[1]
	const prefix = options.prefix ?? inferred
	await withStore(context, options, async ({ store }) => {
		const keyward = createKeyward({ store, ...(prefix !== undefined && { prefix }) })
		const now = new Date()
		const result = await keyward.verify(key, { now })
		const status = result.ok ? 'valid' : result.code
		const record = 'record' in result ? result.record : null
		if (options.json) {
			writeJson(context.stdout, { status, record: record === null ? null : recordView(record, now) })
			return
		}
		context.stdout.write(`${status}: ${explain(result)}\n`)
		if (record !== null) context.stdout.write(recordLines(record, now))
	})
}

function explain(result: VerifyResult): string {
	if (result.ok) return 'the key is accepted now'
	switch (result.code) {
		case 'missing_key':
			return 'no key was given'
		case 'malformed_key':
			return 'not a key of this prefix (wrong prefix, length, characters or checksum); nothing was looked up'
		case 'unknown_key':
			return 'well formed, but not in this store and namespace (never issued here, or purged)'
		case 'expired_key':
			return `the key expired at ${result.expiredAt.toISOString()}`
		case 'revoked_key':
			return `the key was revoked at ${result.record.blacklistedAt?.toISOString()}`
	}
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
	let text = ''
	for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
	return text
}

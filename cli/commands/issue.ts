import type { Command } from 'commander'
import type { Duration } from '../../src/duration.js'
import type { IssuedKey } from '../../src/issue.js'
import { createKeyward } from '../../src/keyward.js'
import {
	type CliContext,
	durationArg,
	examples,
	prefixOption,
	recordView,
	type StoreOptions,
	storeOptions,
	withStore,
	writeJson,
} from '../context.js'

interface IssueCommandOptions extends StoreOptions {
	owner: string
	name?: string
	expiresIn?: Duration
	scope: string[]
	prefix?: string
}

/**
 * Adds `keyward issue`: issues a key and prints its plaintext, once.
 *
 * @param program - the root command
 * @param context - where the command writes
 * @returns the `issue` command
 * @example
 * ```sh
 * keyward issue --owner user_42 --name "CI deploy" --expires-in 90d --scope deploy
 * ```
 */
export function issueCommand(program: Command, context: CliContext): Command {
	const command = prefixOption(
		storeOptions(
			program
				.command('issue')
				.summary('issue a new key and print it once')
				.description(
					'Issues a key and prints its plaintext on stdout, alone on its line, so KEY=$(keyward issue …) works. ' +
						'The key is shown only this once (only its hash is stored); details and a warning go to stderr. ' +
						'With --json, stdout holds { "key": …, "record": … }. A sqlite file is created if it does not exist.',
				)
				.requiredOption('--owner <id>', "the owner's id in your app (a user, an organisation)")
				.option('--name <label>', 'a label shown to the owner')
				.option(
					'--expires-in <duration>',
					'lifetime, such as 30d or 12h (default: never expires)',
					durationArg('expiresIn'),
				)
				.option(
					'--scope <scope>',
					'a scope the key grants; repeat for several',
					(value: string, all: string[]) => [...all, value],
					[],
				),
		),
		'the prefix of the new key',
	).action((options: IssueCommandOptions) => runIssue(context, options))
	return examples(command, [
		'keyward issue --store redis://127.0.0.1:6379 --owner user_42 --expires-in 90d --scope orders:read',
		'KEY=$(keyward issue --owner ci --name "deploy bot" --prefix sk)',
		'keyward issue --owner user_42 --json | jq -r .key',
	])
}

async function runIssue(context: CliContext, options: IssueCommandOptions): Promise<void> {
	await withStore(
		context,
		options,
		async ({ store }) => {
			const keyward = createKeyward({ store, ...(options.prefix !== undefined && { prefix: options.prefix }) })
			const issued = await keyward.issue({
				ownerId: options.owner,
				...(options.name !== undefined && { name: options.name }),
				...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
				scopes: options.scope,
			})
			printIssued(context, issued, options.json === true, `Issued key ${issued.record.id}`)
		},
		false,
	)
}

/**
 * Prints a new key once: the plaintext (or `{ key, record }`) on stdout, details and the warning on stderr.
 * @internal
 */
export function printIssued(context: CliContext, issued: IssuedKey, json: boolean, headline: string): void {
	const { key, record } = issued
	const now = new Date()
	if (json) writeJson(context.stdout, { key, record: recordView(record, now) })
	else context.stdout.write(`${key}\n`)
	const expires = record.expiresAt === null ? 'never expires' : `expires ${record.expiresAt.toISOString()}`
	context.stderr.write(
		`${headline} (${record.hint}…) for owner ${record.ownerId}; it ${expires}.\n` +
			'This is the only time the key is shown: store it now, it cannot be shown again.\n',
	)
}

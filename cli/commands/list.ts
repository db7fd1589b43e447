import type { Command } from 'commander'
import { type Duration, parseDuration } from '../../src/duration.js'
import { laterBy } from '../../src/issue.js'
import { createKeyward } from '../../src/keyward.js'
import type { KeyRecord } from '../../src/record.js'
import {
	type CliContext,
	durationArg,
	examples,
	recordView,
	type StoreOptions,
	statusOf,
	storeOptions,
	table,
	wholeArg,
	withStore,
	writeJson,
} from '../context.js'
import { CliError, EXIT } from '../errors.js'

interface ListCommandOptions extends StoreOptions {
	owner?: string
	expiringWithin?: Duration
	all?: boolean
	limit?: number
}

/**
 * Adds `keyward list`: an owner's keys, or the keys that expire soon.
 *
 * @param program - the root command
 * @param context - where the command writes
 * @returns the `list` command
 * @example
 * ```sh
 * keyward list --owner user_42
 * keyward list --expiring-within 7d --json
 * ```
 */
export function listCommand(program: Command, context: CliContext): Command {
	const command = storeOptions(
		program
			.command('list')
			.summary("list an owner's keys, or the keys expiring soon")
			.description(
				"With --owner: that owner's active keys, oldest first (--all adds revoked and swept ones).\n" +
					'With --expiring-within: active keys whose expiry falls within that window from now, soonest first' +
					"(with --owner too: only that owner's). Keys themselves are never shown: only ids and hints.",
			)
			.option('--owner <id>', "the owner's id")
			.option(
				'--expiring-within <duration>',
				'only keys that expire within this window, such as 7d',
				durationArg('within'),
			)
			.option('--all', 'with --owner: include revoked and expired-and-swept keys')
			.option('--limit <n>', 'with --expiring-within: at most this many keys (default: 1000)', wholeArg(1, 100_000)),
	).action((options: ListCommandOptions) => runList(context, options))
	return examples(command, [
		'keyward list --owner user_42',
		'keyward list --owner user_42 --all --json',
		'keyward list --expiring-within 7d',
	])
}

async function runList(context: CliContext, options: ListCommandOptions): Promise<void> {
	if (options.owner === undefined && options.expiringWithin === undefined) {
		throw new CliError(EXIT.usage, 'list needs --owner ID, --expiring-within DURATION, or both')
	}
	if (options.all && options.owner === undefined) throw new CliError(EXIT.usage, '--all needs --owner')
	await withStore(context, options, async ({ store }) => {
		const keyward = createKeyward({ store })
		const now = new Date()
		let records: KeyRecord[]
		const limit = options.limit ?? 1000
		if (options.expiringWithin !== undefined && options.owner !== undefined) {
			// One owner's keys are few: read them all and keep those in the window, so other owners'
			// keys that expire sooner never crowd this owner's out of the limit.
			const until = laterBy(now, parseDuration(options.expiringWithin, 'within')).getTime()
			const own = await keyward.list({ ownerId: options.owner, includeBlacklisted: false })
			records = own
				.filter(({ expiresAt }) => expiresAt !== null && expiresAt > now && expiresAt.getTime() <= until)
				.sort((a, b) => (a.expiresAt as Date).getTime() - (b.expiresAt as Date).getTime())
				.slice(0, limit)
		} else if (options.expiringWithin !== undefined) {
			records = await keyward.expiring({ within: options.expiringWithin, now, limit })
		} else {
			records = await keyward.list({ ownerId: options.owner as string, includeBlacklisted: options.all === true })
		}
		if (options.json) {
			writeJson(context.stdout, { keys: records.map((record) => recordView(record, now)) })
			return
		}
		if (records.length === 0) {
			context.stdout.write('No keys.\n')
			return
		}
		const rows = records.map((r) => [
			r.id,
			`${r.hint}…`,
			r.ownerId,
			statusOf(r, now),
			r.expiresAt?.toISOString() ?? 'never',
			r.name,
		])
		context.stdout.write(table([['ID', 'HINT', 'OWNER', 'STATUS', 'EXPIRES', 'NAME'], ...rows]))
	})
}

import type { Command } from 'commander'
import { createKeyward } from '../../src/keyward.js'
import {
	type CliContext,
	examples,
	recordView,
	type StoreOptions,
	storeOptions,
	withStore,
	writeJson,
} from '../context.js'

interface RevokeCommandOptions extends StoreOptions {
	note?: string
}

/**
 * Adds `keyward revoke ID`: moves a key to the blacklist with reason `revoked`.
 *
 * @param program - the root command
 * @param context - where the command writes
 * @returns the `revoke` command
 * @example
 * ```sh
 * keyward revoke 0b6f3c1e-… --note "leaked in a build log"
 * ```
 */
export function revokeCommand(program: Command, context: CliContext): Command {
	const command = storeOptions(
		program
			.command('revoke')
			.summary('revoke a key by id')
			.description(
				'Moves the key to the blacklist with reason "revoked": from now on it answers revoked_key. ' +
					'Revoking a key that is already blacklisted changes nothing and succeeds. Exit 3 when no key has this id.',
			)
			.argument('<id>', 'the key id (from issue, list or inspect; never the key itself)')
			.option('--note <text>', 'kept on the record for audit: who revoked it and why'),
	).action((id: string, options: RevokeCommandOptions) => runRevoke(context, id, options))
	return examples(command, [
		'keyward revoke 0b6f3c1e-4f5a-4d1b-9a51-4b8a1c2d3e4f --note "leaked in a build log"',
		'keyward revoke "$ID" --store postgres://app@db/app --json',
	])
}

async function runRevoke(context: CliContext, id: string, options: RevokeCommandOptions): Promise<void> {
	await withStore(context, options, async ({ store }) => {
		const keyward = createKeyward({ store })
		const before = await keyward.get(id)
		const record = await keyward.revoke(id, options.note !== undefined ? { note: options.note } : {})
		const now = new Date()
		if (options.json) {
			writeJson(context.stdout, { revoked: before?.blacklistedAt === null, record: recordView(record, now) })
		} else if (before !== null && before.blacklistedAt !== null) {
			context.stdout.write(
				`Key ${record.id} (${record.hint}…) was already blacklisted (${record.reason}) at ${record.blacklistedAt.toISOString()}; nothing changed.\n`,
			)
		} else {
			context.stdout.write(`Revoked key ${record.id} (${record.hint}…) of owner ${record.ownerId}.\n`)
		}
	})
}

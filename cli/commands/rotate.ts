import type { Command } from 'commander'
import type { Duration } from '../../src/duration.js'
import { KeywardError } from '../../src/errors.js'
import { createKeyward } from '../../src/keyward.js'
import { type CliContext, durationArg, examples, type StoreOptions, storeOptions, withStore } from '../context.js'
import { printIssued } from './issue.js'

interface RotateCommandOptions extends StoreOptions {
	grace?: Duration
	expiresIn?: Duration
}

/**
 * Adds `keyward rotate ID`: issues a replacement key; the old one works until the grace period ends.
 *
 * @param program - the root command
 * @param context - where the command writes
 * @returns the `rotate` command
 * @example
 * ```sh
 * keyward rotate 0b6f3c1e-… --grace 24h
 * ```
 */
export function rotateCommand(program: Command, context: CliContext): Command {
	const command = storeOptions(
		program
			.command('rotate')
			.summary('replace a key, keeping the old one for a grace period')
			.description(
				'Issues a replacement with the same owner, name, scopes and prefix, and prints it once like issue. ' +
					'The old key keeps working until the grace period ends (default: it stops at once). ' +
					'Exit 3 when no key has this id, 4 when the key is revoked or expired.',
			)
			.argument('<id>', 'the id of the key to replace')
			.option(
				'--grace <duration>',
				'how long the old key keeps working, such as 24h (default: 0)',
				durationArg('grace'),
			)
			.option(
				'--expires-in <duration>',
				"the new key's lifetime (default: the old key's lifetime, from now)",
				durationArg('expiresIn'),
			),
	).action((id: string, options: RotateCommandOptions) => runRotate(context, id, options))
	return examples(command, [
		'keyward rotate 0b6f3c1e-4f5a-4d1b-9a51-4b8a1c2d3e4f --grace 24h',
		'keyward rotate "$ID" --grace 1h --expires-in 90d --json',
	])
}

async function runRotate(context: CliContext, id: string, options: RotateCommandOptions): Promise<void> {
	await withStore(context, options, async ({ store }) => {
		// The new key takes the old key's prefix, so rotating never needs --prefix.
		const old = await createKeyward({ store }).get(id)
		if (old === null)
			throw new KeywardError('not_found', `no key has the id ${id}; check it with keyward list --owner …`)
		const keyward = createKeyward({ store, prefix: old.prefix })
		const issued = await keyward.rotate(id, {
			...(options.grace !== undefined && { gracePeriod: options.grace }),
			...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
		})
		printIssued(context, issued, options.json === true, `Rotated key ${id} into ${issued.record.id}`)
		const retired = await keyward.get(id)
		if (!options.json && retired?.expiresAt) {
			context.stderr.write(`The old key ${retired.hint}… works until ${retired.expiresAt.toISOString()}.\n`)
		}
	})
}

/**
 * The `keyward` command: a commander program whose failures become exit codes instead of exits,
 * so it can be run in-process as well as from the binary.
 */
import { Command, CommanderError } from 'commander'
import { inspectCommand } from './commands/inspect.js'
import { issueCommand } from './commands/issue.js'
import { listCommand } from './commands/list.js'
import { revokeCommand } from './commands/revoke.js'
import { rotateCommand } from './commands/rotate.js'
import { sweepCommand } from './commands/sweep.js'
import type { CliContext, Output } from './context.js'
import { describeFailure, EXIT } from './errors.js'
import { redactUrl, scrubSecrets } from './store-url.js'

/** The version printed by `keyward --version`; the build replaces nothing, so keep it with package.json. */
export const VERSION = '0.1.0'

/** Where {@link runCli} reads and writes: the process's streams by default. */
export interface CliStreams {
	readonly stdout: Output
	readonly stderr: Output
	readonly stdin: NodeJS.ReadableStream
}

/**
 * Builds the `keyward` program over a context.
 * @param context - where the commands write, and where they report their exit code
 * @returns the commander program
 */
export function createProgram(context: CliContext): Command {
	const program = new Command('keyward')
		.description('Administer keyward API keys and sweep expired ones, from a shell, cron or a Kubernetes CronJob.')
		.version(VERSION, '-V, --version')
		.exitOverride()
		.configureOutput({
			writeOut: (text) => context.stdout.write(text),
			writeErr: (text) => context.stderr.write(text),
		})
		.showHelpAfterError('(run with --help for usage)')
		.addHelpText(
			'after',
			'\nEvery command takes --store URL (or KEYWARD_STORE) and --namespace (or KEYWARD_NAMESPACE).\n' +
				'Exit codes: 0 done, 1 failed, 2 usage error, 3 no such key, 4 key not active, 130/143 sweep stopped by SIGINT/SIGTERM.\n' +
				'\nExamples:\n' +
				'  $ keyward sweep --store redis://127.0.0.1:6379 --retention 90d\n' +
				'  $ keyward issue --store sqlite://./keys.db --owner user_42 --expires-in 30d\n' +
				'  $ keyward sweep --help\n',
		)
	program.hook('preAction', (_root, command) => {
		context.json = command.opts().json === true
	})
	sweepCommand(program, context)
	issueCommand(program, context)
	revokeCommand(program, context)
	rotateCommand(program, context)
	listCommand(program, context)
	inspectCommand(program, context)
	return program
}

/**
 * Runs the `keyward` command line and answers its exit code. Never exits the process itself
 * (except on a second SIGINT/SIGTERM during a sweep) and closes every store it opened.
 *
 * @param argv - the arguments after the program name, such as `['sweep', '--dry-run']`
 * @param streams - where to read and write (default: the process's)
 * @returns the exit code: see `EXIT` in cli/errors.ts and docs/cli.md
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv.slice(2))
 * ```
 */
export async function runCli(argv: readonly string[], streams?: CliStreams): Promise<number> {
	const context: CliContext = {
		stdout: streams?.stdout ?? process.stdout,
		stderr: streams?.stderr ?? process.stderr,
		stdin: streams?.stdin ?? process.stdin,
		exitCode: EXIT.ok,
		json: false,
	}
	const program = createProgram(context)
	try {
		if (argv.length === 0) {
			program.outputHelp({ error: true })
			return EXIT.usage
		}
		await program.parseAsync([...argv], { from: 'user' })
		return context.exitCode
	} catch (error) {
		if (error instanceof CommanderError) {
			// Help and --version "fail" with exit code 0; every other commander error is a usage error.
			return error.exitCode === 0 ? EXIT.ok : EXIT.usage
		}
		const failure = describeFailure(error)
		let message = failure.message
		if (context.storeUrl !== undefined) {
			if (failure.code === 'store_unavailable') message = `store ${redactUrl(context.storeUrl)} unavailable: ${message}`
			message = scrubSecrets(message, context.storeUrl)
		}
		context.stderr.write(`keyward: error: ${message}\n`)
		if (context.json) {
			context.stdout.write(
				`${JSON.stringify({ error: { code: failure.code, message, exitCode: failure.exitCode } })}\n`,
			)
		}
		return failure.exitCode
	}
}

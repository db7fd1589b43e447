/**
 * Exit codes of the `keyward` command and the mapping from errors to them.
 */
import { isKeywardError, type KeywardErrorCode } from '../src/errors.js'

/**
 * The exit codes of `keyward` (documented in docs/cli.md; never renumbered).
 * @example
 * ```ts
 * throw new CliError(EXIT.usage, 'list needs --owner ID, --expiring-within DURATION, or both')
 * ```
 */
export const EXIT = Object.freeze({
	/** The command did what was asked. */
	ok: 0,
	/** The command failed: store unreachable, driver missing, store error. */
	failed: 1,
	/** The command line is wrong: unknown command or option, missing argument, bad value. */
	usage: 2,
	/** No key has the given id (`revoke`, `rotate`). */
	notFound: 3,
	/** The key is revoked or expired, so it cannot be rotated. */
	notActive: 4,
	/** A sweep stopped by SIGINT (128 + 2), after finishing its current batch. */
	interrupted: 130,
	/** A sweep stopped by SIGTERM (128 + 15), after finishing its current batch. */
	terminated: 143,
})

/**
 * An error the command line reports with a given exit code and a message meant for the user.
 * @example
 * ```ts
 * throw new CliError(EXIT.failed, 'the sqlite store sqlite://./keys.db does not exist')
 * ```
 */
export class CliError extends Error {
	override readonly name = 'CliError'
	/**
	 * @param exitCode - one of {@link EXIT}
	 * @param message - what went wrong and what to do; never a key or a password
	 * @param options - `cause`: the underlying error
	 */
	constructor(
		readonly exitCode: number,
		message: string,
		options?: { cause?: unknown },
	) {
		super(message, options)
	}
}

const BY_CODE: Record<KeywardErrorCode, number> = {
	invalid_option: EXIT.usage,
	invalid_store: EXIT.failed,
	store_unavailable: EXIT.failed,
	not_found: EXIT.notFound,
	not_active: EXIT.notActive,
	conflict: EXIT.failed,
}

/** What to print and which code to exit with, for an error a command threw. */
export interface Failure {
	readonly exitCode: number
	/** A short stable code for `--json` output: a keyward code, `usage`, `missing_driver`, or `internal`. */
	readonly code: string
	readonly message: string
}

/**
 * Maps an error to an exit code and a message. Keyward errors keep their code; a driver's error
 * given as `cause` is added to the message (the caller scrubs store secrets from the result).
 *
 * @param error - anything a command threw
 * @returns the {@link Failure} to report
 * @example
 * ```ts
 * describeFailure(new KeywardError('not_found', 'no key has the id x')).exitCode // 3
 * ```
 */
export function describeFailure(error: unknown): Failure {
	if (error instanceof CliError) {
		return {
			exitCode: error.exitCode,
			code: error.exitCode === EXIT.usage ? 'usage' : 'failed',
			message: error.message,
		}
	}
	if (isKeywardError(error)) {
		const cause = causeText(error.cause)
		return {
			exitCode: BY_CODE[error.code],
			code: error.code,
			message: cause === '' ? error.message : `${error.message}: ${cause}`,
		}
	}
	return { exitCode: EXIT.failed, code: 'internal', message: error instanceof Error ? error.message : String(error) }
}

/** The chain of causes, innermost last, as one line ("connect ECONNREFUSED 127.0.0.1:6379"). */
function causeText(cause: unknown, depth = 0): string {
	if (cause === undefined || cause === null || depth > 3) return ''
	const own =
		cause instanceof AggregateError && cause.errors.length > 0
			? cause.errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')
			: cause instanceof Error
				? cause.message
				: String(cause)
	const inner = cause instanceof Error ? causeText(cause.cause, depth + 1) : ''
	return inner === '' || own.includes(inner) ? own : `${own}: ${inner}`
}

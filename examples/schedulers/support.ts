/**
 * What the scheduler recipes share: option checks, the store a recipe uses when run from the command
 * line, and the signal handling of a long-running process. Each recipe file holds its scheduler's wiring.
 */
import { pathToFileURL } from 'node:url'
import { type KeyStore, KeywardError, memoryStore } from 'keyward'
import { postgresStore } from 'keyward/postgres'
import { redisStore } from 'keyward/redis'

/**
 * Refuses option names a recipe does not know, so a typo (`retension`) fails at startup instead of
 * silently keeping expired keys forever.
 *
 * @param options - the options object given
 * @param known - the names the recipe takes
 * @param where - the function's name, for the message
 * @throws KeywardError `invalid_option` for an unknown name or a value that is not an object
 * @example
 * ```ts
 * checkOptions(options, ['pattern', 'retention'], 'scheduleSweeps()')
 * ```
 */
export function checkOptions(options: unknown, known: readonly string[], where: string): void {
	if (typeof options !== 'object' || options === null || Array.isArray(options)) {
		throw new KeywardError('invalid_option', `${where} takes an options object`)
	}
	for (const name of Object.keys(options)) {
		if (!known.includes(name)) {
			throw new KeywardError(
				'invalid_option',
				`"${name.slice(0, 40)}" is not an option of ${where}; it takes ${known.join(', ')}`,
			)
		}
	}
}

/**
 * Checks a `batchSize` the way `sweep()` will, at startup rather than at the first tick.
 *
 * @param batchSize - the option's value, possibly `undefined`
 * @returns the value, or `undefined` to let `sweep()` use its default
 * @throws KeywardError `invalid_option` unless it is a whole number from 1 to 10000
 * @example
 * ```ts
 * const batchSize = checkBatchSize(options.batchSize)
 * ```
 */
export function checkBatchSize(batchSize: unknown): number | undefined {
	if (batchSize === undefined) return undefined
	if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
		throw new KeywardError('invalid_option', `batchSize must be a whole number from 1 to 10000 (got ${batchSize})`)
	}
	return batchSize
}

/**
 * The message of an error, for a log line (keyward's messages never hold a key).
 *
 * @param error - anything thrown
 * @returns its message, or its string form
 * @example
 * ```ts
 * log(`sweep failed: ${errorMessage(error)}`)
 * ```
 */
export function errorMessage(error: unknown): string {
	return error instanceof Error ? error.message : String(error)
}

/** A store picked from the environment, for running a recipe from the command line. */
export interface EnvStore {
	/** The store. */
	readonly store: KeyStore
	/** What it is, without any password: `memory`, `redis (namespace keyward)`, `postgres (namespace keyward)`. */
	readonly label: string
	/** Closes the store's connections. */
	close(): Promise<void>
}

/**
 * The store named by the environment: `DATABASE_URL` (PostgreSQL) first, then `REDIS_URL`, else the
 * in-memory store. `KEYWARD_NAMESPACE` separates apps sharing one server (default `keyward`).
 *
 * @param env - the environment to read
 * @returns the store, a label without any password, and its `close()`
 * @throws KeywardError `invalid_option` for a bad `KEYWARD_NAMESPACE`
 * @example
 * ```ts
 * const { store, label, close } = storeFromEnv()
 * ```
 */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env): EnvStore {
	const namespace = env.KEYWARD_NAMESPACE || 'keyward'
	if (env.DATABASE_URL) {
		const store = postgresStore({ url: env.DATABASE_URL, namespace })
		return { store, label: `postgres (namespace ${namespace})`, close: () => store.close() }
	}
	if (env.REDIS_URL) {
		const store = redisStore({ url: env.REDIS_URL, namespace })
		return { store, label: `redis (namespace ${namespace})`, close: () => store.close() }
	}
	return { store: memoryStore(), label: 'memory (keys are lost on exit)', close: async () => {} }
}

/**
 * Tells whether a module is the file Node was asked to run (`npx tsx examples/schedulers/croner.ts`),
 * so importing a recipe in a test runs nothing.
 *
 * @param moduleUrl - the module's `import.meta.url`
 * @returns `true` when it is the entry point
 * @example
 * ```ts
 * if (isMain(import.meta.url)) await main()
 * ```
 */
export function isMain(moduleUrl: string): boolean {
	return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href
}

/**
 * Stops a long-running recipe on SIGINT or SIGTERM: calls `stop` once, logs, and lets the process
 * exit by itself when nothing is left running (exit code 1 if `stop` fails).
 *
 * @param stop - closes everything the recipe opened
 * @param log - where the "stopping" and "stopped" lines go
 * @example
 * ```ts
 * stopOnSignals(async () => {
 *   await sweeps.stop()
 *   await store.close()
 * })
 * ```
 */
export function stopOnSignals(stop: () => Promise<void>, log: (line: string) => void = console.log): void {
	let stopping = false
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		process.once(signal, () => {
			if (stopping) return
			stopping = true
			log(`${signal}: stopping`)
			stop().then(
				() => log('stopped'),
				(error: unknown) => {
					console.error(error)
					process.exitCode = 1
				},
			)
		})
	}
}

import { KeywardError } from './errors.js'

/**
 * Settles like `promise`, or rejects with `store_unavailable` after `ms` milliseconds, whichever
 * comes first. A store call that hangs (a server that stopped answering) must never hold a request
 * or a sweep forever.
 * @internal
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'the key store'): Promise<T> {
	let timer: NodeJS.Timeout | undefined
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() => reject(new KeywardError('store_unavailable', `${what} did not answer within ${ms} ms; retry later`)),
			ms,
		)
	})
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

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

/**
 * Bounds promises by `ms` with one timer for all of them, instead of a timer and a `Promise.race`
 * per call (a per-call timer cost about 24 µs of server CPU per request; see docs/benchmarks.md): a
 * promise still pending `ms` after it was bounded rejects with `store_unavailable`. Bounded promises
 * share one deadline length, so they expire in the order they were added. The timer does not keep
 * the process alive (a call in flight has its own socket for that), so nothing lingers after `close()`.
 * @internal
 */
export function deadlines(ms: number, what: string): <T>(promise: Promise<T>) => Promise<T> {
	interface Pending {
		readonly at: number
		readonly reject: (error: unknown) => void
	}
	const pending = new Set<Pending>()
	let timer: NodeJS.Timeout | undefined
	const arm = (delay: number) => {
		timer = setTimeout(expire, delay)
		timer.unref()
	}
	const expire = () => {
		timer = undefined
		const now = performance.now()
		for (const entry of pending) {
			if (entry.at > now) return arm(entry.at - now)
			pending.delete(entry)
			entry.reject(new KeywardError('store_unavailable', `${what} did not answer within ${ms} ms; retry later`))
		}
	}
	return <T>(promise: Promise<T>) =>
		new Promise<T>((resolve, reject) => {
			const entry: Pending = { at: performance.now() + ms, reject }
			pending.add(entry)
			if (timer === undefined) arm(ms)
			promise.then(
				(value) => {
					pending.delete(entry)
					resolve(value)
				},
				(error: unknown) => {
					pending.delete(entry)
					reject(error)
				},
			)
		})
}

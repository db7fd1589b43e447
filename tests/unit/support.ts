/**
 * Small helpers shared by the unit tests: a fixed clock, a store that counts its calls, and
 * assertions on keyward errors. Not a test file (vitest only collects `*.test.ts`).
 */
import { ALPHABET, isKeywardError, type KeyStore, type KeywardError, type KeywardErrorCode, memoryStore } from 'keyward'
import { expect } from 'vitest'
import { synchronousReads } from '../../src/store.js'

export const SECOND = 1000
export const MINUTE = 60 * SECOND
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/** A fixed instant every test starts from. */
export const T0 = Date.UTC(2030, 0, 1)
/** `T0 + ms` as a Date. */
export const at = (ms: number): Date => new Date(T0 + ms)

/** A clock the test moves by hand: `clock.now` is what `createKeyward({ clock })` reads. */
export function manualClock(start: Date = at(0)) {
	const clock = {
		now: start,
		read: (): Date => clock.now,
		set(ms: number) {
			clock.now = at(ms)
		},
	}
	return clock
}

const STORE_METHODS = new Set([
	'insert',
	'getByHash',
	'getById',
	'listByOwner',
	'listExpiring',
	'count',
	'update',
	'blacklist',
	'moveExpired',
	'purgeBlacklisted',
])

export type StoreMethod =
	| 'insert'
	| 'getByHash'
	| 'getById'
	| 'listByOwner'
	| 'listExpiring'
	| 'count'
	| 'update'
	| 'blacklist'
	| 'moveExpired'
	| 'purgeBlacklisted'

/** The store methods that change data. */
export const WRITE_METHODS: readonly StoreMethod[] = [
	'insert',
	'update',
	'blacklist',
	'moveExpired',
	'purgeBlacklisted',
]

/**
 * Wraps a store in a Proxy that counts calls of each KeyStore method. A store that `verify()` reads
 * synchronously (the memory store) still is: the synchronous read counts as a `getByHash` call.
 */
export function countingStore(inner: KeyStore = memoryStore()) {
	const calls = new Map<string, number>()
	const counted = (property: string) => calls.set(property, (calls.get(property) ?? 0) + 1)
	const wrapped = new Map<string, unknown>() // one wrapper per method, so the synchronous twin stays paired
	const store: KeyStore = new Proxy(inner, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver)
			if (typeof property !== 'string' || !STORE_METHODS.has(property) || typeof value !== 'function') return value
			let wrapper = wrapped.get(property)
			if (wrapper === undefined) {
				const method = (...args: unknown[]) => {
					counted(property)
					return value.apply(target, args)
				}
				const twin = property === 'getByHash' ? synchronousReads.get(value) : undefined
				if (twin !== undefined) {
					synchronousReads.set(method as KeyStore['getByHash'], (hash) => {
						counted(property)
						return twin(hash)
					})
				}
				wrapped.set(property, method)
				wrapper = method
			}
			return wrapper
		},
	})
	return {
		store,
		count: (method: StoreMethod): number => calls.get(method) ?? 0,
		writes: (): number => WRITE_METHODS.reduce((sum, method) => sum + (calls.get(method) ?? 0), 0),
		reset: () => calls.clear(),
	}
}

/** Runs `run` (sync or async) and answers what it threw; fails the test when it did not throw. */
export async function caught(run: () => unknown): Promise<unknown> {
	try {
		await run()
	} catch (error) {
		return error
	}
	throw new Error('expected an error, but none was thrown')
}

/** Asserts that `run` throws or rejects with a KeywardError of `code`, and answers it. */
export async function keywardError(run: () => unknown, code: KeywardErrorCode): Promise<KeywardError> {
	const error = await caught(run)
	expect(isKeywardError(error, code), `expected a KeywardError "${code}", got: ${String(error)}`).toBe(true)
	expect((error as Error).message.endsWith(`[keyward:${code}]`)).toBe(true)
	return error as KeywardError
}

/** Matches any string shaped like a plaintext key of any prefix. */
export const KEY_PATTERN = new RegExp(`[a-z]{2,8}_[${ALPHABET}]{32}`)

/** The exact shape of a key with this prefix. */
export const keyShape = (prefix: string): RegExp => new RegExp(`^${prefix}_[${ALPHABET}]{26}[${ALPHABET}]{6}$`)

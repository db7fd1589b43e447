/**
 * Timing: verifying an unknown key takes as long whether it shares 0, 8, 16 or all but one body
 * characters with a real key, because the store is asked for the key's SHA-256, never compared to
 * the key character by character. Measured on the memory store, interleaved (the groups take turns
 * in a shuffled order every round), many samples, medians reported; asserted with a generous bound
 * so a loaded machine cannot make it flake, and backed by the structural fact: the store receives
 * the SHA-256 of the key and never the key.
 */
import { createHash } from 'node:crypto'
import { ALPHABET, BODY_LENGTH, createKeyward, memoryStore } from 'keyward'
import { expect, it } from 'vitest'
import { formatKey } from '../../src/key-format.js'
import { countingStore, seededRandom, writeFigures } from './support.js'

const SHARED = [0, 8, 16, BODY_LENGTH - 1] as const
const KEYS_PER_GROUP = 64
const ROUNDS = 1000
const CALLS_PER_SAMPLE = 16
/** The slowest group's median may be at most this many times the fastest's: generous, for a loaded 2-core machine. */
const MAX_RATIO = 2

const median = (values: number[]) => {
	const sorted = [...values].sort((a, b) => a - b)
	return sorted[Math.floor(sorted.length / 2)] as number
}

it('verify() time of unknown keys does not depend on how many leading characters match a real key', async () => {
	const figures: Record<string, unknown> = {}
	let passed = false
	try {
		const counting = countingStore(memoryStore())
		const keyward = createKeyward({ store: counting.store, prefix: 'sk' })
		for (let i = 0; i < 1000; i++) await keyward.issue({ ownerId: `o${i % 10}` }) // a store with some keys in it
		const { key: real } = await keyward.issue({ ownerId: 'target' })
		const realBody = real.slice(3, 3 + BODY_LENGTH)
		const random = seededRandom(42)
		const char = (not?: string) => {
			for (;;) {
				const c = ALPHABET[Math.floor(random() * ALPHABET.length)] as string
				if (c !== not) return c
			}
		}
		/** Keys with a valid checksum whose body shares exactly `n` leading characters with the real key's. */
		const groups = SHARED.map((n) =>
			Array.from({ length: KEYS_PER_GROUP }, () => {
				let body = realBody.slice(0, n) + char(realBody[n])
				while (body.length < BODY_LENGTH) body += char()
				return formatKey('sk', body)
			}),
		)
		for (const [g, keys] of groups.entries()) {
			for (const key of keys) {
				expect(key.slice(3, 3 + (SHARED[g] as number))).toBe(realBody.slice(0, SHARED[g]))
				expect(key[3 + (SHARED[g] as number)]).not.toBe(realBody[SHARED[g] as number])
			}
		}

		// Warm up, and check every answer and every store read.
		const hashesBefore = counting.hashes.length
		for (const keys of groups) {
			for (const key of keys) expect(await keyward.verify(key)).toEqual({ ok: false, code: 'unknown_key' })
		}
		const sent = groups.flat()
		const received = counting.hashes.slice(hashesBefore)
		expect(received).toEqual(sent.map((key) => createHash('sha256').update(key).digest('base64url')))
		for (const [i, hash] of received.entries()) {
			expect(hash).toMatch(/^[\w-]{43}$/)
			expect(hash).not.toContain((sent[i] as string).slice(3, 3 + 8))
		}

		const samples: number[][] = SHARED.map(() => [])
		const order = SHARED.map((_, i) => i)
		for (let round = 0; round < ROUNDS; round++) {
			for (let i = order.length - 1; i > 0; i--) {
				const j = Math.floor(random() * (i + 1))
				;[order[i], order[j]] = [order[j] as number, order[i] as number]
			}
			for (const g of order) {
				const keys = groups[g] as string[]
				const start = process.hrtime.bigint()
				for (let c = 0; c < CALLS_PER_SAMPLE; c++)
					await keyward.verify(keys[(round * CALLS_PER_SAMPLE + c) % keys.length])
				;(samples[g] as number[]).push(Number(process.hrtime.bigint() - start) / CALLS_PER_SAMPLE)
			}
		}
		const medians = samples.map((s) => Math.round(median(s)))
		const ratio = Math.max(...medians) / Math.min(...medians)
		Object.assign(figures, {
			store: 'memory',
			keysInStore: 1001,
			keysPerGroup: KEYS_PER_GROUP,
			rounds: ROUNDS,
			callsPerSample: CALLS_PER_SAMPLE,
			verifications: ROUNDS * CALLS_PER_SAMPLE * SHARED.length,
			medianNsBySharedLeadingChars: Object.fromEntries(SHARED.map((n, g) => [String(n), medians[g]])),
			slowestOverFastest: Math.round(ratio * 100) / 100,
			bound: MAX_RATIO,
			storeReceives: 'SHA-256 of the key, base64url (43 characters)',
		})
		expect(ratio).toBeLessThan(MAX_RATIO)
		passed = true
	} finally {
		writeFigures('timing', {
			title: 'Timing of unknown keys',
			claim:
				'Verification time of unknown keys (valid checksum) does not depend on how many leading body characters they share with a real key: the store is asked for the SHA-256, never given the key.',
			result: passed ? 'passed' : 'failed',
			figures,
		})
	}
}, 120_000)

/**
 * The benchmark sections with tiny counts, so the benchmark code cannot rot: each runs against real
 * servers (HTTP servers in child processes, Redis, PostgreSQL) and answers a section of the right
 * shape. No figure is asserted, except counts that are exact by design (round trips per verify).
 */
import { describe, expect, it } from 'vitest'
import { httpBench } from '../../bench/http.js'
import { issueBench } from '../../bench/issue.js'
import type { StoreKind } from '../../bench/servers.js'
import type { BenchContext, BenchSection } from '../../bench/types.js'
import { verifyBench } from '../../bench/verify.js'
import { serverUrl } from '../helpers/servers.js'

const redisUrl = serverUrl('REDIS_URL')
const databaseUrl = serverUrl('DATABASE_URL')
const stores: StoreKind[] = [
	'memory',
	'keyv',
	...(redisUrl ? ['redis' as const] : []),
	...(databaseUrl ? ['postgres' as const] : []),
]

const context: BenchContext = {
	quick: true,
	redisUrl: redisUrl ?? 'redis://127.0.0.1:6379',
	databaseUrl: databaseUrl ?? 'postgres://root@127.0.0.1:5432/test',
	log: () => {},
}

/** The rows of a section's markdown tables, as trimmed cells (header and separator rows included). */
function rows(section: BenchSection): string[][] {
	return section.markdown
		.split('\n')
		.filter((line) => line.startsWith('| '))
		.map((line) =>
			line
				.slice(2, -2)
				.split(' | ')
				.map((cell) => cell.trim()),
		)
}

/** The first table row whose leading cells are `start`. */
function row(section: BenchSection, ...start: string[]): string[] | undefined {
	return rows(section).find((cells) => start.every((cell, i) => cells[i] === cell))
}

function expectSectionShape(section: BenchSection, id: string): void {
	expect(section.id).toBe(id)
	expect(section.title.length).toBeGreaterThan(0)
	expect(section.markdown).toMatch(/^\| -{3,} \|/m) // at least one table
	for (const t of section.targets) {
		expect(t).toEqual({
			name: expect.any(String),
			target: expect.any(String),
			measured: expect.any(String),
			met: expect.any(Boolean),
		})
	}
}

describe('bench', () => {
	it('http › measures no auth (twice), the floor, keyward and the peer on Express, Fastify and Koa servers, with a target per framework', async () => {
		const section = await httpBench({
			frameworks: ['express', 'fastify', 'koa'],
			variants: ['control', 'noop', 'floor', 'memory', 'passport', 'bearer-auth'],
			keys: 5,
			warmupMs: 100,
			runMs: 200,
			rounds: 1,
			connections: 2,
			pin: false,
		})(context)
		expectSectionShape(section, 'http')
		for (const framework of ['Express', 'Fastify', 'Koa']) {
			expect(row(section, framework, 'no auth (the limit)')?.slice(2, 4)).toEqual([
				expect.stringMatching(/^[\d,.]+$/),
				'100%',
			])
			expect(row(section, framework, 'keyward, memoryStore')?.slice(2, 4)).toEqual([
				expect.stringMatching(/^[\d,.]+$/),
				expect.stringMatching(/^[\d.]+%$/),
			])
			for (const reference of [
				'no auth, a second identical server (the noise)',
				'a no-op middleware (what the framework charges for one)',
				'the floor: a hand-written SHA-256 + Map check',
			]) {
				expect(row(section, framework, reference)?.slice(3, 5)).toEqual([
					expect.stringMatching(/^[\d.]+%$/),
					expect.stringMatching(/^[\d.]+%–[\d.]+%$/),
				])
			}
			expect(section.targets.map((t) => t.name)).toContain(`${framework}: keyward (memory) / no auth, req/s`)
		}
		expect(row(section, 'Express', 'passport + passport-headerapikey (Map by SHA-256)')).toBeDefined()
		expect(row(section, 'Koa', 'passport + passport-headerapikey (Map by SHA-256)')).toBeDefined()
		expect(row(section, 'Fastify', '@fastify/bearer-auth (auth(): Map by SHA-256)')).toBeDefined()
		expect(section.targets).toHaveLength(6) // per framework: vs no auth, vs the peer
	}, 90_000)

	it('verify › counts one round trip per valid key and none per malformed key, on every store', async () => {
		const section = await verifyBench({
			stores,
			keys: 20,
			warmupMs: 10,
			runMs: 20,
			rounds: 1,
			countSamples: 20,
			cached: true,
		})(context)
		expectSectionShape(section, 'verify')
		expect(section.targets).toHaveLength(stores.length * 2)
		for (const t of section.targets) {
			expect(t.measured).toBe(t.target === '= 1' ? '1.00' : '0.00')
			expect(t.met).toBe(true)
		}
		if (redisUrl) expect(row(section, 'redisStore + verifyCache(10 s)', 'valid')?.slice(4)).toEqual(['0.00', '0.00'])
	}, 90_000)

	it('issue › measures every store and the memory store heap per key', async () => {
		const section = await issueBench({ stores, keys: 10, rounds: 1, heapKeys: 2000 })(context)
		expectSectionShape(section, 'issue')
		expect(row(section, 'memoryStore')?.slice(1)).toEqual([
			expect.stringMatching(/^[\d,.]+$/),
			expect.stringMatching(/^[\d,.]+$/),
		])
		expect(section.markdown).toMatch(/\*\*memoryStore heap\*\*: [\d,]+ bytes per key/)
	}, 90_000)
})

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

function expectSectionShape(section: BenchSection, id: string): void {
	expect(section.id).toBe(id)
	expect(section.title.length).toBeGreaterThan(0)
	expect(section.markdown).toMatch(/^\| --- \|/m) // at least one table
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
	it('http › measures no auth, keyward and the peer on Express, Fastify and Koa servers, with a target per framework', async () => {
		const section = await httpBench({
			frameworks: ['express', 'fastify', 'koa'],
			variants: ['memory', 'passport', 'bearer-auth'],
			keys: 5,
			warmupMs: 100,
			runMs: 200,
			rounds: 1,
			connections: 2,
		})(context)
		expectSectionShape(section, 'http')
		for (const framework of ['Express', 'Fastify', 'Koa']) {
			expect(section.markdown).toMatch(
				new RegExp(`^\\| ${framework} \\| no auth \\(the limit\\) \\| [\\d,.]+ \\| 100% \\|`, 'm'),
			)
			expect(section.markdown).toMatch(
				new RegExp(`^\\| ${framework} \\| keyward, memoryStore \\| [\\d,.]+ \\| [\\d.]+% \\|`, 'm'),
			)
			expect(section.targets.map((t) => t.name)).toContain(`${framework}: keyward (memory) / no auth, req/s`)
		}
		expect(section.markdown).toMatch(/^\| Express \| passport \+ passport-headerapikey/m)
		expect(section.markdown).toMatch(/^\| Koa \| passport \+ passport-headerapikey/m)
		expect(section.markdown).toMatch(/^\| Fastify \| @fastify\/bearer-auth/m)
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
		if (redisUrl)
			expect(section.markdown).toMatch(
				/^\| redisStore \+ verifyCache\(10 s\) \| valid \| [\d,.]+ \| [\d,.]+ \| 0\.00 \| 0\.00 \|$/m,
			)
	}, 90_000)

	it('issue › measures every store and the memory store heap per key', async () => {
		const section = await issueBench({ stores, keys: 10, rounds: 1, heapKeys: 2000 })(context)
		expectSectionShape(section, 'issue')
		expect(section.markdown).toMatch(/^\| memoryStore \| [\d,.]+ \| [\d,.]+ \|$/m)
		expect(section.markdown).toMatch(/\*\*memoryStore heap\*\*: [\d,]+ bytes per key/)
	}, 90_000)
})

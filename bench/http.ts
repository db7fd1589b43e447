/**
 * Middleware overhead: requests per second and latency of real Express, Fastify and Koa servers on
 * loopback, each in its own process, with no authentication (the limit), keyward on each server
 * store, and the peer a user would pick instead. autocannon runs in this process.
 */
import autocannon from 'autocannon'
import pg from 'pg'
import { hashKey } from '../src/crypto.js'
import { createCheck } from '../src/http.js'
import { createKeyward, memoryStore } from '../src/index.js'
import type { Framework, ServerConfig, ServerReady, Variant } from './http-server.js'
import {
	cpuPinning,
	dropSchema,
	nextMessage,
	startChild,
	stopChild,
	uniqueName,
	wipeRedisNamespace,
} from './servers.js'
import { formatNumber, median, percent, table, target, throughput } from './stats.js'
import type { BenchContext, BenchModule, BenchSection, BenchTarget } from './types.js'

/** Sizes of one run of the HTTP benchmark. */
export interface HttpBenchOptions {
	readonly frameworks: readonly Framework[]
	/** Limit the variants measured (all by default; `none` is always measured). */
	readonly variants?: readonly Variant[]
	/** Keys issued to each server's store (and loaded into the peers' Map). */
	readonly keys: number
	/** Load before measuring, per server. */
	readonly warmupMs: number
	/** One measured run. */
	readonly runMs: number
	/** Measured runs per server; the servers of a framework take turns, round after round. */
	readonly rounds: number
	/** autocannon connections. */
	readonly connections: number
	/**
	 * Keep the load generator and the servers on different CPUs while measuring (see `cpuPinning()`).
	 * @defaultValue `true`; the smoke test turns it off, so it never pins the test runner
	 */
	readonly pin?: boolean
}

/** The full run. */
export const HTTP_FULL: HttpBenchOptions = {
	frameworks: ['express', 'fastify', 'koa'],
	keys: 2000,
	warmupMs: 2000,
	runMs: 1000,
	rounds: 9,
	connections: 32,
}

/** `--quick`. */
export const HTTP_QUICK: HttpBenchOptions = {
	frameworks: ['express', 'fastify', 'koa'],
	keys: 200,
	warmupMs: 500,
	runMs: 400,
	rounds: 3,
	connections: 32,
}

/**
 * Node.js flags of every server: V8's young generation fixed at 16 MiB per semi-space (the most V8
 * grows it to on 64-bit). Left to size itself, it grows or not by each process's own history, and
 * two identical servers then used up to 20% more or less CPU per request for their whole lives.
 */
export const SERVER_FLAGS: readonly string[] = ['--min-semi-space-size=16', '--max-semi-space-size=16']

const PEERS: Record<Framework, Variant> = { express: 'passport', fastify: 'bearer-auth', koa: 'passport' }

const LABELS: Record<Variant, string> = {
	none: 'no auth (the limit)',
	control: 'no auth, a second identical server (the noise)',
	noop: 'a no-op middleware (what the framework charges for one)',
	floor: 'the floor: a hand-written SHA-256 + Map check',
	memory: 'keyward, memoryStore',
	redis: 'keyward, redisStore',
	postgres: 'keyward, postgresStore',
	passport: 'passport + passport-headerapikey (Map by SHA-256)',
	'bearer-auth': '@fastify/bearer-auth (auth(): Map by SHA-256)',
}

const NAMES: Record<Framework, string> = { express: 'Express', fastify: 'Fastify', koa: 'Koa' }

/** One autocannon run. */
interface Run {
	readonly rps: number
	readonly p50: number
	readonly p99: number
	/** Server CPU time (user + system) per request, in microseconds. */
	readonly cpuUs: number
	/** The share of the run's wall time the server spent on a CPU: near 1 when it is the bottleneck. */
	readonly busy: number
}

/** The medians of one server's runs, and its throughput relative to the no-auth server's. */
export interface HttpRow {
	readonly framework: Framework
	readonly variant: Variant
	readonly rps: number
	readonly p50: number
	readonly p99: number
	/** Server CPU time per request, microseconds. */
	readonly cpuUs: number
	/** Median share of wall time the server spent on a CPU during its runs. */
	readonly busy: number
	/** The median over rounds of (this server's req/s ÷ the req/s of the no-auth run next to it). */
	readonly ratio: number
	/** The lowest and highest of those per-round ratios. */
	readonly ratioRange: readonly [number, number]
	/** This server's ratio to the no-auth server in each round, in round order: to compare two servers round by round. */
	readonly perRound: readonly number[]
}

/** A running server process of the benchmark. */
export interface Server {
	readonly variant: Variant
	readonly child: ReturnType<typeof startChild>
	readonly config: ServerConfig
	ready?: ServerReady
}

async function load(server: Server, options: HttpBenchOptions, ms: number): Promise<Run> {
	const ready = server.ready as ServerReady
	const cpu = async () => {
		server.child.send('cpu')
		const usage = await nextMessage<NodeJS.CpuUsage>(server.child, 10_000)
		return usage.user + usage.system
	}
	const before = await cpu()
	const result = await autocannon({
		url: `http://127.0.0.1:${ready.port}/hello`,
		connections: options.connections,
		duration: ms / 1000,
		sampleInt: 100, // the default (1 s) stretches every run to at least a second
		headers: { authorization: `Bearer ${ready.key}` },
	})
	const bad = result.non2xx + result.errors + result.timeouts
	if (bad > 0) {
		throw new Error(
			`${server.config.framework}/${server.variant}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts`,
		)
	}
	const used = (await cpu()) - before
	return {
		rps: result.requests.total / (result.duration || ms / 1000),
		p50: result.latency.p50,
		p99: result.latency.p99,
		cpuUs: used / Math.max(1, result.requests.total),
		busy: used / ((result.duration || ms / 1000) * 1e6),
	}
}

async function cleanup(context: BenchContext, servers: readonly Server[]): Promise<void> {
	await Promise.all(servers.map((server) => stopChild(server.child)))
	for (const { config } of servers) {
		if (config.variant === 'redis') await wipeRedisNamespace(context.redisUrl, config.name).catch(() => undefined)
		if (config.variant === 'postgres') {
			const pool = new pg.Pool({ connectionString: context.databaseUrl, max: 1 })
			pool.on('error', () => {})
			await dropSchema(pool, config.name)
				.catch(() => undefined)
				.finally(() => pool.end())
		}
	}
}

/**
 * Starts the servers of one framework (no auth, keyward on each store, the peer), each in its own
 * process, and waits until they listen.
 *
 * @param context - the runner's context
 * @param framework - which framework
 * @param options - sizes (and which variants)
 * @returns the running servers; pass them to {@link stopServers}, also after a failure
 * @throws when a server fails to start; the servers started are stopped first
 */
export async function startServers(
	context: BenchContext,
	framework: Framework,
	options: HttpBenchOptions,
): Promise<Server[]> {
	const all: Variant[] = ['none', 'control', 'noop', 'floor', 'memory', 'redis', 'postgres', PEERS[framework]]
	const variants = all.filter(
		(variant) => variant === 'none' || !options.variants || options.variants.includes(variant),
	)
	const servers: Server[] = variants.map((variant) => {
		const config: ServerConfig = {
			framework,
			variant,
			keys: options.keys,
			redisUrl: context.redisUrl,
			databaseUrl: context.databaseUrl,
			name: uniqueName(`http_${framework}_${variant.replace('-', '')}`),
		}
		return { variant, config, child: startChild('http-server.ts', [JSON.stringify(config)], SERVER_FLAGS) }
	})
	try {
		await Promise.all(
			servers.map(async (server) => {
				server.ready = await nextMessage<ServerReady>(server.child, 120_000)
			}),
		)
	} catch (error) {
		await stopServers(context, servers)
		throw error
	}
	return servers
}

/**
 * Stops servers and removes their Redis namespaces and PostgreSQL schemas.
 *
 * @param context - the runner's context
 * @param servers - from {@link startServers}
 * @returns once they have exited and their data is gone
 */
export const stopServers = cleanup

/**
 * Measures one framework's running servers: warms each up, then runs `rounds` rounds. In a round,
 * every server with authentication takes one run right next to a run of the no-auth server (before
 * it in one round, after it in the next; the servers' order rotates), and its ratio for the round is
 * its req/s over that neighbour's. The machine's speed drifts within seconds, so a ratio is only
 * taken between two runs seconds apart.
 *
 * @param context - the runner's context
 * @param servers - one framework's servers, from {@link startServers}; one is the no-auth server
 * @param options - sizes
 * @returns one row per server
 * @throws when a server answers anything but 2xx under load
 */
export async function measureServers(
	context: BenchContext,
	servers: readonly Server[],
	options: HttpBenchOptions,
): Promise<HttpRow[]> {
	const framework = (servers[0] as Server).config.framework
	const limit = servers.find((server) => server.variant === 'none') as Server
	const others = servers.filter((server) => server !== limit)
	for (const server of servers) await load(server, options, options.warmupMs)
	const runs = new Map<Variant, Run[]>(servers.map((server) => [server.variant, []]))
	const ratios = new Map<Variant, number[]>(others.map((server) => [server.variant, []]))
	const measure = async (server: Server) => {
		const run = await load(server, options, options.runMs)
		runs.get(server.variant)?.push(run)
		return run
	}
	for (let round = 0; round < options.rounds; round++) {
		context.log(`  ${NAMES[framework]}: round ${round + 1} of ${options.rounds}`)
		for (let i = 0; i < others.length; i++) {
			const server = others[(i + round) % others.length] as Server
			const limitFirst = (i + round) % 2 === 0
			const before = limitFirst ? await measure(limit) : undefined
			const own = await measure(server)
			const neighbour = before ?? (await measure(limit))
			ratios.get(server.variant)?.push(own.rps / neighbour.rps)
		}
	}
	return servers.map(({ variant }) => {
		const own = runs.get(variant) as Run[]
		const paired = ratios.get(variant) ?? own.map(() => 1)
		return {
			framework,
			variant,
			rps: median(own.map((run) => run.rps)),
			p50: median(own.map((run) => run.p50)),
			p99: median(own.map((run) => run.p99)),
			cpuUs: median(own.map((run) => run.cpuUs)),
			busy: median(own.map((run) => run.busy)),
			ratio: median(paired),
			ratioRange: [Math.min(...paired), Math.max(...paired)],
			perRound: paired,
		}
	})
}

/**
 * The HTTP section: every framework, a table, and the targets (keyward on memory keeps ≥ 90% of
 * the no-auth throughput and is not slower than the peer).
 *
 * @param options - sizes: {@link HTTP_FULL}, {@link HTTP_QUICK} or smaller, for a smoke test
 * @returns a {@link BenchModule}
 * @example
 * ```ts
 * const section = await httpBench({ ...HTTP_QUICK, frameworks: ['fastify'] })(context)
 * ```
 */
export function httpBench(options: HttpBenchOptions): BenchModule {
	return async function http(context: BenchContext): Promise<BenchSection> {
		context.log('HTTP: the middleware check in isolation')
		const isolatedMs = Math.min(options.runMs / 2, 500)
		const isolated = await isolatedCost(isolatedMs)
		// Every server starts at once (idle servers cost nothing); then the frameworks take turns.
		context.log(`HTTP: starting the servers of ${options.frameworks.map((f) => NAMES[f]).join(', ')}`)
		const started = await Promise.allSettled(options.frameworks.map((f) => startServers(context, f, options)))
		const rows: HttpRow[] = []
		// Servers start on every CPU (their start-up is the slow part), then move to theirs for the runs.
		const pinning = options.pin === false ? undefined : cpuPinning()
		const unpin = pinning?.pinRunner()
		try {
			for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason
			for (const outcome of started) {
				if (outcome.status !== 'fulfilled') continue
				for (const { child } of outcome.value) if (child.pid !== undefined) pinning?.pinServer(child.pid)
				context.log(`HTTP: ${NAMES[(outcome.value[0] as Server).config.framework]}`)
				rows.push(...(await measureServers(context, outcome.value, options)))
			}
		} finally {
			unpin?.()
			await Promise.all(started.map((o) => (o.status === 'fulfilled' ? stopServers(context, o.value) : undefined)))
		}
		const targets: BenchTarget[] = []
		for (const framework of options.frameworks) {
			const own = rows.filter((row) => row.framework === framework)
			const memory = own.find((row) => row.variant === 'memory')
			if (!memory) continue
			targets.push(
				target(
					`${NAMES[framework]}: keyward (memory) / no auth, req/s`,
					'>= 90%',
					percent(memory.ratio),
					memory.ratio >= 0.9,
				),
			)
			const peer = own.find((row) => row.variant === PEERS[framework])
			if (peer) {
				// Round by round, like the ratios to no auth: drift on the machine hits both servers of a round alike.
				const ratio = median(memory.perRound.map((share, round) => share / (peer.perRound[round] as number)))
				targets.push(
					target(
						`${NAMES[framework]}: keyward (memory) / ${PEERS[framework]}, req/s`,
						'>= 100%',
						percent(ratio),
						ratio >= 1,
					),
				)
			}
		}
		const seconds = (ms: number) => `${ms / 1000} s`
		const ratioOf = (framework: Framework, variant: Variant) =>
			rows.find((row) => row.framework === framework && row.variant === variant)
		const listed = (variant: Variant) =>
			options.frameworks
				.map((f) => {
					const row = ratioOf(f, variant)
					return row ? `${percent(row.ratio)} (${NAMES[f]})` : undefined
				})
				.filter(Boolean)
				.join(', ')
		const markdown = [
			`Real servers on loopback, each in its own Node.js process (started with tsx and \`${SERVER_FLAGS.join(' ')}\`:`,
			"V8 otherwise sizes each process's young generation by its own history, and two identical servers then",
			'differed by up to 20% in CPU per request); autocannon runs in the',
			`runner's process with ${options.connections} connections, no pipelining, \`GET /hello\` with`,
			`\`Authorization: Bearer <key>\`, and every server answers the same \`{"hello":"world"}\`. Each store`,
			`holds ${formatNumber(options.keys)} keys (the peers and the floor: the SHA-256 of ${formatNumber(options.keys)} keys in a \`Map\`).`,
			`${pinning ? `While it measures, ${pinning.description}.` : 'The load generator and the servers are not pinned to CPUs on this machine.'}`,
			`Each server is warmed up for ${seconds(options.warmupMs)}; then come ${options.rounds} rounds. In a round, every server`,
			`with authentication takes one ${seconds(options.runMs)} run right next to a run of the no-auth server (before it in one`,
			"round, after it in the next), and its ratio for the round is its req/s over that neighbour's: this machine's",
			'speed drifts within seconds, so a ratio is only taken between two runs seconds apart. "vs no auth" is the',
			'median of those ratios and "range" the lowest and highest; the target against the peer is the median of',
			"keyward's and the peer's ratios divided round by round. req/s, p50 and p99 are medians over a server's",
			'runs. Any non-2xx answer fails the run. "server CPU µs/req" is the server process\'s CPU time (user +',
			'system, from `process.cpuUsage()`) over a run divided by the requests it answered, and "server busy" that',
			"CPU time over the run's wall time: near 100% the server is the bottleneck, below it the load generator is.",
			'',
			'Three rows are there to read the others by. **No auth, a second identical server** is measured like the',
			'rest: its ratio to the first is what noise alone does to a ratio in this run. **A no-op middleware**',
			'(`next()`, `done()` and nothing else) is what the framework charges for one more middleware, before it',
			'does anything. **The floor** is the least',
			'any check of hashed, expiring keys can cost: a hand-written hook, no library, that hashes',
			'`Bearer <key>` with `crypto.hash()`, reads a `Map` and compares the expiry with `Date.now()` (no key',
			'format, checksum, timeout or problem responses).',
			'',
			table(
				[
					'framework',
					'authentication',
					'req/s',
					'vs no auth',
					'range',
					'p50 ms',
					'p99 ms',
					'server CPU µs/req',
					'server busy',
				],
				rows.map((row) => [
					NAMES[row.framework],
					LABELS[row.variant],
					formatNumber(row.rps),
					row.variant === 'none' ? '100%' : percent(row.ratio),
					row.variant === 'none' ? '' : `${percent(row.ratioRange[0])}–${percent(row.ratioRange[1])}`,
					String(row.p50),
					String(row.p99),
					formatNumber(row.cpuUs, 1),
					percent(row.busy),
				]),
			),
			`In this run the second no-auth server kept ${listed('control')} of the first, a no-op middleware`,
			`${listed('noop')}, the floor`,
			`${listed('floor')}, and keyward on memoryStore ${listed('memory')}.`,
			'',
			`**keyward's own work per request, in isolation** (this process, memoryStore, one valid key, best of`,
			`${ISOLATED_ROUNDS} runs of ${seconds(isolatedMs)}): the check the adapters run (read the header, verify,`,
			`check scopes, note the result on the request) ${formatNumber(isolated.check, 2)} µs, of which`,
			`\`crypto.hash()\` of the key ${formatNumber(isolated.hash, 2)} µs; the public \`verify()\`, which answers a`,
			`promise, ${formatNumber(isolated.verify, 2)} µs. Compare with the server CPU per request above.`,
			'',
			"Koa has no passport binding among this project's dependencies (koa-passport is not installed), so its",
			'passport row binds `passport.authenticate()` to `ctx.req`/`ctx.res` in a few lines, the way koa-passport does.',
			'`@fastify/bearer-auth` is given an `auth()` function that looks the key up by hash, like the other rows',
			'(its `keys` option compares against every key in turn).',
			'',
			'**What was found, and fixed in the library.** Profiles of the servers',
			'(`BENCH_CPU_PROF=<dir> npm run bench -- --only http` starts every server with `--cpu-prof`):',
			'',
			'- *A timer per request.* Every verification armed its own `setTimeout` and raced it with',
			'  `Promise.race`: about 24 µs of server CPU per request in a Fastify server. The HTTP layer and the',
			'  Redis and PostgreSQL stores now share one unreferenced timer per middleware or store that checks a',
			'  queue of deadlines.',
			'- *Promises where nothing waits.* On the memory store, and on a verification-cache hit, nothing needs',
			'  I/O, yet every request went through four or five promises. `verify()` now reads the memory store',
			'  synchronously, and the adapters pass such a key in the same turn (`next()`, `done()`) without a',
			'  promise; a server store still answers a promise, bounded by the timeout. The system clock is read',
			'  with `Date.now()` instead of building a `Date` per request.',
			'- *Work nobody asked for.* A `report()` closure and two `res.once()` listeners per passing request',
			'  when no `onResult` hook was set (now only with one), and a regular expression and two trims to read',
			'  `Bearer <key>` (now a prefix check and a slice).',
			'',
			`**Why the rest of the gap stays.** keyward's own work per request is about a microsecond (above); the`,
			`SHA-256 of the key, which any hashed-key check pays, is ${percent(isolated.hash / isolated.check)} of it in this run. The rest is what the`,
			"floor leaves out: the key's format and checksum (a typo or a guess never reaches the store), a typed",
			'record with its dates, scopes, and an answer for every outcome. The servers measured here do almost',
			'nothing else, so that microsecond, and the cache misses it brings, is a visible share of a request:',
			'',
			table(
				[
					'framework',
					'no auth, CPU µs/req',
					'10% of it',
					'a no-op middleware adds',
					'the floor adds',
					'keyward (memoryStore) adds',
				],
				options.frameworks.flatMap((framework) => {
					const cpu = (variant: Variant) => ratioOf(framework, variant)?.cpuUs
					const limit = cpu('none')
					if (limit === undefined) return []
					const added = (variant: Variant) => {
						const own = cpu(variant)
						return own === undefined ? '' : `${formatNumber(own - limit, 1)} µs`
					}
					return [
						[
							NAMES[framework],
							formatNumber(limit, 1),
							`${formatNumber(limit / 10, 1)} µs`,
							added('noop'),
							added('floor'),
							added('memory'),
						],
					]
				}),
			),
			'',
			"Profiles of the servers also show the kernel's `writev` on the loopback socket taking longer per",
			'response in servers with a check than in the no-auth server: when the server, not the load generator,',
			'is the busier side, each response has to wake the load generator on the other CPU, which on a virtual',
			'machine is costly. So a check of a few µs lowers req/s by more than its own share of the CPU, for the',
			'floor and the peers as for keyward; behind a real handler (a database query, a template) the same µs',
			"are a smaller share. Left as is: to honour a route's `config.apiKey`, the Fastify hook reads",
			"`request.routeOptions`, a getter that builds a fresh object per request; Fastify's internal route",
			'context would be cheaper, but keyward keeps to the public API.',
		].join('\n')
		return { id: 'http', title: 'Middleware overhead', markdown, targets }
	}
}

const ISOLATED_ROUNDS = 5

/**
 * keyward's per-request work without a server, on a memory store with one valid key, best of
 * {@link ISOLATED_ROUNDS} runs each (the least disturbed by other work): the check the adapters run
 * per request (`createCheck()`, answered at once on the memory store), the SHA-256 inside it, and the
 * public `verify()`, which answers a promise. Microseconds per call.
 */
async function isolatedCost(ms: number): Promise<{ check: number; hash: number; verify: number }> {
	const keyward = createKeyward({ store: memoryStore(), prefix: 'sk' })
	const { key } = await keyward.issue({ ownerId: 'owner', expiresIn: '30d' })
	const check = createCheck<object>(keyward, {}, 'bench')
	const headers = { authorization: `Bearer ${key}` }
	const bestOf = async (run: () => Promise<number>) => {
		let fastest = Number.POSITIVE_INFINITY
		for (let round = 0; round < ISOLATED_ROUNDS; round++) fastest = Math.min(fastest, await run())
		return fastest
	}
	const asynchronous = (operation: () => Promise<unknown>) => async () => {
		const run = await throughput(operation, { ms, inFlight: 1 })
		return (run.ms / run.ops) * 1000
	}
	// Synchronous calls in batches of 1,000 between clock reads; a yield between batches keeps the loop fair.
	const synchronous = (operation: () => unknown) => async () => {
		let calls = 0
		const start = performance.now()
		while (performance.now() - start < ms) {
			for (let i = 0; i < 1000; i++) operation()
			calls += 1000
			await new Promise((resolve) => setImmediate(resolve))
		}
		return ((performance.now() - start) / calls) * 1000
	}
	const checkOnce = () => check({}, headers, '/hello', {}, undefined)
	if (checkOnce() instanceof Promise) throw new Error('the memory store should be checked without a promise')
	await bestOf(synchronous(checkOnce)) // warm-up
	return {
		check: await bestOf(synchronous(checkOnce)),
		hash: await bestOf(synchronous(() => hashKey(key))),
		verify: await bestOf(asynchronous(() => keyward.verify(key))),
	}
}

/** The HTTP section at the runner's size. */
const http: BenchModule = (context) => httpBench(context.quick ? HTTP_QUICK : HTTP_FULL)(context)
export default http

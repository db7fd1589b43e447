/**
 * Middleware overhead: requests per second and latency of real Express, Fastify and Koa servers on
 * loopback, each in its own process, with no authentication (the limit), keyward on each server
 * store, and the peer a user would pick instead. autocannon runs in this process.
 */
import autocannon from 'autocannon'
import pg from 'pg'
import { createAuthenticator } from '../src/http.js'
import { createKeyward, memoryStore } from '../src/index.js'
import type { Framework, ServerConfig, ServerReady, Variant } from './http-server.js'
import { dropSchema, nextMessage, startChild, stopChild, uniqueName, wipeRedisNamespace } from './servers.js'
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
}

/** The full run. */
export const HTTP_FULL: HttpBenchOptions = {
	frameworks: ['express', 'fastify', 'koa'],
	keys: 2000,
	warmupMs: 2000,
	runMs: 1500,
	rounds: 7,
	connections: 32,
}

/** `--quick`. */
export const HTTP_QUICK: HttpBenchOptions = {
	frameworks: ['express', 'fastify', 'koa'],
	keys: 200,
	warmupMs: 500,
	runMs: 600,
	rounds: 3,
	connections: 32,
}

const PEERS: Record<Framework, Variant> = { express: 'passport', fastify: 'bearer-auth', koa: 'passport' }

const LABELS: Record<Variant, string> = {
	none: 'no auth (the limit)',
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
	/** The median over rounds of (this server's req/s ÷ the no-auth server's req/s in the same round). */
	readonly ratio: number
}

/** A running server process of the benchmark. */
export interface Server {
	readonly variant: Variant
	readonly child: ReturnType<typeof startChild>
	readonly config: ServerConfig
	ready?: ServerReady
}

async function load(server: Server, connections: number, ms: number): Promise<Run> {
	const ready = server.ready as ServerReady
	const cpu = async () => {
		server.child.send('cpu')
		const usage = await nextMessage<NodeJS.CpuUsage>(server.child, 10_000)
		return usage.user + usage.system
	}
	const before = await cpu()
	const result = await autocannon({
		url: `http://127.0.0.1:${ready.port}/hello`,
		connections,
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
	const all: Variant[] = ['none', 'memory', 'redis', 'postgres', PEERS[framework]]
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
		return { variant, config, child: startChild('http-server.ts', [JSON.stringify(config)]) }
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
 * Measures one framework's running servers: warms each up, then runs `rounds` rounds in which
 * every server takes one measured run (the order rotates each round).
 *
 * @param context - the runner's context
 * @param servers - one framework's servers, from {@link startServers}
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
	for (const server of servers) await load(server, options.connections, options.warmupMs)
	const runs = new Map<Variant, Run[]>(servers.map((server) => [server.variant, []]))
	for (let round = 0; round < options.rounds; round++) {
		context.log(`  ${NAMES[framework]}: round ${round + 1} of ${options.rounds}`)
		for (let i = 0; i < servers.length; i++) {
			const server = servers[(i + round) % servers.length] as Server
			runs.get(server.variant)?.push(await load(server, options.connections, options.runMs))
		}
	}
	const limit = runs.get('none') as Run[]
	return servers.map(({ variant }) => {
		const own = runs.get(variant) as Run[]
		return {
			framework,
			variant,
			rps: median(own.map((run) => run.rps)),
			p50: median(own.map((run) => run.p50)),
			p99: median(own.map((run) => run.p99)),
			cpuUs: median(own.map((run) => run.cpuUs)),
			ratio: median(own.map((run, round) => run.rps / (limit[round] as Run).rps)),
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
		try {
			for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason
			for (const outcome of started) {
				if (outcome.status !== 'fulfilled') continue
				context.log(`HTTP: ${NAMES[(outcome.value[0] as Server).config.framework]}`)
				rows.push(...(await measureServers(context, outcome.value, options)))
			}
		} finally {
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
				const ratio = memory.rps / peer.rps
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
		const markdown = [
			`Real servers on loopback, each in its own Node.js process (started with tsx); autocannon runs in the`,
			`runner's process with ${options.connections} connections, no pipelining, \`GET /hello\` with`,
			`\`Authorization: Bearer <key>\`, and every server answers the same \`{"hello":"world"}\`. Each store`,
			`holds ${formatNumber(options.keys)} keys (the peers: the SHA-256 of ${formatNumber(options.keys)} keys in a \`Map\`).`,
			`Each server is warmed up for ${seconds(options.warmupMs)}; then, in each of ${options.rounds} rounds, every`,
			`server of a framework takes one ${seconds(options.runMs)} run, in turn. The table gives medians over`,
			`the rounds; "vs no auth" is the median of the per-round ratios to the no-auth server of the same round.`,
			`Any non-2xx answer fails the run. "server CPU µs/req" is the server process's CPU time (user + system,`,
			'from `process.cpuUsage()`) over a run divided by the requests it answered: less sensitive than req/s',
			'to other work on the machine.',
			'',
			table(
				['framework', 'authentication', 'req/s', 'vs no auth', 'p50 ms', 'p99 ms', 'server CPU µs/req'],
				rows.map((row) => [
					NAMES[row.framework],
					LABELS[row.variant],
					formatNumber(row.rps),
					row.variant === 'none' ? '100%' : percent(row.ratio),
					String(row.p50),
					String(row.p99),
					formatNumber(row.cpuUs, 1),
				]),
			),
			`**keyward's own work per request, in isolation** (this process, memoryStore, one valid key, best of`,
			`${ISOLATED_ROUNDS} runs of ${seconds(isolatedMs)}): \`verify()\` ${formatNumber(isolated.verify, 2)} µs; the adapters' shared check`,
			`(\`createAuthenticator()\`: read the header, verify with a timeout, check scopes, note the result on the`,
			`request) ${formatNumber(isolated.authenticate, 2)} µs. Compare with the server CPU per request above.`,
			'',
			"Koa has no passport binding among this project's dependencies (koa-passport is not installed), so its",
			'passport row binds `passport.authenticate()` to `ctx.req`/`ctx.res` in a few lines, the way koa-passport does.',
			'`@fastify/bearer-auth` is given an `auth()` function that looks the key up by hash, like the other rows',
			'(its `keys` option compares against every key in turn).',
			'',
			'**What changed to get here.** Profiles of the servers (`BENCH_CPU_PROF=<dir> npm run bench -- --only http`,',
			"which starts every server with `--cpu-prof`) showed keyward's own per-request work (`verify()`: format",
			"and checksum, one SHA-256, one `Map` read; then the HTTP mapping) at a few percent of the server's CPU.",
			'Three costs of the HTTP layer were removed from that path: every request armed its own `setTimeout`',
			'for the verification timeout and raced it with `Promise.race` (now one shared, unreferenced timer per',
			'middleware checks a queue of deadlines); every passing request built a `report()` closure and the',
			'Express adapter added two `res.once()` listeners even when no `onResult` hook was set (now only with',
			'`onResult`); and `Authorization: Bearer <key>` was read with a regular expression and two trims (a',
			"plain `Bearer <key>` now takes a prefix check and a slice). The Fastify adapter's hook is a callback",
			'hook instead of an `async` one, and passes no per-request context object on routes without scopes of',
			"their own. Left as is: to honour a route's `config.apiKey`, the Fastify hook reads",
			"`request.routeOptions`, a getter that builds a fresh object on every read; Fastify's internal route",
			'context would be cheaper, but keyward keeps to the public API.',
			'',
			"**Not explained yet.** keyward's own work (a few µs, above) is much less than the extra server CPU per",
			'request of the keyward rows over the no-auth rows, and the memoryStore servers can spend more CPU per',
			'request than the redisStore servers, whose `verify()` does more work. Profiles of Koa servers put the',
			"difference mostly in the kernel's socket writes (`writev`, time per request higher for memoryStore",
			'servers, whose verification finishes within the same event-loop turn, than for redisStore servers,',
			"whose responses go out in batches as Redis answers) and in the framework, not in keyward's functions.",
			'A run on a machine shared with other work also carries noise; the targets above are reported as',
			'measured, and this gap is left for a follow-up.',
		].join('\n')
		return { id: 'http', title: 'Middleware overhead', markdown, targets }
	}
}

const ISOLATED_ROUNDS = 5

/**
 * keyward's per-request work without a server: `verify()` and the adapters' `authenticate()` on a
 * memory store, sequentially, best of {@link ISOLATED_ROUNDS} runs (the least disturbed by other work).
 */
async function isolatedCost(ms: number): Promise<{ verify: number; authenticate: number }> {
	const keyward = createKeyward({ store: memoryStore(), prefix: 'sk' })
	const { key } = await keyward.issue({ ownerId: 'owner', expiresIn: '30d' })
	const authenticate = createAuthenticator<object>(keyward, {}, 'bench')
	const headers = { authorization: `Bearer ${key}` }
	const best = async (operation: () => Promise<unknown>) => {
		let fastest = Number.POSITIVE_INFINITY
		for (let round = 0; round < ISOLATED_ROUNDS; round++) {
			const run = await throughput(operation, { ms, inFlight: 1 })
			fastest = Math.min(fastest, run.ms / run.ops)
		}
		return fastest * 1000
	}
	await best(() => keyward.verify(key)) // warm-up
	const verify = await best(() => keyward.verify(key))
	const check = await best(() => authenticate({}, headers, '/hello', { carrier: {} }))
	return { verify, authenticate: check }
}

/** The HTTP section at the runner's size. */
const http: BenchModule = (context) => httpBench(context.quick ? HTTP_QUICK : HTTP_FULL)(context)
export default http

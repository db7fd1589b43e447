/**
 * The shape every benchmark module shares. `bench/run.ts` runs the modules in order, prints each
 * target next to what was measured, and writes docs/benchmarks.md (plus any SVG files) from the sections.
 */

/** What the runner gives each module. */
export interface BenchContext {
	/** `npm run bench -- --quick`: smaller counts and fewer repeats, the whole suite in under two minutes. */
	readonly quick: boolean
	/** Redis server to measure against (REDIS_URL, default redis://127.0.0.1:6379). */
	readonly redisUrl: string
	/** PostgreSQL server to measure against (DATABASE_URL, default postgres://root@127.0.0.1:5432/test). */
	readonly databaseUrl: string
	/** Progress output for the terminal; not written to the docs. */
	log(line: string): void
}

/** A target from the issue, next to what this run measured. */
export interface BenchTarget {
	/** What is measured, e.g. "Express: keyward (memory) / no auth, req/s". */
	readonly name: string
	/** The target as stated, e.g. ">= 90%". */
	readonly target: string
	/** What this run measured, e.g. "94.1%". */
	readonly measured: string
	readonly met: boolean
}

/** One section of docs/benchmarks.md. */
export interface BenchSection {
	/** Stable id, used as the anchor and for file names (e.g. "sweep"). */
	readonly id: string
	/** Heading of the section. */
	readonly title: string
	/** Markdown body: method, tables, findings. Generated from the measurements, never hand-written numbers. */
	readonly markdown: string
	/** Extra files to write next to docs/benchmarks.md, such as `benchmarks-sweep.svg`. */
	readonly files?: readonly { readonly name: string; readonly content: string }[]
	readonly targets: readonly BenchTarget[]
}

/** A benchmark module: measures, and answers its section. */
export type BenchModule = (context: BenchContext) => Promise<BenchSection>

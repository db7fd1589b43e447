import { defineConfig } from 'tsup'

export default defineConfig({
	entry: {
		index: 'src/index.ts',
		testing: 'src/testing/index.ts',
		express: 'adapters/express.ts',
		fastify: 'adapters/fastify.ts',
		koa: 'adapters/koa.ts',
		redis: 'adapters/redis.ts',
		postgres: 'adapters/postgres.ts',
		cache: 'adapters/cache.ts',
		cli: 'cli/main.ts',
	},
	format: ['esm', 'cjs'],
	target: 'node20',
	dts: true,
	clean: true,
	sourcemap: true,
	minify: false,
	// Without splitting, each CommonJS entry bundles its own copy of the core and of KeywardError.
	splitting: true,
	tsconfig: 'tsconfig.build.json',
})

import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
	resolve: {
		alias: [
			{ find: /^keyward\/testing$/, replacement: here('./src/testing/index.ts') },
			{ find: /^keyward\/(express|fastify|koa|redis|postgres|cache)$/, replacement: here('./adapters/$1.ts') },
			{ find: /^keyward$/, replacement: here('./src/index.ts') },
		],
	},
	test: {
		include: ['tests/**/*.test.ts'],
		// A plain JSON report next to the usual output: .ci/run turns it into an "N passed, N failed" line.
		reporters: ['default', ['json', { outputFile: '.vitest/report.json' }]],
		testTimeout: 20_000,
	},
})

#!/usr/bin/env node
/**
 * The `keyward` binary (package.json `bin`). See docs/cli.md.
 * @packageDocumentation
 */
import { runCli } from './program.js'

runCli(process.argv.slice(2)).then(
	(code) => {
		// No process.exit(): every store is closed, so the process ends by itself once stdout is flushed.
		process.exitCode = code
	},
	(error: unknown) => {
		process.stderr.write(`keyward: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`)
		process.exitCode = 1
	},
)

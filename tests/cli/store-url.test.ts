import { describe, expect, it } from 'vitest'
import { CliError, EXIT } from '../../cli/errors.js'
import { parseStoreUrl, redactUrl, scrubSecrets } from '../../cli/store-url.js'

describe('redactUrl', () => {
	it.each([
		['redis://:s3cret@cache:6379/0', 'redis://:***@cache:6379/0'],
		['rediss://user:s3cret@cache.example.com:6380', 'rediss://user:***@cache.example.com:6380'],
		['postgres://app:p%40ss%2Fword@db:5432/app?sslmode=require', 'postgres://app:***@db:5432/app?sslmode=require'],
		[
			'postgres://app@db/app?password=s3cret&application_name=x',
			'postgres://app@db/app?password=***&application_name=x',
		],
		['postgresql://db/app?sslpassword=s3cret', 'postgresql://db/app?sslpassword=***'],
		['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
		['sqlite://./keys.db', 'sqlite://./keys.db'],
	])('shows %s as %s', (url, shown) => {
		expect(redactUrl(url)).toBe(shown)
		expect(redactUrl(url)).not.toContain('s3cret')
	})

	it('does not show a value that is not a URL at all (it may be a password pasted in the wrong place)', () => {
		expect(redactUrl('hunter2')).not.toContain('hunter2')
		expect(redactUrl('redis://:pw@bad host')).not.toContain('pw')
	})
})

describe('scrubSecrets', () => {
	it('removes the URL and its password, raw and decoded, from any text', () => {
		const url = 'postgres://app:p%40ss@db/app?password=other'
		const text = `failed to connect to ${url} as app with p@ss, p%40ss and other`
		const scrubbed = scrubSecrets(text, url)
		expect(scrubbed).not.toMatch(/p@ss|p%40ss|other/)
		expect(scrubbed).toContain('postgres://app:***@db/app?password=***')
	})
})

describe('parseStoreUrl', () => {
	it('classifies the supported schemes', () => {
		expect(parseStoreUrl('redis://h:1').kind).toBe('redis')
		expect(parseStoreUrl('rediss://h:1').kind).toBe('redis')
		expect(parseStoreUrl('postgres://h/db').kind).toBe('postgres')
		expect(parseStoreUrl('postgresql://h/db').kind).toBe('postgres')
		expect(parseStoreUrl('sqlite:///var/lib/keys.db')).toMatchObject({ kind: 'sqlite', file: '/var/lib/keys.db' })
		expect(parseStoreUrl('sqlite://./keys.db').file).toBe(`${process.cwd()}/keys.db`)
	})

	it.each([undefined, '', 'mysql://u:s3cret@h/db', 'not a url s3cret', 'sqlite://', 'sqlite://:memory:'])(
		'refuses %s as a usage error that never shows a password',
		(url) => {
			let error: unknown
			try {
				parseStoreUrl(url)
			} catch (caught) {
				error = caught
			}
			expect(error).toBeInstanceOf(CliError)
			expect((error as CliError).exitCode).toBe(EXIT.usage)
			expect((error as CliError).message).not.toContain('s3cret')
		},
	)
})

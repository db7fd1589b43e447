import type { IssueOptions } from '../src/index.js'

/**
 * What every issued key of the benchmarks carries (the same in every run): one of 1,000 owners, a
 * name, a 30-day expiry and one scope.
 *
 * @param index - the key's sequence number
 * @returns the options for `keyward.issue()`
 * @example
 * ```ts
 * await keyward.issue(ISSUE_FIELDS(0))
 * ```
 */
export const ISSUE_FIELDS = (index: number): IssueOptions => ({
	ownerId: `owner-${index % 1000}`,
	name: 'bench key',
	expiresIn: '30d',
	scopes: ['read'],
})

export type { VerifyCache } from './cache.js'
export { hashKey } from './crypto.js'
export { type Duration, type DurationUnit, parseDuration } from './duration.js'
export { isKeywardError, KeywardError, type KeywardErrorCode } from './errors.js'
export {
	type ApiKeyOptions,
	type AuthContext,
	type Authenticate,
	type AuthOutcome,
	createAuthenticator,
	type HttpOutcomeCode,
	type HttpProblemResponse,
	type HttpResultEvent,
	type IncomingHeaders,
	type ProblemBody,
	readKey,
} from './http.js'
export type { IssuedKey, IssueOptions } from './issue.js'
export { ALPHABET, BODY_LENGTH, CHECKSUM_LENGTH, type ParsedKey, parseKey } from './key-format.js'
export { createKeyward, type ExpiringOptions, type Keyward, type ListOptions } from './keyward.js'
export type { KeywardOptions } from './options.js'
export {
	type BlacklistedKeyRecord,
	type BlacklistReason,
	isExpiredAt,
	type KeyMetadata,
	type KeyRecord,
	type KeyRecordJSON,
	recordFromJSON,
	recordToJSON,
} from './record.js'
export type { RevokeOptions } from './revoke.js'
export type { RotateOptions } from './rotate.js'
export type { BlacklistOutcome, KeyRecordPatch, KeyStore, StoreCapabilities } from './store.js'
export { type KeyvLike, type KeyvStoreOptions, keyvStore } from './stores/keyv.js'
export { memoryStore } from './stores/memory.js'
export { type SweepOptions, type SweepReport, sweep } from './sweep.js'
export type { VerifyFailureCode, VerifyOptions, VerifyResult } from './verify.js'

/** Timings and formats of the auth module, in one place (the contract's numbers, see README). */

/** JWT lifetime: 24 h (contract §5). */
export const JWT_TTL_SECONDS = 24 * 60 * 60;

/**
 * Positive Redis cache entries (valid key, known user). Short on purpose: a revocation committed in
 * PostgreSQL while Redis could not be updated (an outage) leaves the old "valid" entry behind, and
 * this bounds how long it can be trusted once Redis is back. One PostgreSQL read per active key
 * and minute for the whole cluster is the price (it was 1 h).
 */
export const REDIS_POSITIVE_TTL_MS = 60 * 1000;
/** "Revoked" is final, so it may be kept long (it saves PostgreSQL a read per use of a dead key). */
export const REDIS_REVOKED_TTL_MS = 60 * 60 * 1000;
/** Negative Redis entries (unknown key): long enough that a repeated bad key cannot hammer PostgreSQL. */
export const REDIS_NEGATIVE_TTL_MS = 5 * 1000;
/**
 * In-process cache lifetime, counted from the moment the lookup started. Pub/sub invalidation
 * normally evicts at once; this bound alone keeps revocation within 1 s if a message is lost.
 */
export const LOCAL_CACHE_TTL_MS = 1000;
/** Upper bound on in-process entries (keys + users). */
export const LOCAL_CACHE_MAX_ENTRIES = 50_000;

/** `lastUsedAt` is written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60 * 1000;
/** How often pending `lastUsedAt` marks are flushed to PostgreSQL (one UPDATE per flush). */
export const LAST_USED_FLUSH_INTERVAL_MS = 10 * 1000;

/**
 * Unknown API keys one client IP may have looked up in PostgreSQL per window, per API process.
 * Beyond it, keys that Redis does not know are refused with 429 without a lookup: random keys
 * would otherwise cost a query each (the negative cache only helps against a repeated key), and
 * a flood of them would take the pool from logins and new keys. Known keys are not affected.
 */
export const UNKNOWN_KEY_LOOKUPS_PER_WINDOW = 20;
export const UNKNOWN_KEY_WINDOW_MS = 60 * 1000;
/** A key found valid within this long is exempt from that budget (see CachedApiKeyVerifier). */
export const RECENTLY_VALID_MS = 10 * 60 * 1000;

/** Auth endpoints: requests per window per client IP (contract §5). */
export const AUTH_RATE_LIMIT = 100;
export const AUTH_RATE_WINDOW_MS = 60 * 1000;

export const PASSWORD_MIN_LENGTH = 12;
/** Bounds the work one login can cause (scrypt input) and the body size of a login. */
export const PASSWORD_MAX_LENGTH = 1024;
export const EMAIL_MAX_LENGTH = 254;

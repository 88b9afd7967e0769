import { createHash, randomBytes } from 'node:crypto';

export const API_KEY_PREFIX = 'evp_';
/** `evp_` + 32 random bytes in base64url (43 characters, no padding). */
const API_KEY_FORMAT = /^evp_[A-Za-z0-9_-]{43}$/;
/** Characters shown in key lists: enough to tell keys apart, far too few to guess the rest. */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;

export interface NewApiKeySecret {
  /** The key itself: returned to the caller once, never stored. */
  key: string;
  /** SHA-256 hex of the key: what PostgreSQL and Redis hold. */
  keyHash: string;
  /** Display prefix, e.g. `evp_AbCd1234`. */
  prefix: string;
}

export function generateApiKey(): NewApiKeySecret {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, keyHash: hashApiKey(key), prefix: key.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/**
 * SHA-256 is enough for keys (unlike passwords): they carry 256 bits of entropy, so there is
 * nothing to brute-force, and the hot path needs a hash that costs a microsecond.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Cheap shape check: anything else is refused without touching Redis or PostgreSQL. */
export const isWellFormedApiKey = (value: string): boolean => API_KEY_FORMAT.test(value);

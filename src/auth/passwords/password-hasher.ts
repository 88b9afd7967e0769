import { randomBytes, scrypt, ScryptOptions, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';

/** scrypt cost: N=2^15, r=8, p=1 needs 32 MiB and tens of milliseconds per hash (memory-hard). */
const DEFAULT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_BYTES = 16;
const PREFIX = 'scrypt';

/** Optional provider overriding the cost (tests of the hasher itself only). */
export const SCRYPT_PARAMS = Symbol('SCRYPT_PARAMS');

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

const scryptAsync = (password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    // maxmem must exceed 128*N*r (Node's default limit is exactly 32 MiB).
    const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 };
    scrypt(password.normalize('NFKC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });

/**
 * Password hashing with scrypt from node:crypto. The stored form carries its parameters
 * (`scrypt$N$r$p$salt$hash`, base64url) so the cost can be raised later without breaking
 * existing hashes. Verification is constant-time and also used, against a dummy hash, for
 * unknown emails so that both failures cost the same.
 */
@Injectable()
export class PasswordHasher {
  private dummyHash?: Promise<string>;

  private readonly params: ScryptParams;

  constructor(@Optional() @Inject(SCRYPT_PARAMS) params?: ScryptParams) {
    this.params = params ?? DEFAULT_PARAMS;
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await scryptAsync(password, salt, KEY_LENGTH, this.params);
    const { N, r, p } = this.params;
    return [PREFIX, N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
  }

  /** True when `password` matches `stored`; false for a wrong password or a malformed hash. */
  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = parse(stored);
    if (!parsed) return false;
    const key = await scryptAsync(password, parsed.salt, parsed.hash.length, parsed.params);
    return key.length === parsed.hash.length && timingSafeEqual(key, parsed.hash);
  }

  /** Spends the same work as `verify` for a user that does not exist; always false. */
  async verifyDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash(randomBytes(16).toString('hex'));
    await this.verify(password, await this.dummyHash);
    return false;
  }
}

function parse(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  // Refuse absurd parameters from a tampered row rather than allocating gigabytes.
  if (!Number.isInteger(N) || N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0) return undefined;
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(parts[4], 'base64url');
  const hash = Buffer.from(parts[5], 'base64url');
  if (salt.length < 8 || hash.length < 16) return undefined;
  return { params: { N, r, p }, salt, hash };
}

import { createHash } from 'node:crypto';
import { generateApiKey, hashApiKey, isWellFormedApiKey } from './api-key-secret';

describe('API key secrets', () => {
  it('are evp_ + 32 random bytes base64url, stored only as SHA-256 hex, listed by a short prefix', () => {
    const { key, keyHash, prefix } = generateApiKey();
    expect(key).toMatch(/^evp_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.slice(4), 'base64url')).toHaveLength(32);
    expect(keyHash).toBe(createHash('sha256').update(key).digest('hex'));
    expect(hashApiKey(key)).toBe(keyHash);
    expect(prefix).toBe(key.slice(0, 12));
    expect(generateApiKey().key).not.toBe(key);
  });

  it('rejects anything that is not shaped like a key before any lookup', () => {
    expect(isWellFormedApiKey(generateApiKey().key)).toBe(true);
    for (const bad of ['', 'evp_', 'evp_short', `xyz_${'a'.repeat(43)}`, `evp_${'a'.repeat(44)}`, `evp_${'a'.repeat(42)}!`, `evp_${'a'.repeat(43)}\n`]) {
      expect(isWellFormedApiKey(bad)).toBe(false);
    }
  });
});

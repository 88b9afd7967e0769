import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { AuthCacheStore } from '../../src/auth/cache/auth-cache.store';
import { userStateVersion, VERSION_REVOKED } from '../../src/auth/cache/auth-cache.types';
import { apiKeySnapshot, REVOKED_API_KEY, UNKNOWN_API_KEY } from '../../src/auth/cache/snapshots';
import { RedisThrottlerStorage } from '../../src/auth/rate-limit/redis-throttler.storage';
import { RedisScript } from '../../src/auth/redis-script';
import { RedisKeys } from '../../src/redis/redis-keys';
import { TEST_REDIS_BASE } from '../support/test-env';

/** The Redis scripts of the auth module against a real Redis (DB 7): cache versions, rate-limit window. */
const REDIS_DB = 7;

describe('auth Redis scripts (real Redis)', () => {
  const redis = new Redis(`${TEST_REDIS_BASE}/${REDIS_DB}`);
  const keys = new RedisKeys('events_stream', 1);
  const store = new AuthCacheStore(redis, keys);
  const hash = () => randomBytes(32).toString('hex');
  const owner = (authVersion: number, status: 'ACTIVE' | 'DISABLED' = 'ACTIVE') => ({
    id: '7d7b0c4e-0000-4000-8000-000000000001',
    email: 'o@example.test',
    name: 'O',
    role: 'OPERATOR' as const,
    status,
    authVersion,
    sessionVersion: 0,
  });
  const keyRow = { id: '7d7b0c4e-0000-4000-8000-0000000000aa', userId: owner(0).id, expiresAt: null, revokedAt: null };

  afterAll(() => redis.disconnect());

  describe('AuthCacheStore: an entry is never replaced by an older version', () => {
    it('a slow cache fill cannot bring back a revoked key (revoked is terminal)', async () => {
      const h = hash();
      expect(await store.putApiKey(h, REVOKED_API_KEY)).toBe(true);
      // A request that read PostgreSQL before the revocation now tries to cache "valid".
      expect(await store.putApiKey(h, apiKeySnapshot(keyRow, owner(5)))).toBe(false);
      expect(await store.getApiKey(h)).toEqual({ version: VERSION_REVOKED, value: { state: 'revoked' } });
      expect(await redis.pttl(keys.authApiKey(h))).toBeGreaterThan(59 * 60 * 1000);
    });

    it('a user change (higher auth version) replaces the entry; an older snapshot does not', async () => {
      const h = hash();
      expect(await store.putApiKey(h, apiKeySnapshot(keyRow, owner(1)))).toBe(true);
      expect(await store.putApiKey(h, apiKeySnapshot(keyRow, owner(2, 'DISABLED')))).toBe(true);
      expect(await store.putApiKey(h, apiKeySnapshot(keyRow, owner(1)))).toBe(false);
      expect(await store.putApiKey(h, apiKeySnapshot(keyRow, owner(2)))).toBe(false); // same version: first write wins
      const entry = await store.getApiKey(h);
      expect(entry).toMatchObject({ version: userStateVersion(2), value: { state: 'valid', status: 'DISABLED' } });
    });

    it('negative entries are short-lived and never override a known key', async () => {
      const h = hash();
      expect(await store.putApiKey(h, UNKNOWN_API_KEY)).toBe(true);
      const ttl = await redis.pttl(keys.authApiKey(h));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(5000);
      expect(await store.putApiKey(h, apiKeySnapshot(keyRow, owner(0)))).toBe(true);
      expect(await store.putApiKey(h, UNKNOWN_API_KEY)).toBe(false);
    });

    it('RedisScript runs a script the server has never seen (EVALSHA → NOSCRIPT → EVAL), then by SHA', async () => {
      // A unique source: its SHA is unknown to the server (no SCRIPT FLUSH on the shared Redis).
      const script = new RedisScript(`-- ${hash()}\nreturn ARGV[1] .. KEYS[1]`);
      const evalSpy = jest.spyOn(redis, 'eval');
      expect(await script.run(redis, ['k'], ['v'])).toBe('vk');
      expect(evalSpy).toHaveBeenCalledTimes(1);
      expect(await script.run(redis, ['k2'], ['v2'])).toBe('v2k2');
      expect(evalSpy).toHaveBeenCalledTimes(1);
      evalSpy.mockRestore();
    });
  });

  describe('RedisThrottlerStorage: one atomic fixed window per key', () => {
    const storage = new RedisThrottlerStorage(redis);

    it('counts hits in a window, blocks beyond the limit and reports the remaining seconds', async () => {
      const key = keys.authRateLimit(`test-${hash().slice(0, 8)}`);
      for (let i = 1; i <= 3; i++) {
        expect(await storage.increment(key, 60_000, 3, 60_000)).toEqual({ totalHits: i, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
      }
      const blocked = await storage.increment(key, 60_000, 3, 60_000);
      expect(blocked).toMatchObject({ totalHits: 4, isBlocked: true });
      expect(blocked.timeToBlockExpire).toBeGreaterThanOrEqual(59);
      expect(blocked.timeToBlockExpire).toBeLessThanOrEqual(60);
    });

    it('the window expires (a new one starts) and a longer block duration stretches it once', async () => {
      const short = keys.authRateLimit(`test-${hash().slice(0, 8)}`);
      await storage.increment(short, 200, 1, 200);
      expect((await storage.increment(short, 200, 1, 200)).isBlocked).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(await storage.increment(short, 200, 1, 200)).toMatchObject({ totalHits: 1, isBlocked: false });

      const stretched = keys.authRateLimit(`test-${hash().slice(0, 8)}`);
      await storage.increment(stretched, 1000, 1, 30_000);
      const blocked = await storage.increment(stretched, 1000, 1, 30_000);
      expect(blocked.isBlocked).toBe(true);
      expect(blocked.timeToBlockExpire).toBe(30);
      expect((await storage.increment(stretched, 1000, 1, 30_000)).timeToBlockExpire).toBe(30);
    });

    it('is atomic under concurrency: 200 parallel hits give exactly 200 distinct counts', async () => {
      const key = keys.authRateLimit(`test-${hash().slice(0, 8)}`);
      const results = await Promise.all(Array.from({ length: 200 }, () => storage.increment(key, 60_000, 100, 60_000)));
      const counts = results.map((r) => r.totalHits).sort((x, y) => x - y);
      expect(counts).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(results.filter((r) => r.isBlocked)).toHaveLength(100);
    });
  });
});

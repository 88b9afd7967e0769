import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { FixedWindows } from './fixed-windows';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/** The in-process fallback while Redis is unreachable (the Redis path: auth.e2e-spec's rate-limit tests). */
describe('RedisThrottlerStorage without Redis', () => {
  let failure: Error;
  let storage: RedisThrottlerStorage;

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    failure = new Error('Connection is closed.');
    const redis = {
      evalsha: async () => {
        throw failure;
      },
    } as unknown as Redis;
    storage = new RedisThrottlerStorage(redis);
  });
  afterEach(() => jest.useRealTimers());

  it('counts a fixed window per key in this process, blocks past the limit, and starts over after it', async () => {
    for (let i = 1; i <= 3; i++) expect(await storage.increment('k', 60_000, 3, 60_000)).toMatchObject({ totalHits: i, isBlocked: false, timeToExpire: 60 });
    expect(await storage.increment('other', 60_000, 3, 60_000)).toMatchObject({ totalHits: 1, isBlocked: false });
    jest.advanceTimersByTime(20_000);
    expect(await storage.increment('k', 60_000, 3, 60_000)).toMatchObject({ totalHits: 4, isBlocked: true, timeToBlockExpire: 60 });
    jest.advanceTimersByTime(59_999);
    expect(await storage.increment('k', 60_000, 3, 60_000)).toMatchObject({ isBlocked: true, timeToBlockExpire: 1 });
    jest.advanceTimersByTime(1);
    expect(await storage.increment('k', 60_000, 3, 60_000)).toMatchObject({ totalHits: 1, isBlocked: false });
  });

  it('keeps at most 10,000 trackers, dropping the oldest tenth when full', async () => {
    for (let i = 0; i < 10_000; i++) await storage.increment(`ip${i}`, 60_000, 100, 60_000);
    expect(storage.local.size).toBe(10_000);
    await storage.increment('ip10000', 60_000, 100, 60_000);
    expect(storage.local.size).toBe(9_001);
    expect(storage.local.has('ip999')).toBe(false);
    expect(storage.local.has('ip1000')).toBe(true);
    expect(storage.local.has('ip10000')).toBe(true);
  });

  it('does not hide a Redis error that is not about reaching Redis', async () => {
    failure = new Error('ERR user_script:3: something is wrong');
    await expect(storage.increment('k', 60_000, 3, 60_000)).rejects.toThrow(/user_script/);
  });
});

describe('FixedWindows.touch', () => {
  it('keeps a key seen again and again, and lets one not seen for windowMs go', () => {
    const w = new FixedWindows(10);
    w.touch('k', 1_000, 0);
    w.touch('k', 1_000, 900);
    expect(w.has('k', 1_800)).toBe(true); // a hit-based window would have ended at 1,000
    expect(w.has('k', 1_900)).toBe(false);
  });
});

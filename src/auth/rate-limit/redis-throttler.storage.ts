import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { isRedisTransientError } from '../../redis/redis-errors';
import { REDIS_CLIENT } from '../../redis/redis.tokens';
import { RateLimitedWarning } from '../credentials/redis-failure-log';
import { RedisScript } from '../redis-script';
import { FixedWindows } from './fixed-windows';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * Fixed-window counter in one Redis key, atomically (one round trip): INCR, start the window on
 * the first hit, and when the limit is first exceeded stretch the key to the block duration.
 * Returns hits and the key's remaining time in ms.
 */
const INCREMENT = new RedisScript(`
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if hits == tonumber(ARGV[2]) + 1 and tonumber(ARGV[3]) > ttl then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  ttl = tonumber(ARGV[3])
end
return {hits, ttl}`);

/**
 * @nestjs/throttler storage in Redis, so a limit holds across API replicas. `key` is the full
 * Redis key (built with RedisKeys by the guard). ttl and blockDuration are in ms; the record's
 * times are in seconds, as the throttler expects (Retry-After).
 *
 * While Redis is unreachable the same windows are counted in this process instead: the limit then
 * holds per replica rather than across them, which beats answering every auth request — login,
 * which needs only PostgreSQL, included — with 503 for as long as Redis is down.
 */
@Injectable()
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly warning = new RateLimitedWarning(new Logger('auth'), 'Redis unavailable for the auth rate limit; counting in this process');
  /** The fallback's windows (at most 10,000 client IPs). */
  readonly local = new FixedWindows();

  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async increment(key: string, ttl: number, limit: number, blockDuration: number): Promise<ThrottlerStorageRecord> {
    let hits: number;
    let ttlMs: number;
    try {
      [hits, ttlMs] = (await INCREMENT.run(this.redis, [key], [ttl, limit, blockDuration])) as [number, number];
    } catch (err) {
      if (!isRedisTransientError(err)) throw err;
      this.warning.warn(err);
      [hits, ttlMs] = this.local.hit(key, ttl, Date.now(), limit, blockDuration);
    }
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    const isBlocked = hits > limit;
    return { totalHits: hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import { DependencyUnavailableError } from '../common/http/api-error';
import { RedisKeys } from '../redis/redis-keys';
import { REDIS_CLIENT } from '../redis/redis.tokens';

/** How long an answer is served from the cache (issue: 10 s). */
export const ANALYTICS_CACHE_TTL_SECONDS = 10;

/**
 * Answers cached in Redis for 10 s under a hash of the normalized query (sorted parameters with
 * the range already resolved and aligned), so every API replica shares them. Concurrent identical
 * misses in this process share one computation (single flight).
 */
@Injectable()
export class AnalyticsCache {
  private readonly logger = new Logger('analytics');
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Stable text of a query: keys sorted, undefined values left out. */
  static normalize(kind: string, params: Record<string, string | number | undefined>): string {
    const parts = Object.keys(params)
      .filter((k) => params[k] !== undefined)
      .sort()
      .map((k) => `${k}=${encodeURIComponent(String(params[k]))}`);
    return `${kind}?${parts.join('&')}`;
  }

  async getOrCompute<T>(normalizedQuery: string, compute: () => Promise<T>): Promise<{ value: T; hit: boolean }> {
    const key = this.keys.analyticsCache(createHash('sha256').update(normalizedQuery).digest('hex').slice(0, 40));
    const pending = this.inFlight.get(key) as Promise<{ value: T; hit: boolean }> | undefined;
    if (pending) return pending;
    const work = this.lookup(key, compute);
    this.inFlight.set(key, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async lookup<T>(key: string, compute: () => Promise<T>): Promise<{ value: T; hit: boolean }> {
    const cached = await this.redis.get(key).catch((err: unknown) => {
      throw new DependencyUnavailableError('Redis', err);
    });
    if (cached !== null) return { value: JSON.parse(cached) as T, hit: true };
    const value = await compute();
    // A failed cache write only costs the next request a recomputation.
    await this.redis.set(key, JSON.stringify(value), 'EX', ANALYTICS_CACHE_TTL_SECONDS).catch((err: Error) => {
      this.logger.warn({ err: err.message }, 'analytics cache write failed');
    });
    return { value, hit: false };
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type Redis from 'ioredis';
import { MongoShards } from '../mongo/mongo-shards';
import { REDIS_CLIENT } from '../redis/redis.tokens';

/**
 * Ready = booted, not shutting down, and the connections this role needs are open. Computed
 * from connection states (no I/O) so probes stay cheap; /api/health does the real round trips.
 */
@Injectable()
export class ReadinessService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private booted = false;
  private stopping = false;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly shards: MongoShards,
  ) {}

  onApplicationBootstrap(): void {
    this.booted = true;
  }

  beforeApplicationShutdown(): void {
    // Load balancers see 503 while in-flight work drains.
    this.stopping = true;
  }

  notReadyReasons(): string[] {
    const reasons: string[] = [];
    if (!this.booted) reasons.push('starting');
    if (this.stopping) reasons.push('shutting down');
    if (this.redis.status !== 'ready') reasons.push('redis');
    for (const shard of this.shards.all) if (shard.connection.readyState !== 1) reasons.push(shard.name);
    return reasons;
  }
}

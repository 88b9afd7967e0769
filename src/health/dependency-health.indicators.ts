import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import type Redis from 'ioredis';
import { withTimeout } from '../common/async/with-timeout';
import { MongoShards } from '../mongo/mongo-shards';
import { PrismaService } from '../prisma/prisma.service';
import { REDIS_CLIENT } from '../redis/redis.tokens';

const PROBE_TIMEOUT_MS = 1_500;

/** One probe per dependency of this role; each answers within PROBE_TIMEOUT_MS. */
@Injectable()
export class DependencyHealthIndicators {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly shards: MongoShards,
    // Absent in ROLE=worker, which does not use PostgreSQL.
    @Optional() private readonly prisma?: PrismaService,
  ) {}

  /** The checks terminus runs for /api/health, in report order. */
  all(): Array<() => Promise<HealthIndicatorResult>> {
    return [
      () => this.probe('redis', () => this.redis.ping()),
      ...(this.prisma ? [() => this.probe('postgres', () => this.prisma!.$queryRawUnsafe('SELECT 1'))] : []),
      ...this.shards.all.map((shard) => () => this.probe(shard.name, async () => {
        const db = shard.connection.db;
        if (!db) throw new Error('not connected');
        await db.command({ ping: 1 });
      })),
    ];
  }

  private async probe(key: string, ping: () => Promise<unknown>): Promise<HealthIndicatorResult> {
    const session = this.indicators.check(key);
    try {
      await withTimeout(ping(), PROBE_TIMEOUT_MS, `no answer within ${PROBE_TIMEOUT_MS} ms`);
      return session.up();
    } catch (err) {
      return session.down({ message: (err as Error).message });
    }
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { DependencyUnavailableError } from '../common/http/api-error';
import { AppConfig } from '../config/app-config';
import { REDIS_CLIENT } from '../redis/redis.tokens';
import { RedisKeys } from '../redis/redis-keys';

/** `GET /api/v1/events/stats` (contract §4, extended with rejected, backlog and the rate window). */
export interface IngestionStats {
  /** Accepted events per second, averaged over the last RATE_WINDOW_SECONDS. */
  ingestionRate: number;
  totalIngested: number;
  totalDuplicates: number;
  totalRejected: number;
  streamLength: number;
  /** Delivered to the consumer group but not acknowledged yet. */
  pending: number;
  partitions: number;
  rateWindowSeconds: number;
  timestamp: string;
}

export const RATE_WINDOW_SECONDS = 10;

@Injectable()
export class IngestionStatsService {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly config: AppConfig,
  ) {}

  async stats(now = Date.now()): Promise<IngestionStats> {
    const nowSecond = Math.floor(now / 1000);
    const pipeline = this.redis.pipeline();
    const partitions = Array.from({ length: this.keys.partitions }, (_, p) => p);
    for (const p of partitions) {
      // One key per command: partitions live in different cluster slots.
      pipeline.get(this.keys.counter(p, 'ingested'));
      pipeline.get(this.keys.counter(p, 'duplicates'));
      pipeline.get(this.keys.counter(p, 'rejected'));
      pipeline.xlen(this.keys.stream(p));
      pipeline.xinfo('GROUPS', this.keys.stream(p));
      for (let s = nowSecond - RATE_WINDOW_SECONDS + 1; s <= nowSecond; s++) pipeline.get(this.keys.rateBucket(p, s));
    }
    let replies: [Error | null, unknown][];
    try {
      replies = (await pipeline.exec()) ?? [];
    } catch (err) {
      throw new DependencyUnavailableError('Redis', err);
    }
    const perPartition = 5 + RATE_WINDOW_SECONDS;
    const stats = { ingested: 0, duplicates: 0, rejected: 0, length: 0, pending: 0, windowCount: 0 };
    for (const p of partitions) {
      const r = replies.slice(p * perPartition, (p + 1) * perPartition);
      // A connection error fails every command of the pipeline; XINFO on a missing stream is a normal "no such key".
      const connectionError = r.find(([e], i) => e && i !== 4)?.[0];
      if (connectionError) throw new DependencyUnavailableError('Redis', connectionError);
      stats.ingested += num(r[0][1]);
      stats.duplicates += num(r[1][1]);
      stats.rejected += num(r[2][1]);
      stats.length += num(r[3][1]);
      stats.pending += r[4][0] ? 0 : groupPending(r[4][1] as unknown[], this.config.CONSUMER_GROUP);
      for (let s = 5; s < perPartition; s++) stats.windowCount += num(r[s][1]);
    }
    // The current second is only partly over: the window is RATE_WINDOW_SECONDS - 1 whole seconds plus that part.
    const windowSeconds = RATE_WINDOW_SECONDS - 1 + (now % 1000) / 1000;
    return {
      ingestionRate: Math.round((stats.windowCount / windowSeconds) * 100) / 100,
      totalIngested: stats.ingested,
      totalDuplicates: stats.duplicates,
      totalRejected: stats.rejected,
      streamLength: stats.length,
      pending: stats.pending,
      partitions: this.keys.partitions,
      rateWindowSeconds: RATE_WINDOW_SECONDS,
      timestamp: new Date(now).toISOString(),
    };
  }
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v) || 0);

function groupPending(groups: unknown[], name: string): number {
  for (const g of groups) {
    const flat = g as unknown[];
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    if (info.get('name') === name) return num(info.get('pending'));
  }
  return 0;
}

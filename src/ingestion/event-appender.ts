import { Inject, Injectable, Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { RedisKeys } from '../redis/redis-keys';
import { encodeStreamEntry, STREAM_FIELDS } from '../events/stream-entry';
import { IngestedEvent } from '../events/event.types';
import { EventContext, PreparedEvent } from './event-validator';
import { INGEST_REDIS } from './ingestion.tokens';
import { RedisClock } from './redis-clock';
import { INGEST_FIXED_KEYS, INGEST_LUA } from './scripts/ingest.lua';

export type AppendStatus = 'accepted' | 'duplicate' | 'failed';

export interface AppendResult {
  /** One status per event, in input order. 'failed': its partition's script failed; nothing of it was written. */
  statuses: AppendStatus[];
  /** The first failure, when any partition failed. */
  failure?: Error;
}

/** Port: atomically dedups and appends the valid events of one request. */
export abstract class EventAppender {
  abstract append(events: PreparedEvent[], rejectedCount: number, ctx: EventContext): Promise<AppendResult>;
  /** Counts events rejected by validation when there is nothing to append (best-effort). */
  abstract recordRejected(count: number): void;
}

/** How long a script may take to start, in Redis time: well inside the 2 s command timeout. */
export const SCRIPT_DEADLINE_MS = 1_000;
/** Per-second rate buckets live a little longer than the stats window reads them. */
export const RATE_BUCKET_TTL_SECONDS = 30;

/**
 * The stream entry of one request: encodeStreamEntry's fields with the event JSON left as a slot,
 * because the API key id and receive time are the same for all events of a request. The script
 * fills the slot per event, so each event costs two script arguments instead of six.
 */
export function streamEntryTemplate(ctx: EventContext): { fields: string[]; slot: number } {
  const fields = encodeStreamEntry({ event: EMPTY_EVENT, apiKeyId: ctx.apiKeyId, receivedAt: ctx.receivedAt });
  // 1-based (Lua) position of the value that follows the event field's name.
  return { fields, slot: fields.indexOf(STREAM_FIELDS.event) + 2 };
}
const EMPTY_EVENT = {} as IngestedEvent;

interface IngestCommand {
  evpIngest(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<string>;
}

/** Runs INGEST_LUA: one EVALSHA per partition touched by the request. */
@Injectable()
export class RedisEventAppender extends EventAppender {
  private readonly logger = new Logger('ingestion');
  private readonly redis: Redis & IngestCommand;

  constructor(
    @Inject(INGEST_REDIS) redis: Redis,
    private readonly keys: RedisKeys,
    private readonly config: AppConfig,
    private readonly clock: RedisClock,
  ) {
    super();
    // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT (e.g. after a Redis restart).
    redis.defineCommand('evpIngest', { lua: INGEST_LUA });
    this.redis = redis as Redis & IngestCommand;
  }

  async append(events: PreparedEvent[], rejectedCount: number, ctx: EventContext): Promise<AppendResult> {
    const statuses = new Array<AppendStatus>(events.length);
    if (this.keys.partitions === 1) {
      const failure = await this.runPartition(0, events, allIndexes(events.length), rejectedCount, ctx, statuses);
      return failure ? { statuses, failure } : { statuses };
    }
    const groups = new Map<number, number[]>();
    events.forEach((e, i) => {
      const p = this.keys.partitionOf(e.event.userId);
      const g = groups.get(p);
      if (g) g.push(i);
      else groups.set(p, [i]);
    });
    let first = true;
    const failures = await Promise.all(
      [...groups].map(([p, idx]) => {
        const rejected = first ? rejectedCount : 0;
        first = false;
        return this.runPartition(p, events, idx, rejected, ctx, statuses);
      }),
    );
    const failure = failures.find((f) => f !== undefined);
    return failure ? { statuses, failure } : { statuses };
  }

  recordRejected(count: number): void {
    if (count <= 0) return;
    this.redis.incrby(this.keys.counter(0, 'rejected'), count).catch(() => undefined);
  }

  /** Appends events[idx] to partition p; fills their statuses; resolves the error instead of throwing. */
  private async runPartition(
    p: number,
    events: PreparedEvent[],
    idx: number[],
    rejectedCount: number,
    ctx: EventContext,
    statuses: AppendStatus[],
  ): Promise<Error | undefined> {
    const entry = streamEntryTemplate(ctx);
    const keys: string[] = [
      this.keys.stream(p),
      this.keys.counter(p, 'ingested'),
      this.keys.counter(p, 'duplicates'),
      this.keys.counter(p, 'rejected'),
      this.keys.rateBucket(p, Math.floor(ctx.receivedAt / 1000)),
    ];
    const args: (string | number)[] = [
      this.config.DEDUP_TTL_SECONDS,
      this.clock.redisNow() + SCRIPT_DEADLINE_MS,
      rejectedCount,
      RATE_BUCKET_TTL_SECONDS,
      idx.length,
      entry.fields.length,
      entry.slot,
      ...entry.fields,
    ];
    for (const i of idx) {
      const e = events[i];
      if (e.clientEventId) {
        keys.push(this.keys.dedup(p, e.event.eventId));
        args.push(keys.length);
      } else {
        args.push(0);
      }
      args.push(e.json);
    }
    try {
      const result = await this.redis.evpIngest(keys.length, ...keys, ...args);
      for (let j = 0; j < idx.length; j++) statuses[idx[j]] = result.charCodeAt(j) === 97 /* 'a' */ ? 'accepted' : 'duplicate';
      return undefined;
    } catch (err) {
      for (const i of idx) statuses[i] = 'failed';
      const e = err instanceof Error ? err : new Error(String(err));
      // Connection errors are logged once per request by the exception filter (503); a script
      // error reply is a server-side fault worth its own line (it was rolled back).
      if (e.name === 'ReplyError') {
        this.logger.error({ partition: p, events: idx.length, reason: e.message }, 'ingest script failed; nothing of this partition was written');
        // An expired deadline answered in time means our idea of Redis' clock is off: re-learn it.
        if (e.message.startsWith('EVP_EXPIRED')) this.clock.distrust();
      }
      return e;
    }
  }
}

const SINGLE = [0];
function allIndexes(n: number): number[] {
  if (n === 1) return SINGLE;
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  return idx;
}

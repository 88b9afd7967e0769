import { Inject, Injectable, Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { RedisKeys } from '../redis/redis-keys';
import { encodeStreamEntry, STREAM_FIELDS } from '../events/stream-entry';
import { IngestedEvent } from '../events/event.types';
import { EventContext, PreparedEvent } from './event-validator';
import { INGEST_REDIS } from './ingestion.tokens';
import { RedisClock } from './redis-clock';
import { INGEST_LUA } from './scripts/ingest.lua';

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
 * fills the slot per event, so each event costs two script arguments instead of six (three when
 * requests share a call: its receive time goes into receivedAtSlot).
 */
export function streamEntryTemplate(ctx: EventContext): { fields: string[]; slot: number; receivedAtSlot: number } {
  const fields = encodeStreamEntry({ event: EMPTY_EVENT, apiKeyId: ctx.apiKeyId, receivedAt: ctx.receivedAt });
  return { fields, slot: valueSlot(fields, STREAM_FIELDS.event), receivedAtSlot: valueSlot(fields, STREAM_FIELDS.receivedAt) };
}

/** 1-based (Lua) position of the value of field `name`: names are at even offsets only, so a value equal to a name is never taken for it. */
function valueSlot(fields: string[], name: string): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return i + 2;
  throw new Error(`stream entry has no field ${name}`);
}
const EMPTY_EVENT = {} as IngestedEvent;

interface IngestCommand {
  evpIngest(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<string>;
}

/**
 * Requests with at most this many events (per partition) join the shared script calls of their
 * event-loop turn; larger ones already spread a call's fixed cost over their own events.
 */
export const COALESCE_MAX_REQUEST_EVENTS = 32;

/** Events in one shared script call at most (bounded script run time and argument count). */
export const MAX_COALESCED_EVENTS = 256;

/** One request's events of one partition, waiting for its group's script call. */
interface PendingPart {
  events: PreparedEvent[];
  receivedAt: number;
  rejectedCount: number;
  /** Its events' status characters ('a'/'d'), or the call's error. */
  resolve: (statuses: string) => void;
  reject: (err: Error) => void;
}

/** Parts of one partition, API key and receive second: they share the entry template and rate bucket. */
interface PendingGroup {
  partition: number;
  ctx: EventContext;
  parts: PendingPart[];
  events: number;
}

/** One script call: the events, and per event its own receive time when requests were coalesced. */
interface ScriptCall {
  partition: number;
  events: PreparedEvent[];
  receivedAts?: number[];
  rejectedCount: number;
  ctx: EventContext;
}

/**
 * Runs INGEST_LUA: one EVALSHA per partition touched by a request. Small requests (single events,
 * small batches) that reach the appender in the same turn of the event loop (50 connections
 * deliver several per turn under load) share one EVALSHA per partition, API key and receive
 * second, each event with its own receive time: per event that saves the script's fixed work
 * (TIME, TYPE, counter updates) and the client's per-command encoding (see README "## Ingestion").
 * A call is all-or-nothing, so when a shared call fails every request in it gets its failure and
 * nothing of any of them was written; a request's events of one partition are never split
 * between calls.
 */
@Injectable()
export class RedisEventAppender extends EventAppender {
  private readonly logger = new Logger('ingestion');
  private readonly redis: Redis & IngestCommand;
  private readonly pending = new Map<string, PendingGroup>();
  private flushScheduled = false;

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
    const send = (partition: number, part: PreparedEvent[], rejected: number): Promise<string> =>
      part.length <= COALESCE_MAX_REQUEST_EVENTS
        ? this.enqueue(partition, part, rejected, ctx)
        : this.run({ partition, events: part, rejectedCount: rejected, ctx });
    if (this.keys.partitions === 1) {
      const failure = await this.settle(send(0, events, rejectedCount), allIndexes(events.length), statuses);
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
      [...groups].map(([partition, idx]) => {
        const rejected = first ? rejectedCount : 0;
        first = false;
        return this.settle(send(partition, idx.map((i) => events[i]), rejected), idx, statuses);
      }),
    );
    const failure = failures.find((f) => f !== undefined);
    return failure ? { statuses, failure } : { statuses };
  }

  recordRejected(count: number): void {
    if (count <= 0) return;
    this.redis.incrby(this.keys.counter(0, 'rejected'), count).catch(() => undefined);
  }

  /** Queues one request's events of one partition for this turn's shared call of their group. */
  private enqueue(partition: number, events: PreparedEvent[], rejectedCount: number, ctx: EventContext): Promise<string> {
    const key = `${partition}\u0000${ctx.apiKeyId ?? ''}\u0000${Math.floor(ctx.receivedAt / 1000)}`;
    return new Promise<string>((resolve, reject) => {
      let group = this.pending.get(key);
      if (group && group.events + events.length > MAX_COALESCED_EVENTS) {
        this.pending.delete(key);
        this.sendGroup(group);
        group = undefined;
      }
      if (!group) {
        group = { partition, ctx, parts: [], events: 0 };
        this.pending.set(key, group);
      }
      group.parts.push({ events, receivedAt: ctx.receivedAt, rejectedCount, resolve, reject });
      group.events += events.length;
      if (group.events >= MAX_COALESCED_EVENTS) {
        this.pending.delete(key);
        this.sendGroup(group);
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the I/O callbacks of this turn: every request parsed in it has joined by then.
        setImmediate(this.flushPending);
      }
    });
  }

  private readonly flushPending = (): void => {
    this.flushScheduled = false;
    const groups = [...this.pending.values()];
    this.pending.clear();
    for (const g of groups) this.sendGroup(g);
  };

  private sendGroup({ partition, ctx, parts }: PendingGroup): void {
    let call: ScriptCall;
    if (parts.length === 1) {
      // The group's context is its first (here only) request's: the template's receive time is its own.
      call = { partition, events: parts[0].events, rejectedCount: parts[0].rejectedCount, ctx };
    } else {
      const events: PreparedEvent[] = [];
      const receivedAts: number[] = [];
      let rejectedCount = 0;
      for (const part of parts) {
        for (const e of part.events) {
          events.push(e);
          receivedAts.push(part.receivedAt);
        }
        rejectedCount += part.rejectedCount;
      }
      call = { partition, events, receivedAts, rejectedCount, ctx };
    }
    this.run(call).then(
      (result) => {
        let at = 0;
        for (const part of parts) {
          part.resolve(result.slice(at, at + part.events.length));
          at += part.events.length;
        }
      },
      (err: Error) => {
        for (const part of parts) part.reject(err);
      },
    );
  }

  /** Fills the statuses of events[idx] from one script call; resolves its error instead of throwing. */
  private async settle(call: Promise<string>, idx: number[], statuses: AppendStatus[]): Promise<Error | undefined> {
    try {
      const result = await call;
      for (let j = 0; j < idx.length; j++) statuses[idx[j]] = result.charCodeAt(j) === 97 /* 'a' */ ? 'accepted' : 'duplicate';
      return undefined;
    } catch (err) {
      for (const i of idx) statuses[i] = 'failed';
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** One EVALSHA of INGEST_LUA: one character per event ('a'/'d'), or a rejection with an Error. */
  private async run({ partition: p, events, receivedAts, rejectedCount, ctx }: ScriptCall): Promise<string> {
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
      events.length,
      entry.fields.length,
      entry.slot,
      receivedAts ? entry.receivedAtSlot : 0,
      ...entry.fields,
    ];
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.clientEventId) {
        keys.push(this.keys.dedup(p, e.event.eventId));
        args.push(keys.length);
      } else {
        args.push(0);
      }
      args.push(e.json);
      if (receivedAts) args.push(receivedAts[i]);
    }
    try {
      return await this.redis.evpIngest(keys.length, ...keys, ...args);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      // Connection errors are logged once per request by the exception filter (503); a script
      // error reply is a server-side fault worth its own line (it was rolled back).
      if (e.name === 'ReplyError') {
        this.logger.error({ partition: p, events: events.length, reason: e.message }, 'ingest script failed; nothing of this call was written');
        // An expired deadline answered in time means our idea of Redis' clock is off: re-learn it.
        if (e.message.startsWith('EVP_EXPIRED')) this.clock.distrust();
      }
      throw e;
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

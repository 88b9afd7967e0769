import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { REDIS_CLIENT } from '../redis/redis.tokens';
import { RedisKeys } from '../redis/redis-keys';
import { RedisClock } from './redis-clock';

/** Port: is the stream backlog over MAX_STREAM_BACKLOG? Answered from memory (no I/O per request). */
export abstract class BacklogGauge {
  abstract isOverloaded(): boolean;
  abstract current(): number;
  /** Entries this process has just appended: counted until the next sample includes them. */
  abstract noteAppended(entries: number): void;
}

/** How often the backlog is read (the issue allows 100–500 ms). */
export const BACKLOG_SAMPLE_MS = 250;

/**
 * A backlog older than this is not acted on. Sampling fails mostly because Redis is down, and then
 * a request must get the 503 of its own failed append, not a 429 from the last value seen; if Redis
 * answers appends but not the sample, refusing on a frozen value (plus our own appends, which keep
 * adding up) would turn into a permanent 429 that no worker progress can lift.
 */
export const BACKLOG_STALE_MS = 5_000;

/**
 * Samples the backlog of every partition in one pipelined round trip every BACKLOG_SAMPLE_MS:
 * per consumer group `lag` (entries not yet delivered) + `pending` (delivered, not acked); the
 * slowest group counts, because the stream cannot shrink below what it still needs. Without a
 * group yet (no worker ever started), or when Redis cannot tell the lag (after deletions), the
 * stream length stands in: an upper bound. Partitions are summed. Never trims anything.
 *
 * Between samples the entries this process appends are added to the last sample, so a fast
 * producer cannot overshoot the limit by a whole sampling period of appends (at 20k events/s,
 * 250 ms is 5,000 entries: the fault suite's backpressure scenario saw peaks of 2.2–3× the limit).
 * Appends of other API replicas and the workers' progress show up at the next sample.
 */
@Injectable()
export class BacklogMonitor extends BacklogGauge implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ingestion');
  private timer?: NodeJS.Timeout;
  private backlog = 0;
  /** Entries appended by this process that the last sample did not see. */
  private appendedSinceSample = 0;
  /** All entries appended by this process (to tell which ones a sample may already include). */
  private appendedTotal = 0;
  private sampling = false;
  private failing = false;
  /** Date.now() of the last sample that succeeded. */
  private sampledAt = 0;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly config: AppConfig,
    private readonly clock: RedisClock,
  ) {
    super();
  }

  isOverloaded(): boolean {
    if (Date.now() - this.sampledAt > BACKLOG_STALE_MS) return false;
    return this.current() > this.config.MAX_STREAM_BACKLOG;
  }

  current(): number {
    return this.backlog + this.appendedSinceSample;
  }

  noteAppended(entries: number): void {
    this.appendedTotal += entries;
    this.appendedSinceSample += entries;
  }

  async onApplicationBootstrap(): Promise<void> {
    // The first sample must work: a Redis that answers appends but not XLEN/XINFO (an ACL without
    // them, a key of another type under the stream's name) would leave ingestion without backpressure.
    await this.sample({ strict: true });
    this.timer = setInterval(() => void this.sample(), BACKLOG_SAMPLE_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * One sample; keeps the previous value when Redis does not answer (ingestion fails on its own
   * then), for BACKLOG_STALE_MS. `strict`: a failure is thrown (boot).
   */
  async sample({ strict = false }: { strict?: boolean } = {}): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const streams = this.keys.allStreams();
      const pipeline = this.redis.pipeline();
      for (const s of streams) pipeline.xinfo('GROUPS', s).xlen(s);
      pipeline.time();
      // Appends answered before the sample was sent are in it; later ones may not be (counted twice
      // at worst: the estimate errs on the side of refusing).
      const appendedAtSend = this.appendedTotal;
      const sentAt = Date.now();
      const replies = (await pipeline.exec()) ?? [];
      const answeredAt = Date.now();
      let total = 0;
      for (let i = 0; i < streams.length; i++) {
        const [groupsErr, groups] = replies[2 * i] ?? [];
        const [lenErr, len] = replies[2 * i + 1] ?? [];
        if (lenErr) throw lenErr;
        total += streamBacklog(groupsErr ? [] : (groups as unknown[]), Number(len));
      }
      const [timeErr, time] = replies[2 * streams.length] ?? [];
      if (!timeErr && Array.isArray(time)) this.clock.observe(Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000), sentAt, answeredAt);
      this.backlog = total;
      this.appendedSinceSample = this.appendedTotal - appendedAtSend;
      this.sampledAt = answeredAt;
      if (this.failing) this.logger.log('backlog sampling restored');
      this.failing = false;
    } catch (err) {
      if (strict) throw new Error(`Redis (REDIS_URL): cannot read the stream backlog (XINFO GROUPS, XLEN): ${(err as Error).message}`);
      if (!this.failing) {
        this.logger.warn(
          { reason: (err as Error).message, staleAfterMs: BACKLOG_STALE_MS },
          'backlog sampling failed; keeping the last value, and not refusing on it once it is stale',
        );
      }
      this.failing = true;
    } finally {
      this.sampling = false;
    }
  }
}

/** Backlog of one stream from its XINFO GROUPS reply (flat [name, value, …] arrays) and XLEN. */
export function streamBacklog(groups: unknown[], length: number): number {
  if (groups.length === 0) return length;
  let worst = 0;
  for (const g of groups) {
    const info = new Map<string, unknown>();
    const flat = g as unknown[];
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    const pending = Number(info.get('pending') ?? 0);
    const lag = info.get('lag');
    // Pending entries are part of the stream, so the length alone is the upper bound.
    worst = Math.max(worst, lag === null || lag === undefined ? length : pending + Number(lag));
  }
  return worst;
}

import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { Gauge } from 'prom-client';
import { withTimeout } from '../common/async/with-timeout';
import { AppConfig } from '../config/app-config';
import { DlqRepository } from '../dlq/dlq.repository';
import { streamBacklog } from '../ingestion/backlog-monitor';
import { REDIS_CLIENT } from '../redis/redis.tokens';
import { RedisKeys } from '../redis/redis-keys';
import { MetricsRegistry } from './metrics-registry';

/** Background sampling period of the stream gauges (a scrape only reads the last sample). */
export const STREAM_SAMPLE_MS = 2_000;
/** The DLQ is counted on MongoDB shard 0: less often, and never blocking the Redis sample. */
export const DLQ_SAMPLE_MS = 5_000;
const DLQ_COUNT_TIMEOUT_MS = 4_000;

export interface StreamPartitionStats {
  stream: string;
  length: number;
  /** Delivered to CONSUMER_GROUP, not acknowledged yet. */
  pending: number;
  /** Not yet delivered to CONSUMER_GROUP; null when Redis cannot tell (no group yet, or deletions). */
  lag: number | null;
}

/** Cluster-wide view of the stream, shared by every process (Redis and shard 0 are the sources). */
export interface StreamStats {
  /** When the last successful Redis sample was taken (ISO), null before the first one. */
  sampledAt: string | null;
  /** The last sampling attempt failed: the numbers are the previous ones. */
  stale: boolean;
  streams: StreamPartitionStats[];
  length: number;
  pending: number;
  lag: number | null;
  /** Undelivered + pending entries of the slowest group (what backpressure compares to MAX_STREAM_BACKLOG). */
  backlog: number;
  /** Events accepted by all API processes during the last complete second. */
  ingestRate: number;
  /** Entries acknowledged by all workers per second since the previous sample; null until two samples. */
  processRate: number | null;
  dlqSize: number | null;
  dlqSampledAt: string | null;
}

interface RawSample {
  at: number;
  /** entries-read minus pending of CONSUMER_GROUP, summed: how many entries the workers acked. */
  acked: number | null;
}

/**
 * Samples the stream in the background: length, pending entries and lag of CONSUMER_GROUP per
 * stream partition, the backlog, the ingest rate (the ingestion module's per-second buckets) and
 * the process rate (growth of entries-read − pending), plus the DLQ size. Gauges are set from
 * the sample; `/metrics`, `/api/v1/metrics` and the live stream read the latest one.
 */
@Injectable()
export class StreamStatsSampler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('metrics');
  private readonly gauges: {
    length: Gauge<'stream'>;
    pending: Gauge<'stream'>;
    lag: Gauge<'stream'>;
    backlog: Gauge;
    dlq: Gauge;
    lastSuccess: Gauge;
  };
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<StreamStats>;
  private lastStartedAt = 0;
  private previous?: RawSample;
  private failing = false;
  private dlqInFlight = false;
  private dlqStartedAt = 0;
  private dlqFailing = false;
  private stopped = false;
  private stats: StreamStats = {
    sampledAt: null,
    stale: true,
    streams: [],
    length: 0,
    pending: 0,
    lag: null,
    backlog: 0,
    ingestRate: 0,
    processRate: null,
    dlqSize: null,
    dlqSampledAt: null,
  };

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly config: AppConfig,
    private readonly dlq: DlqRepository,
    metrics: MetricsRegistry,
  ) {
    const registers = [metrics.registry];
    this.gauges = {
      length: new Gauge({ name: 'eventproc_stream_length', help: 'Entries in the stream (XLEN), sampled', labelNames: ['stream'], registers }),
      pending: new Gauge({
        name: 'eventproc_stream_pending_entries',
        help: 'Entries delivered to the consumer group and not acknowledged yet, sampled',
        labelNames: ['stream'],
        registers,
      }),
      lag: new Gauge({
        name: 'eventproc_consumer_group_lag',
        help: 'Entries not yet delivered to the consumer group, sampled (absent while Redis cannot tell)',
        labelNames: ['stream'],
        registers,
      }),
      backlog: new Gauge({
        name: 'eventproc_stream_backlog',
        help: 'Undelivered + pending entries of the slowest group, all partitions (compared with MAX_STREAM_BACKLOG), sampled',
        registers,
      }),
      dlq: new Gauge({ name: 'eventproc_dlq_size', help: 'Entries in the dead-letter queue, sampled', registers }),
      lastSuccess: new Gauge({
        name: 'eventproc_stream_stats_last_success_timestamp_seconds',
        help: 'Unix time of the last successful stream sample (alert when it stops moving)',
        registers,
      }),
    };
  }

  /** The latest sample (no I/O). */
  latest(): StreamStats {
    return this.stats;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => {
      // Someone (the live stream) sampled recently: do not sample twice in one period.
      if (Date.now() - this.lastStartedAt >= STREAM_SAMPLE_MS - 250) void this.sample();
    }, STREAM_SAMPLE_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Takes a sample now (or joins the one in flight). Never rejects: a failure keeps the last values. */
  sample(): Promise<StreamStats> {
    if (!this.inFlight) {
      this.lastStartedAt = Date.now();
      this.maybeCountDlq();
      this.inFlight = this.sampleRedis().finally(() => (this.inFlight = undefined));
    }
    return this.inFlight;
  }

  private async sampleRedis(): Promise<StreamStats> {
    const now = Date.now();
    const lastSecond = Math.floor(now / 1000) - 1;
    const streams = this.keys.allStreams();
    try {
      const pipeline = this.redis.pipeline();
      streams.forEach((stream, p) => {
        pipeline.xinfo('GROUPS', stream);
        pipeline.xlen(stream);
        pipeline.get(this.keys.rateBucket(p, lastSecond));
      });
      const replies = (await pipeline.exec()) ?? [];
      const parts: StreamPartitionStats[] = [];
      let backlog = 0;
      let ingested = 0;
      let acked: number | null = 0;
      for (let p = 0; p < streams.length; p++) {
        const [groupsErr, groupsReply] = replies[3 * p] ?? [null, []];
        const [lenErr, len] = replies[3 * p + 1] ?? [];
        const [rateErr, rate] = replies[3 * p + 2] ?? [];
        // XINFO GROUPS on a stream that does not exist yet is an error reply; the others are not.
        if (lenErr) throw lenErr;
        if (rateErr) throw rateErr;
        const groups = groupsErr ? [] : (groupsReply as unknown[]);
        const length = Number(len) || 0;
        const group = findGroup(groups, this.config.CONSUMER_GROUP);
        const pending = group ? toNumber(group.get('pending')) ?? 0 : 0;
        const lag = group ? toNumber(group.get('lag')) : null;
        const entriesRead = group ? toNumber(group.get('entries-read')) : 0;
        parts.push({ stream: streams[p], length, pending, lag });
        backlog += streamBacklog(groups, length);
        ingested += Number(rate) || 0;
        acked = acked === null || entriesRead === null ? null : acked + Math.max(0, entriesRead - pending);
      }
      const processRate = this.rate({ at: now, acked });
      this.previous = { at: now, acked };
      this.stats = {
        ...this.stats,
        sampledAt: new Date(now).toISOString(),
        stale: false,
        streams: parts,
        length: sum(parts.map((s) => s.length)),
        pending: sum(parts.map((s) => s.pending)),
        lag: parts.some((s) => s.lag === null) ? null : sum(parts.map((s) => s.lag as number)),
        backlog,
        ingestRate: ingested,
        processRate,
      };
      this.setGauges(now);
      if (this.failing) this.logger.log('stream sampling restored');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn({ reason: (err as Error).message }, 'stream sampling failed; keeping the last values');
      this.failing = true;
      this.stats = { ...this.stats, stale: true };
    }
    return this.stats;
  }

  /** Acknowledged entries per second between the previous sample and this one. */
  private rate(current: RawSample): number | null {
    const prev = this.previous;
    if (!prev || prev.acked === null || current.acked === null) return null;
    const seconds = (current.at - prev.at) / 1000;
    if (seconds <= 0) return this.stats.processRate;
    // A recreated group starts its counter again: never report a negative rate.
    return Math.round((Math.max(0, current.acked - prev.acked) / seconds) * 100) / 100;
  }

  private setGauges(now: number): void {
    const { length, pending, lag, backlog, lastSuccess } = this.gauges;
    for (const s of this.stats.streams) {
      length.labels(s.stream).set(s.length);
      pending.labels(s.stream).set(s.pending);
      if (s.lag === null) lag.remove(s.stream);
      else lag.labels(s.stream).set(s.lag);
    }
    backlog.set(this.stats.backlog);
    lastSuccess.set(now / 1000);
  }

  private maybeCountDlq(): void {
    if (this.stopped || this.dlqInFlight || Date.now() - this.dlqStartedAt < DLQ_SAMPLE_MS) return;
    this.dlqInFlight = true;
    this.dlqStartedAt = Date.now();
    withTimeout(this.dlq.count(), DLQ_COUNT_TIMEOUT_MS, 'DLQ count timed out')
      .then((size) => {
        this.stats = { ...this.stats, dlqSize: size, dlqSampledAt: new Date().toISOString() };
        this.gauges.dlq.set(size);
        if (this.dlqFailing) this.logger.log('DLQ size sampling restored');
        this.dlqFailing = false;
      })
      .catch((err: unknown) => {
        if (!this.dlqFailing) this.logger.warn({ reason: (err as Error).message }, 'DLQ size sampling failed; keeping the last value');
        this.dlqFailing = true;
      })
      .finally(() => (this.dlqInFlight = false));
  }
}

/** The named group of an XINFO GROUPS reply (flat [name, value, …] arrays), as a map. */
function findGroup(groups: unknown[], name: string): Map<string, unknown> | undefined {
  for (const g of groups) {
    const flat = g as unknown[];
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    if (info.get('name') === name) return info;
  }
  return undefined;
}

const toNumber = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number.isFinite(Number(v)) ? Number(v) : null);
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

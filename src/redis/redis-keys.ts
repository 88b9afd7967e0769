import { stableBucket } from '../common/hashing/stable-hash';

/** CONSUMER_GROUP's default (contract §2). */
export const DEFAULT_CONSUMER_GROUP = 'event-processors';

/**
 * Every Redis key name of the system is built here.
 *
 * With one partition the names are the plain ones of the original system (`events_stream`,
 * `dedup:event:<id>`, `metrics:ingested`). With STREAM_PARTITIONS > 1 each partition's keys share
 * a hash tag `{p}`, so one Lua script may touch a partition's stream, dedup keys and counters
 * even in Redis Cluster (all in one slot).
 */
export class RedisKeys {
  constructor(
    readonly streamKey: string,
    readonly partitions: number,
  ) {}

  private tag(partition: number): string {
    return this.partitions === 1 ? '' : `{${partition}}:`;
  }

  /** Partition that owns a user's events (stable across processes). */
  partitionOf(userId: string): number {
    return stableBucket(userId, this.partitions);
  }

  stream(partition: number): string {
    return this.partitions === 1 ? this.streamKey : `${this.streamKey}:{${partition}}`;
  }

  allStreams(): string[] {
    return Array.from({ length: this.partitions }, (_, p) => this.stream(p));
  }

  dedup(partition: number, eventId: string): string {
    return `dedup:event:${this.tag(partition)}${eventId}`;
  }

  /** Prefix passed to the ingest script, which appends the eventId itself. */
  dedupPrefix(partition: number): string {
    return `dedup:event:${this.tag(partition)}`;
  }

  counter(partition: number, name: 'ingested' | 'duplicates' | 'rejected'): string {
    return `metrics:${this.tag(partition)}${name}`;
  }

  /** Per-second ingestion buckets for the recent rate (`metrics:rate:<epochSecond>`). */
  rateBucket(partition: number, epochSecond: number): string {
    return `metrics:${this.tag(partition)}rate:${epochSecond}`;
  }

  // --- auth (not partitioned; each command touches one key) ---

  /** Cached validation result of an API key, by the SHA-256 hex of the key (never the key). */
  authApiKey(keyHash: string): string {
    return `auth:apikey:${keyHash}`;
  }

  /** Cached role/status of a user (JWT checks). */
  authUser(userId: string): string {
    return `auth:user:${userId}`;
  }

  /** Pub/sub channel telling every API process to drop in-process auth cache entries. */
  authInvalidationChannel(): string {
    return 'auth:invalidate';
  }

  /** Fixed-window request counter of the auth rate limit, per client IP (`tracker`). */
  authRateLimit(tracker: string): string {
    return `ratelimit:auth:${tracker}`;
  }

  // --- processing (worker) ---

  /**
   * Hash: stream entry id → how many of its deliveries ended in a transient storage failure
   * (shard down), and `<id>:w` → its uncertain writes. Those do not count toward MAX_DELIVERIES.
   * Same hash tag as the partition's stream. One per consumer group: two groups on one stream (a
   * canary with its own CONSUMER_GROUP) must not read, count or take over each other's records.
   * The default group keeps the name it always had, so an upgrade loses nothing.
   */
  workerTransientFailures(partition: number, group: string): string {
    const base = `${this.stream(partition)}:transient-failures`;
    return group === DEFAULT_CONSUMER_GROUP ? base : `${base}:${group}`;
  }

  // --- analytics (rollups written by the worker, read by the API) ---
  // One hash tag for every rollup key: the rollup script and multi-key reads (PFCOUNT over many
  // buckets, ZUNIONSTORE) touch many of them at once, which Redis Cluster allows only in one slot.
  // `g` is the granularity (m/h/d), `bucket` the bucket start in epoch seconds.

  /** Hash eventType → count, of one shard's events in a bucket. */
  analyticsCounts(shard: number, g: string, bucket: number): string {
    return `analytics:{rollup}:c:${shard}:${g}:${bucket}`;
  }

  /** Sorted set userId → event count, of one shard's events in a bucket. */
  analyticsUserCounts(shard: number, g: string, bucket: number): string {
    return `analytics:{rollup}:u:${shard}:${g}:${bucket}`;
  }

  /** Hash userId → "type=count@lastEventMs,…", of one shard's events in a bucket. */
  analyticsUserDetails(shard: number, g: string, bucket: number): string {
    return `analytics:{rollup}:ud:${shard}:${g}:${bucket}`;
  }

  /** HyperLogLog of the userIds (or sessionIds) in a bucket, all shards, optionally one eventType. */
  analyticsUniques(kind: 'users' | 'sessions', g: string, bucket: number, eventType?: string): string {
    const base = `analytics:{rollup}:${kind === 'users' ? 'hu' : 'hs'}:${g}:${bucket}`;
    return eventType === undefined ? base : `${base}:t:${eventType}`;
  }

  /** Marker of one applied rollup batch (makes a retried apply a no-op). */
  analyticsApplied(batchHash: string): string {
    return `analytics:{rollup}:applied:${batchHash}`;
  }

  /** Scratch key of a read script (created and deleted inside one script run). */
  analyticsScratch(id: string): string {
    return `analytics:{rollup}:tmp:${id}`;
  }

  /** Cached answer of a normalized analytics query (hash of the query). */
  analyticsCache(queryHash: string): string {
    return `analytics:cache:${queryHash}`;
  }
}

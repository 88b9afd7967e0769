import { AppConfig } from '../config/app-config';
import { replicaId } from '../logging/replica-id';
import { DEFAULT_CONSUMER_GROUP } from '../redis/redis-keys';

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/**
 * Everything the worker's behaviour depends on, derived once from AppConfig (and overridable in
 * tests). Values not in the contract's configuration are derived here so they stay consistent.
 */
export class WorkerSettings {
  /** Consumer group of every partition stream (CONSUMER_GROUP). */
  group = DEFAULT_CONSUMER_GROUP;
  /** This process's consumer name: hostname-pid (unique among replicas). */
  consumer = replicaId();
  batchSize = 100;
  batchTimeoutMs = 500;
  readCount = 50;
  claimIdleMs = 60_000;
  /** Retries after the first attempt of a transiently failing write. */
  maxRetries = 3;
  maxDeliveries = 5;

  /** XREADGROUP BLOCK: short enough that a stopping reader returns quickly even without CLIENT UNBLOCK. */
  blockMs = 1_000;
  /**
   * insertMany calls in flight per shard. Reading goes on while writes are in flight (the next
   * batch fills meanwhile; rollups and acks of finished batches overlap). Measured on FerretDB
   * v1.24 (PostgreSQL backend, 100-document batches, 3 shards): 2 per shard ≈ +15–20% over 1,
   * 3 no better than 2.
   */
  maxWritesPerShard = 2;
  /**
   * Batches' worth of entries per shard this process may hold (read, not yet acked) before it
   * stops reading: those being written (maxWritesPerShard), one being finished (rollups, ack) and
   * one filling. Measured and not adopted (2026-12-02, alternating 1-worker drains of 50,000–57,000
   * events): 8 drained 10–13% more in two runs while the machine was fast (7,995/7,755 vs
   * 7,067/7,185 docs/s), but less in the next two while it was slow (4,400/4,518 vs 5,200/4,712;
   * then a median of 4,708 vs 5,009 over 5 rounds, 4 of them lower); 12 and 16 no better than 8.
   */
  heldBatchesPerShard = 4;
  /** Exponential backoff with full jitter: delay_n = random(0, min(cap, base·2^(n-1))). */
  retryBaseMs = 100;
  retryCapMs = 5_000;
  /** One write attempt may not take longer (a hung shard must not hold a batch forever). */
  attemptTimeoutMs = 10_000;
  /**
   * A write to a shard unanswered this long (normally tens to hundreds of ms) means the shard is
   * not keeping up — hung, say, which the driver may take tens of seconds to notice. While all its
   * write slots are that late, what is buffered for it beyond two batches is left pending (retried
   * later) instead of filling the bound on held entries and stopping the reading for every shard.
   */
  stallMs = 3_000;
  /** How often idle pending entries are looked for (own given-up ones and other consumers'). */
  reclaimIntervalMs = 5_000;
  /** Own entries left pending after a transient failure are retried once idle this long. */
  ownRetryIdleMs = 5_000;
  /**
   * How often entries held by this process (buffered or being written) get their idle time reset
   * (XCLAIM JUSTID: no delivery counted), so other consumers never reclaim them mid-write.
   * Well below CLAIM_IDLE_MS: an entry is idle at most about one interval before its first touch.
   */
  touchIntervalMs = 20_000;
  /** Stream trimming and consumer-list cleanup. */
  hygieneIntervalMs = 2_000;
  /** Consumers with nothing pending and idle this long are removed from the group. */
  consumerExpiryMs = 3_600_000;
  /** Part of the 10 s shutdown budget the worker may spend draining (the rest is HTTP and exit). */
  shutdownBudgetMs = 7_500;
  /** Throughput log: after this many events (but at most once a second) or this long. */
  throughputLogEvents = 500;
  throughputLogIntervalMs = 10_000;

  static fromConfig(config: AppConfig): WorkerSettings {
    const s = new WorkerSettings();
    s.group = config.CONSUMER_GROUP;
    s.batchSize = config.BATCH_SIZE;
    s.batchTimeoutMs = config.BATCH_TIMEOUT_MS;
    s.readCount = config.READ_COUNT;
    s.claimIdleMs = config.CLAIM_IDLE_MS;
    s.maxRetries = config.MAX_RETRIES;
    s.maxDeliveries = config.MAX_DELIVERIES;
    // Own given-up entries must be picked up again well before other consumers may claim them
    // (CLAIM_IDLE_MS), so their delivery count only grows when a worker really disappears.
    s.reclaimIntervalMs = clamp(Math.floor(config.CLAIM_IDLE_MS / 4), 50, 5_000);
    s.ownRetryIdleMs = clamp(Math.floor(config.CLAIM_IDLE_MS / 4), 50, 5_000);
    s.blockMs = clamp(config.BATCH_TIMEOUT_MS, 100, 1_000);
    s.touchIntervalMs = clamp(Math.floor(config.CLAIM_IDLE_MS / 3), 25, 20_000);
    return s;
  }
}

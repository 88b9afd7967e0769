/**
 * Small ports through which other modules report to Prometheus without depending on prom-client.
 * MetricsModule (global) provides the implementations; the callers inject them as @Optional(), so
 * unit tests that build a service by hand need not pass one.
 */

/** What the append step answered for one event (same values as ingestion's AppendStatus). */
export type AppendOutcome = 'accepted' | 'duplicate' | 'failed';

/** Why an event was refused before it reached Redis. */
export type RejectReason = 'invalid' | 'too_large';

/** Ingestion (ROLE=api/all): one call per request outcome. */
export abstract class IngestionMetrics {
  /** The append's per-event statuses: accepted, duplicate, or failed (Redis unavailable). */
  abstract appended(statuses: readonly AppendOutcome[]): void;
  /** Events refused by validation (`invalid`) or by size (`too_large`). */
  abstract rejected(reason: RejectReason, count?: number): void;
  /** One request refused with 429 BACKPRESSURE. */
  abstract backpressure(): void;
}

/** Processing (ROLE=worker/all): latency of one shard's batch (write, rollups, acks). */
export abstract class BatchWriteMetrics {
  abstract observe(shard: string, seconds: number): void;
}

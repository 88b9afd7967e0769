import { Injectable } from '@nestjs/common';

/** Upper bounds (ms) of the batch-latency histogram buckets; a final +Inf bucket is implied. */
export const BATCH_LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000] as const;

export interface HistogramSnapshot {
  buckets: Array<{ le: number; count: number }>;
  count: number;
  sum: number;
}

/** Cumulative histogram in the Prometheus sense (bucket counts include every smaller bucket). */
export class LatencyHistogram {
  private readonly counts: number[];
  count = 0;
  sum = 0;

  constructor(readonly bounds: readonly number[] = BATCH_LATENCY_BUCKETS_MS) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(ms: number): void {
    this.count += 1;
    this.sum += ms;
    for (let i = 0; i < this.bounds.length; i++) if (ms <= this.bounds[i]) this.counts[i] += 1;
  }

  snapshot(): HistogramSnapshot {
    return {
      buckets: [...this.bounds.map((le, i) => ({ le, count: this.counts[i] })), { le: Infinity, count: this.count }],
      count: this.count,
      sum: this.sum,
    };
  }
}

export interface WorkerMetricsSnapshot {
  /** Documents newly written. */
  processed: number;
  /** Entries whose document was already stored (redeliveries): acked, not written again. */
  duplicates: number;
  /** Entries left pending after a transient failure (they are retried later, not lost). */
  failed: number;
  /** Entries moved to the dead-letter queue. */
  dlq: number;
  /** Entries acknowledged (stored + duplicates + dead-lettered). */
  acked: number;
  /** Write attempts repeated after a transient error. */
  retries: number;
  /** Entries taken over from idle pending lists (own retries and other consumers'). */
  reclaimed: number;
  /** Rollup updates that failed after retries (raw events are stored regardless). */
  rollupFailures: number;
  /** Entries removed from the stream by trimming. */
  trimmed: number;
  batches: number;
  batchLatencyMs: HistogramSnapshot;
  /** Entries read and not yet acknowledged or released (buffer + in-flight). */
  held: number;
}

/**
 * In-process worker counters and the batch-latency histogram. Plain numbers so that the
 * operations module can expose them through prom-client later (collect callbacks read
 * `snapshot()`), without the worker depending on a metrics library.
 */
@Injectable()
export class WorkerMetrics {
  processed = 0;
  duplicates = 0;
  failed = 0;
  dlq = 0;
  acked = 0;
  retries = 0;
  reclaimed = 0;
  rollupFailures = 0;
  trimmed = 0;
  batches = 0;
  held = 0;
  readonly batchLatency = new LatencyHistogram();

  snapshot(): WorkerMetricsSnapshot {
    return {
      processed: this.processed,
      duplicates: this.duplicates,
      failed: this.failed,
      dlq: this.dlq,
      acked: this.acked,
      retries: this.retries,
      reclaimed: this.reclaimed,
      rollupFailures: this.rollupFailures,
      trimmed: this.trimmed,
      batches: this.batches,
      batchLatencyMs: this.batchLatency.snapshot(),
      held: this.held,
    };
  }
}

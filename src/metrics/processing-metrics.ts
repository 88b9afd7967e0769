import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { BATCH_LATENCY_BUCKETS_MS, WorkerMetrics } from '../processing/worker-metrics';
import { BatchWriteMetrics } from './metrics.ports';
import { MetricsRegistry } from './metrics-registry';

type WorkerCounterField = 'processed' | 'duplicates' | 'failed' | 'dlq' | 'acked' | 'retries' | 'reclaimed' | 'rollupFailures' | 'trimmed' | 'batches';

/** Prometheus name and help of each WorkerMetrics counter (read at scrape time, never copied). */
const WORKER_COUNTERS: ReadonlyArray<[WorkerCounterField, string, string]> = [
  ['processed', 'eventproc_events_processed_total', 'Events newly stored in MongoDB by this worker'],
  ['duplicates', 'eventproc_events_processed_duplicate_total', 'Redelivered entries whose event was already stored (acked, not written again)'],
  ['failed', 'eventproc_events_processing_failed_total', 'Entries left pending after a transient storage failure (retried later, not lost)'],
  ['dlq', 'eventproc_events_dead_lettered_total', 'Entries moved to the dead-letter queue'],
  ['acked', 'eventproc_events_acked_total', 'Stream entries acknowledged (stored, duplicates and dead-lettered)'],
  ['retries', 'eventproc_worker_retries_total', 'Storage operations repeated after a transient error'],
  ['reclaimed', 'eventproc_events_reclaimed_total', 'Entries taken over from idle pending lists'],
  ['rollupFailures', 'eventproc_rollup_failures_total', 'Stored events whose analytics rollup update failed after retries'],
  ['trimmed', 'eventproc_stream_trimmed_total', 'Entries removed from the stream by trimming'],
  ['batches', 'eventproc_worker_batches_total', 'Shard batches written'],
];

/**
 * Worker metrics (ROLE=worker/all). The counters live in the processing module's WorkerMetrics
 * (plain numbers); prom-client reads them in collect callbacks at scrape time. The per-shard
 * batch latency histogram is fed through the BatchWriteMetrics port.
 */
@Injectable()
export class PromProcessingMetrics extends BatchWriteMetrics {
  private readonly batchLatency: Histogram<'shard'>;

  constructor(metrics: MetricsRegistry, worker: WorkerMetrics) {
    super();
    const registers = [metrics.registry];
    for (const [field, name, help] of WORKER_COUNTERS) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          // A counter has no set(): reset and add the current total (monotonic in WorkerMetrics).
          this.reset();
          this.inc(worker[field]);
        },
      });
    }
    new Gauge({
      name: 'eventproc_worker_held_entries',
      help: 'Entries this worker has read and not yet acknowledged or released (buffer + in flight)',
      registers,
      collect() {
        this.set(worker.held);
      },
    });
    this.batchLatency = new Histogram({
      name: 'eventproc_batch_write_duration_seconds',
      help: "Time to store one shard's batch: insertMany with retries, rollups and acks",
      labelNames: ['shard'],
      buckets: BATCH_LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
      registers,
    });
  }

  observe(shard: string, seconds: number): void {
    this.batchLatency.labels(shard).observe(seconds);
  }
}

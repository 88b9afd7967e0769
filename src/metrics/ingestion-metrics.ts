import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AppendOutcome, IngestionMetrics, RejectReason } from './metrics.ports';
import { MetricsRegistry } from './metrics-registry';

/** Per-process ingestion counters (Prometheus sums the API replicas). */
@Injectable()
export class PromIngestionMetrics extends IngestionMetrics {
  private readonly ingested: Counter;
  private readonly duplicates: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly backpressured: Counter;

  constructor(metrics: MetricsRegistry) {
    super();
    const registers = [metrics.registry];
    this.ingested = new Counter({ name: 'eventproc_events_ingested_total', help: 'Events accepted into the stream', registers });
    this.duplicates = new Counter({
      name: 'eventproc_events_duplicate_total',
      help: 'Events answered as duplicates (eventId seen within DEDUP_TTL_SECONDS); not stored again',
      registers,
    });
    this.refused = new Counter({
      name: 'eventproc_events_rejected_total',
      help: 'Events not accepted: invalid, too_large, or unavailable (Redis could not take them; the client retries)',
      labelNames: ['reason'],
      registers,
    });
    this.backpressured = new Counter({
      name: 'eventproc_ingest_backpressure_total',
      help: 'Ingestion requests refused with 429 BACKPRESSURE (stream backlog over MAX_STREAM_BACKLOG)',
      registers,
    });
    // Every series exists from the start: rate() and absent() work before the first rejection.
    for (const reason of ['invalid', 'too_large', 'unavailable']) this.refused.labels(reason).inc(0);
  }

  appended(statuses: readonly AppendOutcome[]): void {
    let accepted = 0;
    let duplicate = 0;
    let failed = 0;
    for (const s of statuses) {
      if (s === 'accepted') accepted++;
      else if (s === 'duplicate') duplicate++;
      else failed++;
    }
    if (accepted) this.ingested.inc(accepted);
    if (duplicate) this.duplicates.inc(duplicate);
    if (failed) this.refused.labels('unavailable').inc(failed);
  }

  rejected(reason: RejectReason, count = 1): void {
    if (count > 0) this.refused.labels(reason).inc(count);
  }

  backpressure(): void {
    this.backpressured.inc();
  }
}

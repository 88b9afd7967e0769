import { HttpStatus, Injectable, Optional } from '@nestjs/common';
import { ApiError } from '../common/http/api-error';
import { ErrorCode, ErrorDetail } from '../common/http/error-codes';
import { IngestionMetrics } from '../metrics/metrics.ports';
import { BacklogGauge } from './backlog-monitor';
import { AppendStatus, EventAppender } from './event-appender';
import { EventContext, EventValidator, PreparedEvent } from './event-validator';

export interface SingleResult {
  eventId: string;
  accepted: boolean;
  duplicate: boolean;
}

export interface BatchItemResult {
  index: number;
  eventId: string | null;
  status: 'accepted' | 'duplicate' | 'rejected';
  error?: { code: ErrorCode; message: string; details?: ErrorDetail[] };
}

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  total: number;
  results: BatchItemResult[];
}

/** Seconds a client should wait after a 429 BACKPRESSURE (the backlog is re-read every 250 ms). */
export const BACKPRESSURE_RETRY_AFTER_SECONDS = 1;

/** Validate → dedup + append in one script per partition. Nothing here does I/O except the append. */
@Injectable()
export class IngestionService {
  constructor(
    private readonly validator: EventValidator,
    private readonly appender: EventAppender,
    private readonly backlog: BacklogGauge,
    @Optional() private readonly metrics?: IngestionMetrics,
  ) {}

  async ingestOne(body: unknown, ctx: EventContext): Promise<SingleResult> {
    this.refuseWhenOverloaded();
    const prepared = this.validator.prepare(body, ctx);
    if (!prepared.ok) {
      this.metrics?.rejected(prepared.tooLarge ? 'too_large' : 'invalid');
      // metrics:rejected counts a too-large event too, as it does inside a batch.
      this.appender.recordRejected(1);
      if (prepared.tooLarge) throw new ApiError(HttpStatus.PAYLOAD_TOO_LARGE, ErrorCode.PAYLOAD_TOO_LARGE, prepared.details[0].message, prepared.details);
      throw ApiError.validation('Event validation failed', prepared.details);
    }
    const { statuses, failure } = await this.appender.append([prepared], 0, ctx);
    this.metrics?.appended(statuses);
    if (statuses[0] === 'accepted') this.backlog.noteAppended(1);
    if (failure) throw unavailable();
    const duplicate = statuses[0] === 'duplicate';
    return { eventId: prepared.event.eventId, accepted: !duplicate, duplicate };
  }

  async ingestBatch(body: unknown, ctx: EventContext): Promise<BatchResult> {
    this.refuseWhenOverloaded();
    const envelopeProblems = this.validator.checkEnvelope(body);
    if (envelopeProblems.length > 0) throw ApiError.validation('Batch validation failed', envelopeProblems);
    const items = (body as { events: unknown[] }).events;

    const results = new Array<BatchItemResult>(items.length);
    const valid: PreparedEvent[] = [];
    const validIndex: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const p = this.validator.prepare(items[i], ctx);
      if (p.ok) {
        valid.push(p);
        validIndex.push(i);
      } else {
        this.metrics?.rejected(p.tooLarge ? 'too_large' : 'invalid');
        results[i] = {
          index: i,
          eventId: p.eventId,
          status: 'rejected',
          error: {
            code: p.tooLarge ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.VALIDATION_ERROR,
            message: p.details.map((d) => `${d.field}: ${d.message}`).join('; '),
            details: p.details,
          },
        };
      }
    }
    const rejectedByValidation = items.length - valid.length;

    let statuses: AppendStatus[] = [];
    if (valid.length > 0) {
      const appended = await this.appender.append(valid, rejectedByValidation, ctx);
      this.metrics?.appended(appended.statuses);
      this.backlog.noteAppended(appended.statuses.reduce((n, s) => (s === 'accepted' ? n + 1 : n), 0));
      // Nothing accepted at all → 503 as the contract says; a partial failure (several partitions,
      // one of them unreachable) is reported per item so the client retries exactly those.
      if (appended.failure && appended.statuses.every((s) => s === 'failed')) throw unavailable();
      statuses = appended.statuses;
    } else {
      this.appender.recordRejected(rejectedByValidation);
    }

    let accepted = 0;
    let duplicates = 0;
    for (let j = 0; j < valid.length; j++) {
      const index = validIndex[j];
      const eventId = valid[j].event.eventId;
      const status = statuses[j];
      if (status === 'accepted') {
        accepted++;
        results[index] = { index, eventId, status };
      } else if (status === 'duplicate') {
        duplicates++;
        results[index] = { index, eventId, status };
      } else {
        results[index] = {
          index,
          eventId,
          status: 'rejected',
          error: { code: ErrorCode.SERVICE_UNAVAILABLE, message: 'Redis is unavailable for this event; it was not accepted, retry it' },
        };
      }
    }
    return { accepted, duplicates, rejected: items.length - accepted - duplicates, total: items.length, results };
  }

  private refuseWhenOverloaded(): void {
    if (this.backlog.isOverloaded()) {
      this.metrics?.backpressure();
      throw ApiError.tooManyRequests(
        'BACKPRESSURE',
        'The event backlog is over its limit; nothing was accepted, retry later',
        BACKPRESSURE_RETRY_AFTER_SECONDS,
      );
    }
  }
}

const unavailable = (): ApiError => ApiError.unavailable('Redis', 1);

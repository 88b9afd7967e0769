import { ApiError } from '../common/http/api-error';
import { BacklogGauge } from './backlog-monitor';
import { AppendResult, EventAppender } from './event-appender';
import { EventValidator, PreparedEvent } from './event-validator';
import { IngestionService } from './ingestion.service';

class FakeAppender extends EventAppender {
  calls: { events: PreparedEvent[]; rejected: number }[] = [];
  recorded = 0;
  constructor(private readonly answer: (events: PreparedEvent[]) => AppendResult) {
    super();
  }
  async append(events: PreparedEvent[], rejectedCount: number): Promise<AppendResult> {
    this.calls.push({ events, rejected: rejectedCount });
    return this.answer(events);
  }
  recordRejected(count: number): void {
    this.recorded += count;
  }
}

class FakeGauge extends BacklogGauge {
  overloaded = false;
  appended = 0;
  isOverloaded(): boolean {
    return this.overloaded;
  }
  current(): number {
    return 0;
  }
  noteAppended(entries: number): void {
    this.appended += entries;
  }
}

const ctx = { apiKeyId: 'k', receivedAt: Date.now() };
const ev = (over: Record<string, unknown> = {}) => ({ eventType: 't', userId: 'u', sessionId: 's', timestamp: new Date().toISOString(), ...over });

describe('IngestionService', () => {
  const make = (answer: (events: PreparedEvent[]) => AppendResult) => {
    const appender = new FakeAppender(answer);
    const gauge = new FakeGauge();
    return { appender, gauge, service: new IngestionService(new EventValidator(), appender, gauge) };
  };
  const allAccepted = (events: PreparedEvent[]): AppendResult => ({ statuses: events.map(() => 'accepted') });

  it('refuses with 429 BACKPRESSURE before validating or appending anything', async () => {
    const { appender, gauge, service } = make(allAccepted);
    gauge.overloaded = true;
    for (const call of [() => service.ingestOne(ev(), ctx), () => service.ingestBatch({ events: [ev()] }, ctx)]) {
      const err = (await call().catch((e: unknown) => e)) as ApiError;
      expect(err).toBeInstanceOf(ApiError);
      expect(err.getStatus()).toBe(429);
      expect(err.code).toBe('BACKPRESSURE');
      expect(err.retryAfterSeconds).toBe(1);
    }
    expect(appender.calls).toHaveLength(0);
  });

  it('tells the backlog gauge how many entries it appended (accepted only)', async () => {
    const { gauge, service } = make((events) => ({ statuses: events.map((_, i) => (i === 1 ? 'duplicate' : 'accepted')) }));
    await service.ingestOne(ev(), ctx);
    expect(gauge.appended).toBe(1);
    await service.ingestBatch({ events: [ev(), ev(), ev(), {}] }, ctx);
    expect(gauge.appended).toBe(1 + 2);
  });

  it('maps a failed append to 503 with Retry-After', async () => {
    const { service } = make((events) => ({ statuses: events.map(() => 'failed'), failure: new Error('down') }));
    const err = (await service.ingestOne(ev(), ctx).catch((e: unknown) => e)) as ApiError;
    expect([err.getStatus(), err.code, err.retryAfterSeconds]).toEqual([503, 'SERVICE_UNAVAILABLE', 1]);
    const batchErr = (await service.ingestBatch({ events: [ev(), {}] }, ctx).catch((e: unknown) => e)) as ApiError;
    expect(batchErr.getStatus()).toBe(503);
  });

  it('reports a partly failed batch (one partition down) per item, so exactly those are retried', async () => {
    const { service } = make(() => ({ statuses: ['accepted', 'failed', 'duplicate'], failure: new Error('partition 2 down') }));
    const res = await service.ingestBatch({ events: [ev({ eventId: 'a' }), ev({ eventId: 'b' }), {}, ev({ eventId: 'c' })] }, ctx);
    expect(res).toEqual(
      expect.objectContaining({ accepted: 1, duplicates: 1, rejected: 2, total: 4 }),
    );
    expect(res.results.map((r) => [r.index, r.eventId, r.status, r.error?.code])).toEqual([
      [0, 'a', 'accepted', undefined],
      [1, 'b', 'rejected', 'SERVICE_UNAVAILABLE'],
      [2, null, 'rejected', 'VALIDATION_ERROR'],
      [3, 'c', 'duplicate', undefined],
    ]);
  });

  it('passes the count of invalid items along with the valid ones, or records it alone', async () => {
    const { appender, service } = make(allAccepted);
    await service.ingestBatch({ events: [ev(), {}, {}] }, ctx);
    expect(appender.calls.map((c) => [c.events.length, c.rejected])).toEqual([[1, 2]]);
    await service.ingestBatch({ events: [{}, {}] }, ctx);
    expect(appender.calls).toHaveLength(1);
    expect(appender.recorded).toBe(2);
  });

  it('a single event over 32 KiB → 413 PAYLOAD_TOO_LARGE; an invalid one → 400; both counted as rejected', async () => {
    const { appender, service } = make(allAccepted);
    const big = (await service.ingestOne(ev({ payload: { s: 'x'.repeat(33 * 1024) } }), ctx).catch((e: unknown) => e)) as ApiError;
    expect([big.getStatus(), big.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(appender.recorded).toBe(1);
    const bad = (await service.ingestOne(ev({ priority: 99 }), ctx).catch((e: unknown) => e)) as ApiError;
    expect([bad.getStatus(), bad.code, bad.details]).toEqual([400, 'VALIDATION_ERROR', [expect.objectContaining({ field: 'priority' })]]);
    expect(appender.recorded).toBe(2);
    expect(appender.calls).toHaveLength(0);
  });

  it('a duplicate single event is accepted:false, duplicate:true', async () => {
    const { service } = make(() => ({ statuses: ['duplicate'] }));
    expect(await service.ingestOne(ev({ eventId: 'x' }), ctx)).toEqual({ eventId: 'x', accepted: false, duplicate: true });
  });
});

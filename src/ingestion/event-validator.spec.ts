import { decodeStreamEntry, encodeStreamEntry } from '../events/stream-entry';
import { streamEntryTemplate } from './event-appender';
import { EventValidator, nestedDeeperThan, PreparedEvent, RejectedEvent, timestampProblem } from './event-validator';
import { MAX_EVENT_BYTES } from './schemas/event.schema';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const ctx = { apiKeyId: 'key-1', receivedAt: NOW };
const base = () => ({ eventType: 'page.view', userId: 'u1', sessionId: 's1', timestamp: '2025-06-01T11:59:00Z' });

describe('EventValidator', () => {
  const v = new EventValidator();

  it('drops unknown top-level fields, defaults priority, keeps metadata/payload untouched, encodes the stream entry', () => {
    const raw = { ...base(), eventId: 'id-1', metadata: { a: { b: 1 } }, payload: { 'x.y': 1, $z: 2 }, junk: true, _id: 'x' };
    const p = v.prepare(raw, ctx) as PreparedEvent;
    expect(p.ok).toBe(true);
    expect(p.clientEventId).toBe(true);
    expect(p.event).toEqual({ ...base(), eventId: 'id-1', metadata: { a: { b: 1 } }, payload: { 'x.y': 1, $z: 2 }, priority: 1 });
    expect(Object.keys(p.event)).toEqual(['eventId', 'eventType', 'userId', 'sessionId', 'timestamp', 'metadata', 'payload', 'priority']);
    // What the script appends (the request's entry with this event's JSON in the slot) is encodeStreamEntry's output.
    const { fields, slot } = streamEntryTemplate(ctx);
    fields[slot - 1] = p.json;
    expect(fields).toEqual(encodeStreamEntry({ event: p.event, ...ctx }));
    expect(decodeStreamEntry(fields)).toEqual({ event: JSON.parse(JSON.stringify(p.event)), apiKeyId: 'key-1', receivedAt: NOW });
  });

  it('generates a UUIDv7 when eventId is absent and marks it as server-generated', () => {
    const p = v.prepare(base(), ctx) as PreparedEvent;
    expect(p.clientEventId).toBe(false);
    expect(p.event.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('does not coerce types', () => {
    const p = v.prepare({ ...base(), priority: '3', userId: 5 }, ctx) as RejectedEvent;
    expect(p.ok).toBe(false);
    expect(p.details.map((d) => d.field).sort()).toEqual(['priority', 'userId']);
  });

  it('rejects non-objects with the field "event"', () => {
    for (const raw of [null, 'x', 1, [base()]]) {
      const p = v.prepare(raw, ctx) as RejectedEvent;
      expect(p).toEqual({ ok: false, eventId: null, details: [{ field: 'event', message: 'must be object' }], tooLarge: false });
    }
  });

  it('keeps a usable client eventId on a rejected event, not an unusable one', () => {
    expect((v.prepare({ eventId: 'ok-1' }, ctx) as RejectedEvent).eventId).toBe('ok-1');
    expect((v.prepare({ eventId: 'bad id' }, ctx) as RejectedEvent).eventId).toBeNull();
  });

  it('measures the size as UTF-8 bytes of the stored JSON', () => {
    const overhead = JSON.stringify({ eventId: 'id', ...base(), payload: { s: '' }, priority: 1 }).length;
    const ascii = v.prepare({ ...base(), eventId: 'id', payload: { s: 'a'.repeat(MAX_EVENT_BYTES - overhead) } }, ctx);
    expect(ascii.ok).toBe(true);
    const oneMore = v.prepare({ ...base(), eventId: 'id', payload: { s: 'a'.repeat(MAX_EVENT_BYTES - overhead + 1) } }, ctx) as RejectedEvent;
    expect(oneMore).toEqual(expect.objectContaining({ ok: false, tooLarge: true, eventId: 'id' }));
    // 'é' is one UTF-16 unit but two bytes.
    const multiByte = v.prepare({ ...base(), payload: { s: 'é'.repeat(MAX_EVENT_BYTES / 2) } }, ctx) as RejectedEvent;
    expect(multiByte.tooLarge).toBe(true);
  });

  it('rejects metadata/payload nested deeper than 32 levels', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 1; i < 33; i++) deep = { n: deep };
    const p = v.prepare({ ...base(), payload: deep }, ctx) as RejectedEvent;
    expect(p.details).toEqual([{ field: 'payload', message: expect.stringContaining('32') }]);
    expect(v.prepare({ ...base(), metadata: (deep as { n: Record<string, unknown> }).n }, ctx).ok).toBe(true);
  });

  it('refuses values storage cannot keep exactly: U+0000, lone surrogates, arrays inside arrays', () => {
    const rejectedWith = (raw: object) => (v.prepare(raw, ctx) as RejectedEvent).details?.[0]?.message;
    expect(rejectedWith({ ...base(), userId: 'u\u0000v' })).toMatch(/U\+0000/);
    expect(rejectedWith({ ...base(), payload: { k: 'x\ud800y' } })).toMatch(/surrogate/);
    expect(rejectedWith({ ...base(), metadata: { m: [1, [2, 3]] } })).toMatch(/arrays directly inside arrays/);
    // Look-alikes are fine: the literal text "\u0000", a valid surrogate pair, arrays of objects holding arrays.
    for (const ok of [{ payload: { t: 'lit\\u0000text' } }, { payload: { e: 'ok 😀' } }, { payload: { a: [{ b: [1, 2] }] } }]) {
      expect(v.prepare({ ...base(), ...ok }, ctx).ok).toBe(true);
    }
  });

  it('checks the batch envelope', () => {
    expect(v.checkEnvelope({ events: [{}] })).toEqual([]);
    expect(v.checkEnvelope({ events: [] })).toEqual([{ field: 'events', message: expect.any(String) }]);
    expect(v.checkEnvelope({})).toEqual([{ field: 'events', message: expect.any(String) }]);
    expect(v.checkEnvelope({ events: new Array(1001).fill({}) })).toEqual([{ field: 'events', message: expect.any(String) }]);
  });

  it('treats own __proto__ / constructor properties (as JSON.parse creates them) as plain data', () => {
    const raw = JSON.parse(`{"eventType":"a","userId":"u","sessionId":"s","timestamp":"2025-06-01T11:00:00Z","__proto__":{"polluted":1},"metadata":{"__proto__":{"x":1},"constructor":{"prototype":{"y":1}}}}`);
    const p = v.prepare(raw, ctx) as PreparedEvent;
    expect(p.ok).toBe(true);
    expect(Object.prototype.hasOwnProperty.call(p.event, '__proto__')).toBe(false); // unknown top-level field dropped
    expect(JSON.parse(p.json).metadata).toEqual(raw.metadata);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('timestampProblem', () => {
  it.each([
    ['2025-06-01T12:00:00Z', undefined],
    ['2024-02-29T00:00:00Z', undefined],
    ['2025-06-02T11:59:59Z', undefined],
    ['2025-06-02T12:00:01Z', 'must not be more than 24 hours in the future'],
    ['2025-06-02T13:00:00+00:30', 'must not be more than 24 hours in the future'],
    ['2025-02-29T00:00:00Z', 'must be a valid ISO 8601 date-time'],
    ['2025-04-31T00:00:00Z', 'must be a valid ISO 8601 date-time'],
    ['2025-13-01T00:00:00Z', 'must be a valid ISO 8601 date-time'],
    ['2025-01-01T24:00:00Z', 'must be a valid ISO 8601 date-time'],
    ['2025-01-01T23:59:60Z', 'must be a valid ISO 8601 date-time'],
  ])('%s → %s', (ts, expected) => {
    expect(timestampProblem(ts, NOW)).toBe(expected);
  });
});

describe('nestedDeeperThan', () => {
  it('counts objects and arrays as levels and stops at the limit', () => {
    expect(nestedDeeperThan({ a: 1 }, 1)).toBe(false);
    expect(nestedDeeperThan({ a: { b: 1 } }, 1)).toBe(true);
    expect(nestedDeeperThan({ a: [[1]] }, 2)).toBe(true);
    expect(nestedDeeperThan({ a: [[1]] }, 3)).toBe(false);
  });
});

import { StreamEntry } from '../../events/stream-entry';
import { InvalidEventError, toStoredDocument } from './event-document';

const entry = (event: Record<string, unknown>, apiKeyId: string | null = 'k1'): StreamEntry => ({
  event: event as unknown as StreamEntry['event'],
  apiKeyId,
  receivedAt: 1_700_000_000_000,
});

const base = { eventId: 'e1', eventType: 'click', userId: 'u1', sessionId: 's1', timestamp: '2024-05-01T10:00:00.123Z', priority: 3 };

describe('toStoredDocument', () => {
  const processedAt = new Date(1_700_000_001_000);

  it('keeps every field, _id = eventId, dates as Dates', () => {
    const doc = toStoredDocument(entry({ ...base, metadata: { a: 1 }, payload: { b: [1, 2] } }), processedAt);
    expect(doc).toEqual({
      _id: 'e1',
      eventId: 'e1',
      eventType: 'click',
      userId: 'u1',
      sessionId: 's1',
      timestamp: new Date('2024-05-01T10:00:00.123Z'),
      priority: 3,
      metadata: { a: 1 },
      payload: { b: [1, 2] },
      receivedAt: new Date(1_700_000_000_000),
      processedAt,
      apiKeyId: 'k1',
    });
  });

  it('leaves absent metadata/payload absent and defaults priority to 1', () => {
    const { priority: _p, ...rest } = base;
    const doc = toStoredDocument(entry(rest, null), processedAt);
    expect('metadata' in doc).toBe(false);
    expect('payload' in doc).toBe(false);
    expect(doc.priority).toBe(1);
    expect(doc.apiKeyId).toBeNull();
  });

  it('stores $ and . in field names in their escaped form', () => {
    const doc = toStoredDocument(entry({ ...base, payload: { $op: { 'a.b': 1 } } }), processedAt);
    expect(doc.payload).toEqual({ '\uFF04op': { 'a\uFF0Eb': 1 } });
  });

  it.each([
    [{ timestamp: 'not a date' }, /timestamp/],
    [{ timestamp: 12 }, /timestamp/],
    [{ sessionId: '' }, /sessionId/],
    [{ eventType: undefined }, /eventType/],
    [{ priority: 1.5 }, /priority/],
    [{ payload: [1, 2] }, /payload/],
    [{ metadata: 'x' }, /metadata/],
  ])('refuses %j', (patch, message) => {
    expect(() => toStoredDocument(entry({ ...base, ...patch }), processedAt)).toThrow(InvalidEventError);
    expect(() => toStoredDocument(entry({ ...base, ...patch }), processedAt)).toThrow(message);
  });
});

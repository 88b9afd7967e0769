import type { StoredEventDocument } from '../../events/event.types';
import { decodeUserActivity, encodeUserActivity, groupIntoBuckets } from './rollup-batch';
import { RETENTION_SECONDS } from './rollup-granularity';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0) / 1000;
let n = 0;
const ev = (userId: string, eventType: string, isoTs: string, sessionId = `s-${userId}`): StoredEventDocument => ({
  _id: `e${++n}`,
  eventId: `e${n}`,
  userId,
  eventType,
  sessionId,
  timestamp: new Date(isoTs),
  priority: 1,
  receivedAt: new Date(),
  processedAt: new Date(),
  apiKeyId: null,
});

describe('groupIntoBuckets', () => {
  it('groups by the event timestamp at minute, hour and day granularity', () => {
    const deltas = groupIntoBuckets(
      [
        ev('u1', 'click', '2026-11-27T11:00:10Z'),
        ev('u1', 'click', '2026-11-27T11:00:50Z'),
        ev('u2', 'view', '2026-11-27T11:01:00Z', 's9'),
        ev('u1', 'view', '2026-11-27T10:59:59Z'),
      ],
      NOW,
    );
    const find = (g: string, iso: string) => deltas.find((d) => d.g === g && d.bucket === Date.parse(iso) / 1000)!;
    const m = find('m', '2026-11-27T11:00:00Z');
    expect([...m.counts]).toEqual([['click', 2]]);
    expect(m.users.get('u1')!.count).toBe(2);
    expect(m.users.get('u1')!.types.get('click')).toEqual({ count: 2, lastMs: Date.parse('2026-11-27T11:00:50Z') });
    const h = find('h', '2026-11-27T11:00:00Z');
    expect(Object.fromEntries(h.counts)).toEqual({ click: 2, view: 1 });
    expect([...h.users.keys()].sort()).toEqual(['u1', 'u2']);
    expect(new Set([...h.typeSessionIds.values()].flatMap((s) => [...s]))).toEqual(new Set(['s-u1', 's9']));
    expect([...h.typeSessionIds.get('view')!]).toEqual(['s9']);
    const d = find('d', '2026-11-27T00:00:00Z');
    expect(Object.fromEntries(d.counts)).toEqual({ click: 2, view: 2 });
    expect(d.users.get('u1')!.count).toBe(3);
    expect(deltas.filter((x) => x.g === 'm')).toHaveLength(3);
    expect(deltas.filter((x) => x.g === 'h')).toHaveLength(2);
  });

  it('skips buckets already past retention (the keys would expire at once)', () => {
    const old = new Date((NOW - RETENTION_SECONDS.m - 600) * 1000).toISOString();
    const deltas = groupIntoBuckets([ev('u1', 'click', old)], NOW);
    expect(deltas.map((d) => d.g).sort()).toEqual(['d', 'h']);
  });
});

describe('user activity encoding', () => {
  it('round-trips and merges (sum counts, max timestamp)', () => {
    const a = new Map([['page.view', { count: 2, lastMs: 1_700_000_000_123 }], ['a:b-c_d', { count: 1, lastMs: 5 }]]);
    const encoded = encodeUserActivity(a);
    expect(decodeUserActivity(encoded)).toEqual(a);
    const merged = decodeUserActivity('page.view=3@1700000000000', decodeUserActivity(encoded));
    expect(merged.get('page.view')).toEqual({ count: 5, lastMs: 1_700_000_000_123 });
  });
});

import type { StoredEventDocument } from '../../events/event.types';
import { bucketExpiry, bucketStart, Granularity, GRANULARITIES, isRetained } from './rollup-granularity';

/** Per user in one bucket: event count, and per eventType its count and latest timestamp (ms). */
export interface UserActivity {
  count: number;
  types: Map<string, { count: number; lastMs: number }>;
}

/** Everything one flush adds to one bucket of one granularity (one shard's events). */
export interface BucketDelta {
  g: Granularity;
  bucket: number;
  expireAt: number;
  counts: Map<string, number>;
  users: Map<string, UserActivity>;
  userIds: Set<string>;
  sessionIds: Set<string>;
  typeSessionIds: Map<string, Set<string>>;
}

const addTo = <K, V>(map: Map<K, V>, key: K, make: () => V): V => {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
};

/**
 * Groups newly inserted events in memory by (granularity, bucket), so one flush of ~100 events
 * becomes a handful of increments per bucket instead of one write per event. Events are counted
 * by their own `timestamp`, not by receive time. Buckets already past retention are skipped.
 */
export function groupIntoBuckets(events: readonly StoredEventDocument[], nowSeconds: number): BucketDelta[] {
  const deltas = new Map<string, BucketDelta>();
  for (const e of events) {
    const ms = e.timestamp instanceof Date ? e.timestamp.getTime() : new Date(e.timestamp as unknown as string).getTime();
    if (!Number.isFinite(ms)) continue;
    const seconds = Math.floor(ms / 1000);
    for (const g of GRANULARITIES) {
      const bucket = bucketStart(seconds, g);
      if (!isRetained(bucket, g, nowSeconds)) continue;
      const d = addTo(deltas, `${g}${bucket}`, () => ({
        g,
        bucket,
        expireAt: bucketExpiry(bucket, g),
        counts: new Map(),
        users: new Map(),
        userIds: new Set(),
        sessionIds: new Set(),
        typeSessionIds: new Map(),
      }));
      d.counts.set(e.eventType, (d.counts.get(e.eventType) ?? 0) + 1);
      const u = addTo(d.users, e.userId, () => ({ count: 0, types: new Map() }));
      u.count += 1;
      const t = addTo(u.types, e.eventType, () => ({ count: 0, lastMs: ms }));
      t.count += 1;
      if (ms > t.lastMs) t.lastMs = ms;
      d.userIds.add(e.userId);
      d.sessionIds.add(e.sessionId);
      addTo(d.typeSessionIds, e.eventType, () => new Set()).add(e.sessionId);
    }
  }
  return [...deltas.values()];
}

/**
 * Storage form of a user's per-type activity in a bucket: `type=count@lastMs,…`. Event types
 * match `^[a-zA-Z][a-zA-Z0-9_.:-]*$` (contract §4), so `=`, `@` and `,` cannot occur in them.
 */
export function encodeUserActivity(types: Map<string, { count: number; lastMs: number }>): string {
  return [...types].map(([type, v]) => `${type}=${v.count}@${v.lastMs}`).join(',');
}

export function decodeUserActivity(value: string, into = new Map<string, { count: number; lastMs: number }>()): Map<string, { count: number; lastMs: number }> {
  if (!value) return into;
  for (const part of value.split(',')) {
    const eq = part.lastIndexOf('=');
    const at = part.lastIndexOf('@');
    if (eq <= 0 || at < eq) continue;
    const type = part.slice(0, eq);
    const count = Number(part.slice(eq + 1, at));
    const lastMs = Number(part.slice(at + 1));
    const cur = into.get(type);
    if (cur) {
      cur.count += count;
      if (lastMs > cur.lastMs) cur.lastMs = lastMs;
    } else {
      into.set(type, { count, lastMs });
    }
  }
  return into;
}

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
  /** By userId; its keys are the bucket's distinct users. */
  users: Map<string, UserActivity>;
  /** By eventType, the distinct sessions; their union is the bucket's distinct sessions. */
  typeSessionIds: Map<string, Set<string>>;
}

/**
 * Groups newly inserted events in memory by (granularity, bucket), so one flush of ~100 events
 * becomes a handful of increments per bucket instead of one write per event. Events are counted
 * by their own `timestamp`, not by receive time. Buckets already past retention are skipped.
 * This runs for every flush on the worker's one thread: plain loops, numeric map keys.
 */
export function groupIntoBuckets(events: readonly StoredEventDocument[], nowSeconds: number): BucketDelta[] {
  const deltas = new Map<number, BucketDelta>();
  for (const e of events) {
    const ms = e.timestamp instanceof Date ? e.timestamp.getTime() : new Date(e.timestamp as unknown as string).getTime();
    if (!Number.isFinite(ms)) continue;
    const seconds = Math.floor(ms / 1000);
    for (let gi = 0; gi < GRANULARITIES.length; gi++) {
      const g = GRANULARITIES[gi];
      const bucket = bucketStart(seconds, g);
      // Bucket starts are whole seconds, so this key is unique per (granularity, bucket).
      const key = bucket * GRANULARITIES.length + gi;
      let d = deltas.get(key);
      if (d === undefined) {
        if (!isRetained(bucket, g, nowSeconds)) continue;
        d = { g, bucket, expireAt: bucketExpiry(bucket, g), counts: new Map(), users: new Map(), typeSessionIds: new Map() };
        deltas.set(key, d);
      }
      d.counts.set(e.eventType, (d.counts.get(e.eventType) ?? 0) + 1);
      let u = d.users.get(e.userId);
      if (u === undefined) {
        u = { count: 0, types: new Map() };
        d.users.set(e.userId, u);
      }
      u.count += 1;
      const t = u.types.get(e.eventType);
      if (t === undefined) u.types.set(e.eventType, { count: 1, lastMs: ms });
      else {
        t.count += 1;
        if (ms > t.lastMs) t.lastMs = ms;
      }
      let sessions = d.typeSessionIds.get(e.eventType);
      if (sessions === undefined) {
        sessions = new Set();
        d.typeSessionIds.set(e.eventType, sessions);
      }
      sessions.add(e.sessionId);
    }
  }
  return [...deltas.values()];
}

/**
 * Storage form of a user's per-type activity in a bucket: `type=count@lastMs,…`. Event types
 * match `^[a-zA-Z][a-zA-Z0-9_.:-]*$` (contract §4), so `=`, `@` and `,` cannot occur in them.
 */
export function encodeUserActivity(types: Map<string, { count: number; lastMs: number }>): string {
  let out = '';
  for (const [type, v] of types) out += `${out === '' ? '' : ','}${type}=${v.count}@${v.lastMs}`;
  return out;
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

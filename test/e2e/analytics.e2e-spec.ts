import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import request from 'supertest';
import { RollupReader } from '../../src/analytics/rollup.reader';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { encodeStreamEntry } from '../../src/events/stream-entry';
import type { IngestedEvent } from '../../src/events/event.types';
import { waitFor } from '../support/child-process';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * Analytics against the real app in ROLE=all: events go through the real ingestion API into the
 * Redis stream, the in-process worker stores them on the FerretDB shards and writes the rollups,
 * and every endpoint's answer is compared with what the test computes from the generated events.
 * Redis DB 8 belongs to this file.
 */
const REDIS_DB = 8;
const HLL_ERROR = 0.0081;
const DAY = 86_400_000;

interface Ev extends IngestedEvent {
  metadata?: Record<string, unknown>;
}

interface Metrics {
  totalEvents: number;
  timeRange: { start: string; end: string };
  eventsByType: Array<{ eventType: string; count: number; percentage: number }>;
  topUsers: Array<{ userId: string; eventCount: number; lastEventAt: string | null; eventTypes: string[] }>;
  eventsOverTime: Array<{ timestamp: string; count: number }>;
  avgEventsPerUser: number;
  uniqueUsers: number;
  uniqueSessions: number;
  bucketSeconds: number;
  uniquesApproximate: boolean;
}

/** Small deterministic PRNG so a failure can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const within = (estimate: number, exact: number): void => {
  expect(Math.abs(estimate - exact)).toBeLessThanOrEqual(Math.max(1, Math.ceil(3 * HLL_ERROR * exact)));
};

/** What the metrics endpoint must answer for [start, end) computed straight from the events. */
function expectedMetrics(events: Ev[], start: number, end: number, width: number, filter: { eventType?: string; userId?: string } = {}) {
  const inRange = events.filter(
    (e) =>
      Date.parse(e.timestamp) >= start &&
      Date.parse(e.timestamp) < end &&
      (filter.eventType === undefined || e.eventType === filter.eventType) &&
      (filter.userId === undefined || e.userId === filter.userId),
  );
  const total = inRange.length;
  const byType = new Map<string, number>();
  const users = new Map<string, { count: number; last: number; types: Set<string> }>();
  const sessions = new Set<string>();
  const points = Array.from({ length: Math.round((end - start) / width) }, (_, i) => ({ timestamp: new Date(start + i * width).toISOString(), count: 0 }));
  for (const e of inRange) {
    const t = Date.parse(e.timestamp);
    byType.set(e.eventType, (byType.get(e.eventType) ?? 0) + 1);
    const u = users.get(e.userId) ?? { count: 0, last: 0, types: new Set<string>() };
    u.count++;
    u.last = Math.max(u.last, t);
    u.types.add(e.eventType);
    users.set(e.userId, u);
    sessions.add(e.sessionId);
    points[Math.floor((t - start) / width)].count++;
  }
  return {
    totalEvents: total,
    eventsByType: [...byType]
      .map(([eventType, count]) => ({ eventType, count, percentage: round2((count / total) * 100) }))
      .sort((a, b) => b.count - a.count || (a.eventType < b.eventType ? -1 : 1)),
    topUsers: [...users]
      .map(([userId, u]) => ({ userId, eventCount: u.count, lastEventAt: new Date(u.last).toISOString(), eventTypes: [...u.types].sort() }))
      .sort((a, b) => b.eventCount - a.eventCount || (a.userId < b.userId ? -1 : 1))
      .slice(0, 10),
    eventsOverTime: points,
    uniqueUsers: users.size,
    uniqueSessions: sessions.size,
  };
}

describe('analytics (real API, worker, Redis rollups, FerretDB shards)', () => {
  let app: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let env: Record<string, string>;
  let redis: Redis;
  let mongo: MongoClient[];
  let apiKey: string;
  let viewerToken: string;
  const run = uniqueSuffix();
  const events: Ev[] = [];
  const now = Date.now();

  const get = (path: string, auth: 'key' | 'jwt' | 'none' = 'key') => {
    const req = request(http).get(path);
    if (auth === 'key') void req.set('x-api-key', apiKey);
    if (auth === 'jwt') void req.set('authorization', `Bearer ${viewerToken}`);
    return req;
  };
  const metrics = async (qs: string): Promise<{ body: Metrics; cache: string }> => {
    const res = await get(`/api/v1/analytics/metrics?${qs}`);
    expect(res.status).toBe(200);
    return { body: (res.body as { data: Metrics }).data, cache: res.headers['x-analytics-cache'] as string };
  };
  const storedCount = async (): Promise<number> => {
    const counts = await Promise.all(mongo.map((c) => c.db().collection('events').countDocuments({})));
    return counts.reduce((a, b) => a + b, 0);
  };
  /** Until every stream entry was read and acked by the worker (rollups are applied before the ack). */
  const drained = async (): Promise<void> => {
    await waitFor(
      async () => {
        const groups = (await redis.xinfo('GROUPS', env.STREAM_KEY)) as unknown[][];
        const g = groups.map((row) => Object.fromEntries(row.reduce<Array<[string, unknown]>>((acc, v, i, arr) => (i % 2 === 0 ? [...acc, [String(v), arr[i + 1]]] : acc), [])));
        return g.length > 0 && g.every((x) => x.pending === 0 && x.lag === 0);
      },
      60_000,
      200,
    );
  };
  const ingest = async (batch: Ev[]): Promise<void> => {
    for (let i = 0; i < batch.length; i += 1000) {
      const res = await request(http).post('/api/v1/events/batch').set('x-api-key', apiKey).send({ events: batch.slice(i, i + 1000) });
      expect(res.status).toBe(202);
      expect(res.body.data.rejected).toBe(0);
    }
  };
  const checkMetrics = (got: Metrics, filter: { eventType?: string; userId?: string } = {}): void => {
    const start = Date.parse(got.timeRange.start);
    const end = Date.parse(got.timeRange.end);
    const exp = expectedMetrics(events, start, end, got.bucketSeconds * 1000, filter);
    expect(got.eventsOverTime.length).toBeLessThanOrEqual(201);
    expect({ total: got.totalEvents, byType: got.eventsByType, top: got.topUsers, overTime: got.eventsOverTime }).toEqual({
      total: exp.totalEvents,
      byType: exp.eventsByType,
      top: exp.topUsers,
      overTime: exp.eventsOverTime,
    });
    if (got.uniquesApproximate) {
      within(got.uniqueUsers, exp.uniqueUsers);
      within(got.uniqueSessions, exp.uniqueSessions);
    } else {
      expect([got.uniqueUsers, got.uniqueSessions]).toEqual([exp.uniqueUsers, exp.uniqueSessions]);
    }
    expect(got.avgEventsPerUser).toBe(got.uniqueUsers > 0 ? round2(got.totalEvents / got.uniqueUsers) : 0);
  };

  beforeAll(async () => {
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'all', BATCH_TIMEOUT_MS: '50', READ_COUNT: '200' } });
    redis = new Redis(env.REDIS_URL);
    // Rollup and cache keys are not randomized per run: this DB belongs to this file, start empty.
    await redis.flushdb();
    mongo = await Promise.all(env.MONGO_SHARD_URIS.split(',').map((uri) => MongoClient.connect(uri)));
    app = await startTestApp(env);
    http = app.getHttpServer();
    const users = app.get(UsersService);
    const owner = await users.create({ email: `analytics-${run}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
    apiKey = (await app.get(ApiKeysService).create(owner.id, { name: 'analytics e2e' })).key;
    await users.create({ email: `viewer-${run}@example.test`, password: 'correct horse battery', role: 'VIEWER' });
    const login = await request(http).post('/api/auth/login').send({ email: `viewer-${run}@example.test`, password: 'correct horse battery' });
    expect(login.status).toBe(200);
    viewerToken = login.body.data.token;

    // The data set: 3,000 events over the last ~2.5 days (minute rollups kept), 150 over days 5–6
    // (only hour/day rollups), 120 in the last 50 minutes; 40 users with 1–4 sessions each,
    // skewed activity (ties included), 6 types, one user id full of regex characters.
    const rand = rng(42);
    const types = ['page.view', 'click', 'signup', 'purchase', 'api:call', 'log-out'];
    const userIds = Array.from({ length: 40 }, (_, i) => (i === 7 ? 'a.*b+c?(d)' : `user-${String(i).padStart(2, '0')}`));
    const pickUser = (): string => userIds[Math.min(39, Math.floor(rand() ** 2 * 40))];
    const mk = (i: number, ts: number): Ev => {
      const userId = pickUser();
      return {
        eventId: `an-${run}-${i}`,
        eventType: types[Math.floor(rand() ** 1.5 * types.length)],
        userId,
        sessionId: `${userId}-s${Math.floor(rand() * 4)}`,
        timestamp: new Date(ts).toISOString(),
        priority: 1,
        ...(i % 50 === 0 ? { payload: { 'price.usd': 3, $op: 'x', nested: { 'a.b': [{ $c: 1 }] } }, metadata: { 'k.v': true } } : {}),
      };
    };
    let i = 0;
    for (; i < 3000; i++) events.push(mk(i, now - 60_000 - Math.floor(rand() * 2.5 * DAY)));
    for (; i < 3150; i++) events.push(mk(i, now - 5 * DAY - Math.floor(rand() * DAY)));
    for (; i < 3270; i++) events.push(mk(i, now - Math.floor(rand() * 50 * 60_000)));
    // Same-millisecond events of one user: pagination must order them by _id.
    for (let j = 0; j < 5; j++) events.push({ ...mk(i++, now - 3 * 3_600_000), userId: 'user-00', sessionId: 'user-00-s0', timestamp: new Date(now - 3 * 3_600_000).toISOString() });
    const shuffled = [...events].sort(() => rand() - 0.5);
    await ingest(shuffled);
    // Duplicates by eventId through the API: refused by dedup, never stored twice.
    const dupRes = await request(http).post('/api/v1/events/batch').set('x-api-key', apiKey).send({ events: shuffled.slice(0, 200) });
    expect(dupRes.body.data.duplicates).toBe(200);
    await drained();
    expect(await storedCount()).toBe(events.length);
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await Promise.all((mongo ?? []).map(async (c) => {
      await c.db().dropDatabase().catch(() => undefined);
      await c.close();
    }));
    redis?.disconnect();
  });

  describe('metrics', () => {
    it.each(['15m', '1h', '24h', '7d'])('timeRange=%s matches the generated data exactly', async (range) => {
      const { body } = await metrics(`timeRange=${range}`);
      expect(body.totalEvents).toBeGreaterThan(0);
      checkMetrics(body);
    });

    it('24h has zero-filled 10-minute points and 7d hourly points', async () => {
      const day = (await metrics('timeRange=24h')).body;
      expect(day.bucketSeconds).toBe(600);
      expect(day.eventsOverTime.length).toBeGreaterThanOrEqual(144);
      const week = (await metrics('timeRange=7d')).body;
      expect(week.bucketSeconds).toBe(3_600);
      expect(week.eventsOverTime.filter((p) => p.count === 0).length).toBeGreaterThan(24); // the empty days 3–5
      expect(week.totalEvents).toBe(events.length);
    });

    it('filters by eventType and by userId (matched literally, sessions exact)', async () => {
      checkMetrics((await metrics('timeRange=7d&eventType=click')).body, { eventType: 'click' });
      checkMetrics((await metrics('timeRange=24h&eventType=api:call')).body, { eventType: 'api:call' });
      const regexUser = (await metrics(`timeRange=7d&userId=${encodeURIComponent('a.*b+c?(d)')}`)).body;
      expect(regexUser.uniquesApproximate).toBe(false);
      checkMetrics(regexUser, { userId: 'a.*b+c?(d)' });
      expect(regexUser.totalEvents).toBeGreaterThan(0);
      checkMetrics((await metrics('timeRange=7d&userId=user-00&eventType=page.view')).body, { userId: 'user-00', eventType: 'page.view' });
      expect((await metrics(`timeRange=7d&userId=${encodeURIComponent('.*')}`)).body.totalEvents).toBe(0);
    });

    it('answers a from/to range, aligned outward to whole points', async () => {
      const from = new Date(now - 2 * DAY + 12_345).toISOString();
      const to = new Date(now - DAY + 777).toISOString();
      const { body } = await metrics(`from=${from}&to=${to}`);
      expect(Date.parse(body.timeRange.start)).toBeLessThanOrEqual(Date.parse(from));
      expect(Date.parse(body.timeRange.end)).toBeGreaterThanOrEqual(Date.parse(to));
      checkMetrics(body);
      // 5–6 days ago is past minute retention: hourly points, still exact.
      const old = (await metrics(`from=${new Date(now - 6 * DAY).toISOString()}&to=${new Date(now - 5 * DAY).toISOString()}`)).body;
      expect(old.totalEvents).toBeGreaterThan(0);
      checkMetrics(old);
    });
  });

  describe('timeseries', () => {
    it.each([
      ['minute', 60_000, 2 * 3_600_000],
      ['hour', 3_600_000, 2 * DAY],
      ['day', DAY, 7 * DAY],
    ])('interval=%s counts every bucket, empty ones as zero', async (interval, width, span) => {
      const from = new Date(now - span).toISOString();
      const res = await get(`/api/v1/analytics/timeseries?interval=${interval}&from=${from}&to=${new Date(now).toISOString()}&eventType=page.view`);
      expect(res.status).toBe(200);
      const points = res.body.data as Array<{ timestamp: string; count: number }>;
      const start = Math.floor((now - span) / width) * width;
      expect(points[0].timestamp).toBe(new Date(start).toISOString());
      const expected = points.map((p) => ({
        timestamp: p.timestamp,
        count: events.filter((e) => e.eventType === 'page.view' && Date.parse(e.timestamp) >= Date.parse(p.timestamp) && Date.parse(e.timestamp) < Date.parse(p.timestamp) + width).length,
      }));
      expect(points).toEqual(expected);
      expect(points.reduce((a, p) => a + p.count, 0)).toBeGreaterThan(0);
    });
  });

  describe('users/:userId/events', () => {
    it('pages through all of a user’s events newest first, unescaping stored field names', async () => {
      const userId = 'user-00';
      const mine = events
        .filter((e) => e.userId === userId)
        .sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp) || (a.eventId < b.eventId ? 1 : -1));
      const seen: Array<{ eventId: string; payload?: unknown; metadata?: unknown }> = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await get(`/api/v1/analytics/users/${userId}/events?limit=37${cursor ? `&cursor=${cursor}` : ''}`, 'jwt');
        expect(res.status).toBe(200);
        expect(res.body.data.events.length).toBeLessThanOrEqual(37);
        seen.push(...res.body.data.events);
        cursor = res.body.data.nextCursor;
        pages++;
      } while (cursor && pages < 100);
      expect(seen.map((e) => e.eventId)).toEqual(mine.map((e) => e.eventId));
      const withPayload = mine.find((e) => e.payload);
      if (withPayload) {
        const got = seen.find((e) => e.eventId === withPayload.eventId)!;
        expect(got.payload).toEqual(withPayload.payload);
        expect(got.metadata).toEqual(withPayload.metadata);
      }
    });

    it('limits to from/to and matches the user id literally', async () => {
      const from = new Date(now - DAY).toISOString();
      const to = new Date(now - 3_600_000).toISOString();
      const user = 'a.*b+c?(d)';
      const res = await get(`/api/v1/analytics/users/${encodeURIComponent(user)}/events?from=${from}&to=${to}&limit=1000`);
      expect(res.status).toBe(200);
      const expected = events.filter((e) => e.userId === user && e.timestamp >= from && e.timestamp < to).length;
      expect(res.body.data.events).toHaveLength(expected);
      expect(res.body.data.nextCursor).toBeNull();
      expect(res.body.data.events.every((e: { userId: string }) => e.userId === user)).toBe(true);
      const none = await get(`/api/v1/analytics/users/${encodeURIComponent('.*')}/events`);
      expect(none.body.data.events).toEqual([]);
    });
  });

  describe('redelivery, cache, single flight', () => {
    it('a redelivered batch (same stream entries again) changes no number', async () => {
      const before = await metrics(`from=${new Date(now - 7 * DAY).toISOString()}&to=${new Date(now).toISOString()}`);
      const again = events.slice(0, 300);
      const p = redis.pipeline();
      for (const e of again) p.xadd(env.STREAM_KEY, '*', ...encodeStreamEntry({ event: e, apiKeyId: null, receivedAt: Date.now() }));
      await p.exec();
      await drained();
      expect(await storedCount()).toBe(events.length);
      // A different (uncached: it starts in another hour) window over the same data.
      const after = await metrics(`from=${new Date(now - 7 * DAY - 2 * 3_600_000).toISOString()}&to=${new Date(now).toISOString()}`);
      expect(after.cache).toBe('MISS');
      checkMetrics(after.body);
      expect(after.body.totalEvents).toBe(before.body.totalEvents);
      checkMetrics((await metrics('timeRange=7d&eventType=purchase')).body, { eventType: 'purchase' });
    });

    it('serves a cached answer within 10 s and a fresh one after', async () => {
      // A fixed window, so the cache key cannot change between the requests.
      const qs = `from=${new Date(now - 30 * 60_000).toISOString()}&to=${new Date(now + 10 * 60_000).toISOString()}`;
      const first = await metrics(qs);
      const firstAt = Date.now();
      expect(first.cache).toBe('MISS');
      const second = await metrics(qs);
      expect(second.cache).toBe('HIT');
      expect(second.body).toEqual(first.body);
      const fresh: Ev = {
        eventId: `an-${run}-fresh`,
        eventType: 'signup',
        userId: 'user-fresh',
        sessionId: 'fresh-s',
        timestamp: new Date(now - 1_000).toISOString(),
        priority: 1,
      };
      await ingest([fresh]);
      await drained();
      events.push(fresh);
      const cached = await metrics(qs);
      // Within the TTL the stored answer is served even though the data changed.
      if (Date.now() - firstAt < 9_000) {
        expect(cached.cache).toBe('HIT');
        expect(cached.body.totalEvents).toBe(first.body.totalEvents);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 10_500 - (Date.now() - firstAt))));
      const refreshed = await metrics(qs);
      expect(refreshed.cache).toBe('MISS');
      expect(refreshed.body.totalEvents).toBe(first.body.totalEvents + 1);
      checkMetrics(refreshed.body);
    }, 30_000);

    it('computes concurrent identical misses once (single flight)', async () => {
      const reader = app.get(RollupReader);
      const spy = jest.spyOn(reader, 'counts');
      try {
        const qs = `from=${new Date(now - 3 * DAY + 123_000).toISOString()}&to=${new Date(now - DAY).toISOString()}`;
        const answers = await Promise.all(Array.from({ length: 8 }, () => get(`/api/v1/analytics/metrics?${qs}`)));
        expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
        expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
        expect(spy).toHaveBeenCalledTimes(1);
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('access and bad input', () => {
    it('refuses anonymous callers and accepts a VIEWER JWT or an API key', async () => {
      expect((await get('/api/v1/analytics/metrics', 'none')).status).toBe(401);
      expect((await get('/api/v1/analytics/timeseries', 'none')).status).toBe(401);
      expect((await get('/api/v1/analytics/users/user-00/events', 'none')).status).toBe(401);
      expect((await get('/api/v1/analytics/metrics?timeRange=1h', 'jwt')).status).toBe(200);
      expect((await get('/api/v1/analytics/metrics?timeRange=1h', 'key')).status).toBe(200);
    });

    it.each([
      ['/api/v1/analytics/metrics?timeRange=2d', 'timeRange'],
      ['/api/v1/analytics/metrics?timeRange=7d&from=2026-01-01T00:00:00Z', 'timeRange'],
      ['/api/v1/analytics/metrics?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['/api/v1/analytics/metrics?from=2024-01-01T00:00:00Z&to=2025-03-01T00:00:00Z', 'to'],
      ['/api/v1/analytics/metrics?eventType[$ne]=x', 'eventType'],
      ['/api/v1/analytics/metrics?userId[$gt]=', 'userId'],
      ['/api/v1/analytics/metrics?eventType=a&eventType=b', 'eventType'],
      ['/api/v1/analytics/metrics?from=not-a-date', 'from'],
      ['/api/v1/analytics/metrics?bogus=1', 'bogus'],
      ['/api/v1/analytics/timeseries?interval=week', 'interval'],
      ['/api/v1/analytics/timeseries?interval=minute&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z', 'interval'],
      ['/api/v1/analytics/users/user-00/events?limit=0', 'limit'],
      ['/api/v1/analytics/users/user-00/events?limit=1001', 'limit'],
      ['/api/v1/analytics/users/user-00/events?cursor=garbage', 'cursor'],
      ['/api/v1/analytics/users/user-00/events?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
    ])('%s → 400 naming %s', async (path, field) => {
      const res = await get(path);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(JSON.stringify(res.body.error.details)).toContain(field);
    });

    const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();
    it.each([
      // Older than the day rollups' retention: was a 500 (the fallback window could not be tiled).
      ['/api/v1/analytics/metrics?from=2025-06-01T00:00:00Z&to=2025-06-08T00:00:00Z', 'from', /kept for 402 days/],
      [`/api/v1/analytics/metrics?from=${isoIn(-405 * DAY)}&to=${isoIn(-10 * DAY)}`, 'from', /kept for 402 days/],
      // ISO 8601 forms Date.parse cannot read: named, not "from must be before to".
      ['/api/v1/analytics/metrics?from=2026-11-01T00:00:00Z&to=2026-W48', 'to', /ISO 8601 date-time/],
      ['/api/v1/analytics/timeseries?from=20261201T000000Z', 'from', /ISO 8601 date-time/],
      ['/api/v1/analytics/users/user-00/events?to=2026-032', 'to', /ISO 8601 date-time/],
      // ~11,600 minute buckets (the range may end in the future): capped at 10,000.
      [`/api/v1/analytics/timeseries?interval=minute&from=${isoIn(-3_600_000)}&to=${isoIn(8 * DAY)}`, 'to', /at most 10000/],
    ])('%s → 400 on %s with a precise message', async (path, field, message) => {
      const res = await get(path);
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([{ field, message: expect.stringMatching(message) }]);
    });

    it('still answers a userId query over a range older than the rollups (raw events), and 400 days of hours', async () => {
      expect((await get('/api/v1/analytics/metrics?from=2025-06-01T00:00:00Z&to=2025-06-08T00:00:00Z&userId=user-00')).status).toBe(200);
      expect((await get(`/api/v1/analytics/timeseries?interval=hour&from=${isoIn(-DAY)}&to=${isoIn(398 * DAY)}`)).status).toBe(200);
    });
  });
});

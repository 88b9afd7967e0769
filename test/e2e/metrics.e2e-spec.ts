import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { DLQ_COLLECTION } from '../../src/events/event.types';
import { LiveMetricsHub, LiveMetricsMessage } from '../../src/metrics/live-metrics.hub';
import { waitFor } from '../support/child-process';
import { startTestApp } from '../support/test-app';
import { TEST_MONGO_HOSTS, testEnv, uniqueSuffix } from '../support/test-env';

/**
 * Metrics against the real app: events go through the real ingestion API (real API key, real
 * Redis, the in-process worker of ROLE=all storing them on the FerretDB shards), and the counter
 * deltas on /metrics must match exactly what was sent. Redis DB 11 belongs to this file.
 */
const REDIS_DB = 11;

type Series = Map<string, number>;

/** Prometheus text → `name{a="b",…}` → value (labels in the order the registry prints them). */
function parsePrometheus(text: string): Series {
  const out: Series = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels include all of `labels`. */
function valueOf(series: Series, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, v] of series) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (Object.entries(labels).every(([k, val]) => key.includes(`${k}="${val}"`))) total += v;
  }
  return total;
}

/** Reads server-sent events from a fetch() body until `enough` says stop (or the stream ends). */
async function readSse(body: ReadableStream<Uint8Array>, enough: (messages: Array<{ id?: string; data: LiveMetricsMessage }>) => boolean) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const messages: Array<{ id?: string; data: LiveMetricsMessage }> = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { messages, ended: true };
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
      const id = block.split('\n').find((l) => l.startsWith('id:'))?.slice(3).trim();
      if (data) messages.push({ id, data: JSON.parse(data) as LiveMetricsMessage });
    }
    if (enough(messages)) {
      await reader.cancel();
      return { messages, ended: false };
    }
  }
}

describe('metrics (real app, real Redis/FerretDB, real credentials)', () => {
  const run = uniqueSuffix();
  let seq = 0;
  const eventId = () => `m-${run}-${++seq}`;
  const event = (over: Record<string, unknown> = {}) => ({
    eventType: 'metrics.test',
    userId: `user-${seq % 7}`,
    sessionId: 'session-1',
    timestamp: new Date().toISOString(),
    eventId: eventId(),
    ...over,
  });

  let app: NestFastifyApplication;
  let env: Record<string, string>;
  let redis: Redis;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let apiKey: string;
  let viewerToken: string;
  let baseUrl: string;

  const scrape = async (): Promise<Series> => {
    const res = await request(http).get('/metrics');
    expect(res.status).toBe(200);
    return parsePrometheus(res.text);
  };
  const ingest = (body: unknown, path = '/api/v1/events') => request(http).post(path).set('x-api-key', apiKey).send(body as object);

  beforeAll(async () => {
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'all', BATCH_TIMEOUT_MS: '50', READ_COUNT: '200' } });
    redis = new Redis(env.REDIS_URL);
    await redis.flushdb();
    app = await startTestApp(env);
    await app.listen(0, '127.0.0.1');
    baseUrl = await app.getUrl();
    baseUrl = baseUrl.replace('[::1]', '127.0.0.1');
    http = app.getHttpServer();
    const users = app.get(UsersService);
    const owner = await users.create({ email: `metrics-op-${run}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
    apiKey = (await app.get(ApiKeysService).create(owner.id, { name: 'metrics e2e' })).key;
    await users.create({ email: `metrics-viewer-${run}@example.test`, password: 'correct horse battery', role: 'VIEWER' });
    const login = await request(http).post('/api/auth/login').send({ email: `metrics-viewer-${run}@example.test`, password: 'correct horse battery' });
    expect(login.status).toBe(200);
    viewerToken = login.body.data.token;
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
  });

  describe('access', () => {
    it('/metrics is an open Prometheus text endpoint; /api/v1/metrics needs a JWT or an API key', async () => {
      const prom = await request(http).get('/metrics');
      expect(prom.status).toBe(200);
      expect(prom.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(prom.text).toContain('# TYPE eventproc_events_ingested_total counter');
      expect(prom.text).toContain('process_resident_memory_bytes');

      const none = await request(http).get('/api/v1/metrics');
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ success: false, error: expect.objectContaining({ code: 'UNAUTHORIZED' }) });
      expect((await request(http).get('/api/v1/metrics').set('authorization', 'Bearer not-a-token')).status).toBe(401);
      expect((await request(http).get('/api/v1/metrics').set('authorization', `Bearer ${viewerToken}`)).status).toBe(200);
      expect((await request(http).get('/api/v1/metrics').set('x-api-key', apiKey)).status).toBe(200);
      const live = await request(http).get('/api/v1/metrics/live');
      expect(live.status).toBe(401);
      expect(live.headers['content-type']).toMatch(/application\/json/);
    });
  });

  describe('counters match the events sent', () => {
    it('accepted, duplicate and rejected deltas are exact; the worker then processes every accepted event', async () => {
      const before = await scrape();

      // 6 accepted singles, 2 of them sent again (duplicates), 3 invalid singles
      const singles = Array.from({ length: 6 }, () => event());
      for (const e of singles) expect((await ingest(e)).status).toBe(202);
      for (const e of singles.slice(0, 2)) expect((await ingest(e)).status).toBe(200);
      for (const bad of [{ ...event(), eventType: '' }, { ...event(), userId: undefined }, { ...event(), timestamp: 'yesterday' }]) {
        expect((await ingest(bad)).status).toBe(400);
      }
      // one batch: 4 new, 1 duplicate of a single, 2 invalid, 1 too large (over 32 KiB)
      const batch = [
        ...Array.from({ length: 4 }, () => event()),
        singles[3],
        { ...event(), priority: 99 },
        { ...event(), sessionId: 42 },
        event({ payload: { blob: 'x'.repeat(33 * 1024) } }),
      ];
      const res = await ingest({ events: batch }, '/api/v1/events/batch');
      expect(res.status).toBe(202);
      expect(res.body.data).toMatchObject({ accepted: 4, duplicates: 1, rejected: 3, total: 8 });

      const after = await scrape();
      const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
      expect({
        ingested: delta('eventproc_events_ingested_total'),
        duplicate: delta('eventproc_events_duplicate_total'),
        invalid: delta('eventproc_events_rejected_total', { reason: 'invalid' }),
        tooLarge: delta('eventproc_events_rejected_total', { reason: 'too_large' }),
        unavailable: delta('eventproc_events_rejected_total', { reason: 'unavailable' }),
        backpressure: delta('eventproc_ingest_backpressure_total'),
      }).toEqual({ ingested: 10, duplicate: 3, invalid: 5, tooLarge: 1, unavailable: 0, backpressure: 0 });

      // the HTTP histogram counts requests by route pattern and status
      const http = (route: string, status: string) => delta('eventproc_http_request_duration_seconds_count', { route, status });
      expect({
        single202: http('/api/v1/events', '202'),
        single200: http('/api/v1/events', '200'),
        single400: http('/api/v1/events', '400'),
        batch202: http('/api/v1/events/batch', '202'),
      }).toEqual({ single202: 6, single200: 2, single400: 3, batch202: 1 });

      // the in-process worker stores exactly the 10 accepted events
      const processed = await waitFor(async () => {
        const now = await scrape();
        const d = valueOf(now, 'eventproc_events_processed_total') - valueOf(before, 'eventproc_events_processed_total');
        return d >= 10 ? { now, d } : undefined;
      });
      expect(processed.d).toBe(10);
      expect(valueOf(processed.now, 'eventproc_events_dead_lettered_total') - valueOf(before, 'eventproc_events_dead_lettered_total')).toBe(0);
      const batches = valueOf(processed.now, 'eventproc_batch_write_duration_seconds_count') - valueOf(before, 'eventproc_batch_write_duration_seconds_count');
      expect(batches).toBeGreaterThan(0);
      expect([...processed.now.keys()].some((k) => k.startsWith('eventproc_batch_write_duration_seconds_bucket{') && k.includes('shard="mongo-shard-'))).toBe(true);
    });

    it('route labels are patterns, never raw URLs (bounded cardinality)', async () => {
      for (const u of ['u-a', 'u-b', 'u-c']) {
        await request(http).get(`/api/v1/analytics/users/${u}/events`).set('x-api-key', apiKey);
        await request(http).get(`/no/such/${u}`);
      }
      const keys = [...(await scrape()).keys()].filter((k) => k.startsWith('eventproc_http_request_duration_seconds_count'));
      expect(keys.some((k) => k.includes('route="/api/v1/analytics/users/:userId/events"'))).toBe(true);
      expect(keys.some((k) => k.includes('route="unmatched"') && k.includes('status="404"'))).toBe(true);
      expect(keys.filter((k) => /u-[abc]|\/no\/such/.test(k))).toEqual([]);
    });

    it('GET /api/v1/metrics gives the same numbers as /metrics', async () => {
      // Nothing is sent in between, and the processing counters have settled (previous test).
      const prom = await scrape();
      const res = await request(http).get('/api/v1/metrics').set('authorization', `Bearer ${viewerToken}`);
      expect(res.status).toBe(200);
      const m = res.body.data.metrics;
      expect(res.body.data.role).toBe('all');
      expect(m.eventproc_events_ingested_total).toBe(valueOf(prom, 'eventproc_events_ingested_total'));
      expect(m.eventproc_events_duplicate_total).toBe(valueOf(prom, 'eventproc_events_duplicate_total'));
      expect(m.eventproc_events_processed_total).toBe(valueOf(prom, 'eventproc_events_processed_total'));
      expect(m.eventproc_events_rejected_total).toEqual(
        expect.arrayContaining([{ labels: { reason: 'invalid' }, value: valueOf(prom, 'eventproc_events_rejected_total', { reason: 'invalid' }) }]),
      );
      const hist = (m.eventproc_batch_write_duration_seconds as Array<{ count: number }>).reduce((a, s) => a + s.count, 0);
      expect(hist).toBe(valueOf(prom, 'eventproc_batch_write_duration_seconds_count'));
      expect(res.body.data.stream).toEqual(expect.objectContaining({ backlog: expect.any(Number), streams: [expect.objectContaining({ stream: env.STREAM_KEY })] }));
    });
  });

  describe('live stream (SSE)', () => {
    it('sends one message per tick with rates, backlog and DLQ size; the rates rise while events flow', async () => {
      const controller = new AbortController();
      const res = await fetch(`${baseUrl}/api/v1/metrics/live`, { headers: { authorization: `Bearer ${viewerToken}` }, signal: controller.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(res.headers.get('x-accel-buffering')).toBe('no');

      let sending = true;
      const sender = (async () => {
        while (sending) {
          await ingest({ events: Array.from({ length: 20 }, () => event()) }, '/api/v1/events/batch');
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const { messages } = await readSse(
        res.body!,
        (ms) => ms.length >= 3 && ms.some((m) => m.data.ingestRate > 0) && ms.some((m) => (m.data.processRate ?? 0) > 0),
      );
      sending = false;
      await sender;
      controller.abort();

      const ids = messages.map((m) => Number(m.id));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(new Set(ids).size).toBe(ids.length);
      for (const m of messages) {
        expect(m.data).toEqual({
          timestamp: expect.any(String),
          ingestRate: expect.any(Number),
          processRate: m.data.processRate === null ? null : expect.any(Number),
          backlog: expect.any(Number),
          dlqSize: m.data.dlqSize === null ? null : expect.any(Number),
          streamLength: expect.any(Number),
          pending: expect.any(Number),
          sampledAt: expect.any(String),
          stale: false,
        });
      }
    });

    it('a stream ends within seconds of its API key being revoked (not at the 10-minute limit)', async () => {
      const hub = app.get(LiveMetricsHub);
      await waitFor(async () => hub.clients === 0);
      const owner = await app.get(UsersService).create({ email: `metrics-revoke-${run}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
      const created = await app.get(ApiKeysService).create(owner.id, { name: 'revoked while streaming' });
      const res = await fetch(`${baseUrl}/api/v1/metrics/live`, { headers: { 'x-api-key': created.key } });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      expect((await reader.read()).done).toBe(false); // a first message
      await app.get(ApiKeysService).revoke(created.id, 'operator');
      const revokedAt = Date.now();
      // Drain until the server ends the stream.
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        if (Date.now() - revokedAt > 10_000) throw new Error('stream still open 10 s after the revocation');
      }
      expect(Date.now() - revokedAt).toBeLessThan(5_000);
      await waitFor(async () => hub.clients === 0);
      expect((await request(http).get('/api/v1/metrics/live').set('x-api-key', created.key)).status).toBe(401);
    });

    it('a client that disconnects is removed and the last one stops the timer', async () => {
      const hub = app.get(LiveMetricsHub);
      const clients = async () => (await request(http).get('/api/v1/metrics').set('x-api-key', apiKey)).body.data.live;
      await waitFor(async () => hub.clients === 0);

      const a = new AbortController();
      const b = new AbortController();
      const ra = await fetch(`${baseUrl}/api/v1/metrics/live`, { headers: { 'x-api-key': apiKey }, signal: a.signal });
      const rb = await fetch(`${baseUrl}/api/v1/metrics/live`, { headers: { 'x-api-key': apiKey }, signal: b.signal });
      await waitFor(async () => hub.clients === 2);
      expect(await clients()).toEqual({ clients: 2, running: true });
      expect(valueOf(await scrape(), 'eventproc_live_clients')).toBe(2);

      a.abort();
      await ra.body?.cancel().catch(() => undefined);
      await waitFor(async () => hub.clients === 1);
      expect(hub.running).toBe(true);

      b.abort();
      await rb.body?.cancel().catch(() => undefined);
      await waitFor(async () => hub.clients === 0);
      expect(hub.running).toBe(false);
      expect(await clients()).toEqual({ clients: 0, running: false });
      expect(valueOf(await scrape(), 'eventproc_live_clients')).toBe(0);
    });
  });
});

describe('metrics: stream gauges, backpressure counter, DLQ size, shutdown with an open stream (ROLE=api)', () => {
  const run = uniqueSuffix();
  let app: NestFastifyApplication;
  let env: Record<string, string>;
  let redis: Redis;
  let mongo: MongoClient;
  let apiKey: string;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let seq = 0;
  const event = () => ({ eventType: 'bp.test', userId: 'u1', sessionId: 's1', timestamp: new Date().toISOString(), eventId: `bp-${run}-${++seq}` });
  const scrape = async () => parsePrometheus((await request(http).get('/metrics')).text);

  beforeAll(async () => {
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api', MAX_STREAM_BACKLOG: '4' } });
    redis = new Redis(env.REDIS_URL);
    app = await startTestApp(env);
    http = app.getHttpServer();
    const owner = await app.get(UsersService).create({ email: `metrics-bp-${run}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
    apiKey = (await app.get(ApiKeysService).create(owner.id, { name: 'metrics bp' })).key;
    mongo = await MongoClient.connect(`mongodb://${TEST_MONGO_HOSTS[0]}`);
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
    await mongo?.close();
  });

  it('length, pending, lag and backlog gauges follow the stream; 429s are counted exactly', async () => {
    const stream = env.STREAM_KEY;
    // One batch: the backlog check runs before a request, and this API counts its own appends at once,
    // so a sixth single request would meet 429 (MAX_STREAM_BACKLOG is 4).
    const filled = await request(http).post('/api/v1/events/batch').set('x-api-key', apiKey).send({ events: Array.from({ length: 6 }, () => event()) });
    expect([filled.status, filled.body.data.accepted]).toEqual([202, 6]);
    // No consumer group yet: lag is unknown (absent), the backlog is the whole stream.
    const noGroup = await waitFor(async () => {
      const s = await scrape();
      return valueOf(s, 'eventproc_stream_length', { stream }) === 6 && valueOf(s, 'eventproc_stream_backlog') === 6 ? s : undefined;
    });
    expect([...noGroup.keys()].filter((k) => k.startsWith('eventproc_consumer_group_lag{'))).toEqual([]);

    // A consumer of the group takes 2 entries without acking: pending 2, lag 4.
    await redis.xgroup('CREATE', stream, env.CONSUMER_GROUP, '0');
    await redis.xreadgroup('GROUP', env.CONSUMER_GROUP, 'test-consumer', 'COUNT', 2, 'STREAMS', stream, '>');
    const grouped = await waitFor(async () => {
      const s = await scrape();
      return valueOf(s, 'eventproc_stream_pending_entries', { stream }) === 2 ? s : undefined;
    });
    expect(valueOf(grouped, 'eventproc_consumer_group_lag', { stream })).toBe(4);
    expect(valueOf(grouped, 'eventproc_stream_backlog')).toBe(6);

    // The backlog (6) is over MAX_STREAM_BACKLOG (4): every ingestion request is refused and counted.
    const before = valueOf(await scrape(), 'eventproc_ingest_backpressure_total');
    let refused = 0;
    for (let i = 0; i < 3; i++) {
      const res = await request(http).post('/api/v1/events').set('x-api-key', apiKey).send(event());
      expect(res.status).toBe(429);
      refused++;
    }
    expect(valueOf(await scrape(), 'eventproc_ingest_backpressure_total') - before).toBe(refused);
  });

  it('the DLQ size gauge counts the dead-letter collection on shard 0', async () => {
    const dbName = new URL(env.MONGO_SHARD_URIS.split(',')[0]).pathname.slice(1);
    const dlq = mongo.db(dbName).collection<{ _id: string }>(DLQ_COLLECTION);
    await dlq.insertMany([
      { _id: `0:1-${run}`, reason: 'invalid', firstSeenAt: new Date() },
      { _id: `0:2-${run}`, reason: 'invalid', firstSeenAt: new Date() },
    ] as never[]);
    await waitFor(async () => valueOf(await scrape(), 'eventproc_dlq_size') === 2, 20_000);
    expect(app.get(LiveMetricsHub)).toBeDefined();
  });

  it('closing the app ends an open live stream instead of waiting for it', async () => {
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const res = await fetch(`${url}/api/v1/metrics/live`, { headers: { 'x-api-key': apiKey } });
    expect(res.status).toBe(200);
    const reading = readSse(res.body!, () => false);
    await waitFor(async () => app.get(LiveMetricsHub).clients === 1);
    await app.close();
    const { ended, messages } = await reading;
    expect(ended).toBe(true);
    expect(messages.length).toBeGreaterThan(0);
    app = undefined as unknown as NestFastifyApplication;
  });
});

describe('metrics on a worker (ROLE=worker)', () => {
  let app: NestFastifyApplication;
  afterAll(async () => app?.close());

  it('serves /metrics with the worker counters and default process metrics, and no API metrics routes', async () => {
    app = await startTestApp(testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'worker' } }));
    const http = app.getHttpServer();
    const res = await request(http).get('/metrics');
    expect(res.status).toBe(200);
    const series = parsePrometheus(res.text);
    for (const name of ['eventproc_events_processed_total', 'eventproc_events_processing_failed_total', 'eventproc_events_dead_lettered_total', 'eventproc_stream_backlog', 'process_cpu_user_seconds_total']) {
      expect([...series.keys()].some((k) => k === name || k.startsWith(`${name}{`))).toBe(true);
    }
    expect(res.text).not.toContain('eventproc_events_ingested_total');
    expect((await request(http).get('/api/v1/metrics')).status).toBe(404);
    expect((await request(http).get('/api/v1/metrics/live')).status).toBe(404);
  });
});

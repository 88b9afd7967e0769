import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { stableBucket } from '../../src/common/hashing/stable-hash';
import { decodeStreamEntry } from '../../src/events/stream-entry';
import { AdmissionGate } from '../../src/ingestion/admission-gate';
import { BacklogMonitor } from '../../src/ingestion/backlog-monitor';
import { waitFor } from '../support/child-process';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * Backpressure (429 BACKPRESSURE while the backlog is over MAX_STREAM_BACKLOG, recovery after the
 * consumer catches up), partitioned streams (STREAM_PARTITIONS > 1) and the batch admission gate
 * (INGEST_INFLIGHT_BODY_BYTES, with its deadlines), real Redis DB 3.
 */
const REDIS_DB = 3;
const run = uniqueSuffix();
let seq = 0;
const event = (over: Record<string, unknown> = {}) => ({
  eventType: 'click',
  userId: `user-${run}`,
  sessionId: 's',
  timestamp: new Date().toISOString(),
  eventId: `bp-${run}-${++seq}`,
  ...over,
});

async function startWithKey(overrides: Record<string, string>) {
  const env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api', ...overrides } });
  const app = await startTestApp(env);
  const user = await app.get(UsersService).create({ email: `bp-${uniqueSuffix()}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
  const { key } = await app.get(ApiKeysService).create(user.id, { name: 'backpressure e2e' });
  return { env, app, key };
}

beforeAll(async () => {
  // DB 3 belongs to this file: counters (metrics:*) are not randomized, so start from zero.
  const redis = new Redis(testEnv({ redisDb: REDIS_DB }).REDIS_URL);
  await redis.flushdb();
  redis.disconnect();
});

describe('ingestion backpressure (MAX_STREAM_BACKLOG=5)', () => {
  let app: NestFastifyApplication;
  let env: Record<string, string>;
  let key: string;
  let redis: Redis;
  let monitor: BacklogMonitor;
  const post = (path: string, body: unknown) => request(app.getHttpServer()).post(path).set('x-api-key', key).send(body as object);
  /** Reads the backlog now instead of waiting for the next 250 ms sample. */
  const resample = () => monitor.sample();

  beforeAll(async () => {
    ({ env, app, key } = await startWithKey({ MAX_STREAM_BACKLOG: '5' }));
    redis = new Redis(env.REDIS_URL);
    monitor = app.get(BacklogMonitor);
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
  });

  const expect429 = async () => {
    const ev = event();
    for (const res of [await post('/api/v1/events', ev), await post('/api/v1/events/batch', { events: [ev] })]) {
      expect(res.status).toBe(429);
      expect(res.body).toEqual({ success: false, error: { code: 'BACKPRESSURE', message: expect.any(String) } });
      expect(res.headers['retry-after']).toBe('1');
    }
    // Nothing of a refused request is kept, not even its dedup key.
    expect(await redis.exists(`dedup:event:${ev.eventId}`)).toBe(0);
  };

  it('is off while the backlog is under the threshold; over it, single and batch get 429 BACKPRESSURE and nothing is stored', async () => {
    const res = await post('/api/v1/events/batch', { events: Array.from({ length: 6 }, () => event()) });
    expect(res.status).toBe(202);
    expect(res.body.data.accepted).toBe(6);
    // No consumer group yet: the stream length (6) is the backlog.
    await resample();
    expect(monitor.current()).toBe(6);
    await expect429();
    expect(await redis.xlen(env.STREAM_KEY)).toBe(6);
  });

  it('counts undelivered (lag) and delivered-but-unacked (pending) entries; recovers when the consumer acks', async () => {
    await redis.xgroup('CREATE', env.STREAM_KEY, env.CONSUMER_GROUP, '0');
    await resample();
    expect(monitor.current()).toBe(6); // lag 6, pending 0
    await expect429();

    const read = (await redis.xreadgroup('GROUP', env.CONSUMER_GROUP, 'c1', 'COUNT', 100, 'STREAMS', env.STREAM_KEY, '>')) as [string, [string, string[]][]][];
    const ids = read[0][1].map(([id]) => id);
    expect(ids).toHaveLength(6);
    await resample();
    expect(monitor.current()).toBe(6); // lag 0, pending 6
    await expect429();

    await redis.xack(env.STREAM_KEY, env.CONSUMER_GROUP, ...ids.slice(0, 3));
    await resample();
    expect(monitor.current()).toBe(3);
    const ok = await post('/api/v1/events', event());
    expect(ok.status).toBe(202);
    // The periodic sampler (not only our explicit resample) picks the new entry up.
    const deadline = Date.now() + 10_000;
    while (monitor.current() !== 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(monitor.current()).toBe(4);
  });

  it('never trims: every accepted entry is still in the stream', async () => {
    expect(await redis.xlen(env.STREAM_KEY)).toBe(7);
  });
});

describe('ingestion with STREAM_PARTITIONS=4', () => {
  let app: NestFastifyApplication;
  let env: Record<string, string>;
  let key: string;
  let redis: Redis;
  const post = (path: string, body: unknown) => request(app.getHttpServer()).post(path).set('x-api-key', key).send(body as object);

  beforeAll(async () => {
    ({ env, app, key } = await startWithKey({ STREAM_PARTITIONS: '4', MAX_STREAM_BACKLOG: '41' }));
    redis = new Redis(env.REDIS_URL);
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
  });

  it('routes each event to the stream of hash(userId), with hash-tagged dedup keys and per-partition counters', async () => {
    const events = Array.from({ length: 40 }, (_, i) => event({ userId: `pu-${run}-${i}` }));
    const res = await post('/api/v1/events/batch', { events });
    expect(res.status).toBe(202);
    expect(res.body.data.accepted).toBe(40);

    const seen = new Map<string, number>();
    let used = 0;
    for (let p = 0; p < 4; p++) {
      const entries = await redis.xrange(`${env.STREAM_KEY}:{${p}}`, '-', '+');
      if (entries.length > 0) used++;
      for (const [, fields] of entries) seen.set(decodeStreamEntry(fields).event.userId, p);
    }
    expect(await redis.exists(env.STREAM_KEY)).toBe(0); // no unpartitioned stream
    expect(used).toBeGreaterThan(1);
    for (const e of events) {
      const p = stableBucket(e.userId, 4);
      expect(seen.get(e.userId)).toBe(p);
      expect(await redis.exists(`dedup:event:{${p}}:${e.eventId}`)).toBe(1);
    }
    let ingested = 0;
    for (let p = 0; p < 4; p++) ingested += Number((await redis.get(`metrics:{${p}}:ingested`)) ?? 0);
    expect(ingested).toBe(40);

    const stats = await request(app.getHttpServer()).get('/api/v1/events/stats').set('x-api-key', key);
    expect(stats.body.data).toEqual(expect.objectContaining({ totalIngested: 40, streamLength: 40, partitions: 4 }));
  });

  it('catches a repeated eventId within its partition (single and batch)', async () => {
    const ev = event({ userId: `pu-${run}-dup` });
    expect((await post('/api/v1/events', ev)).status).toBe(202);
    expect((await post('/api/v1/events', ev)).status).toBe(200);
    const batch = await post('/api/v1/events/batch', { events: [ev, event({ userId: `pu-${run}-other` })] });
    expect(batch.body.data.results.map((r: { status: string }) => r.status)).toEqual(['duplicate', 'accepted']);
  });

  it('sums the backlog over all partitions (42 > 41 → 429)', async () => {
    await app.get(BacklogMonitor).sample();
    expect(app.get(BacklogMonitor).current()).toBe(42);
    const res = await post('/api/v1/events', event());
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('BACKPRESSURE');
  });
});

describe('admission gate for batches (INGEST_INFLIGHT_BODY_BYTES=65536, HTTP_REQUEST_TIMEOUT_MS=4000)', () => {
  const BUDGET = 65_536;
  const REQUEST_TIMEOUT_MS = 4_000;
  const until = (check: () => boolean): Promise<boolean> => waitFor(async () => check(), 5_000, 10);
  let app: NestFastifyApplication;
  let env: Record<string, string>;
  let key: string;
  let redis: Redis;
  let port: number;
  const batchStatus = (body: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/events/batch', headers: { 'x-api-key': key, 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  /** Headers declaring the whole budget and half a body, which never completes. */
  const halfBatch = (apiKey: string): net.Socket => {
    const stuck = net.connect(port, '127.0.0.1');
    stuck.on('error', () => undefined);
    stuck.write(`POST /api/v1/events/batch HTTP/1.1\r\nHost: x\r\nx-api-key: ${apiKey}\r\ncontent-type: application/json\r\ncontent-length: ${BUDGET}\r\n\r\n{"events": [`);
    return stuck;
  };
  const holdWholeBudget = async (): Promise<net.Socket> => {
    const stuck = halfBatch(key);
    await until(() => app.get(AdmissionGate).budget.inUse === BUDGET);
    return stuck;
  };

  beforeAll(async () => {
    ({ env, app, key } = await startWithKey({ INGEST_INFLIGHT_BODY_BYTES: String(BUDGET), HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) }));
    redis = new Redis(env.REDIS_URL);
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
  });

  it('concurrent batches over the budget (good and bad) are all answered and every byte is released', async () => {
    const gate = app.get(AdmissionGate).budget;
    const before = await redis.xlen(env.STREAM_KEY);
    // ~20 KB each: three fit in the budget at once, the rest wait their turn.
    const pad = 'x'.repeat(2_000);
    const body = () => JSON.stringify({ events: Array.from({ length: 10 }, () => event({ metadata: { pad } })) });
    const good = Array.from({ length: 10 }, () => batchStatus(body()));
    const statuses = await Promise.all([...good, batchStatus('{"events": [nope'), batchStatus(JSON.stringify({ events: [] }))]);
    expect(statuses).toEqual([...new Array(10).fill(202), 400, 400]);
    expect((await redis.xlen(env.STREAM_KEY)) - before).toBe(100);
    expect(gate.inUse).toBe(0);
    expect(gate.queued).toBe(0);
  });

  it('a client that goes away while holding the whole budget releases it; the waiting batch is then answered', async () => {
    const gate = app.get(AdmissionGate).budget;
    const stuck = await holdWholeBudget();
    const waiting = batchStatus(JSON.stringify({ events: [event()] }));
    await until(() => gate.queued === 1);
    stuck.destroy();
    expect(await waiting).toBe(202);
    await until(() => gate.inUse === 0);
  });

  it('a request without a valid API key never holds the budget (a trickled body cannot stall batches)', async () => {
    const gate = app.get(AdmissionGate).budget;
    const stuck = halfBatch('epk_not-a-valid-key');
    try {
      // Give the hook time to run; the budget must stay free and a good batch goes through.
      await new Promise((r) => setTimeout(r, 100));
      expect(gate.inUse).toBe(0);
      expect(await batchStatus(JSON.stringify({ events: [event()] }))).toBe(202);
      expect(gate.queued).toBe(0);
    } finally {
      stuck.destroy();
    }
  });

  it('single-event requests are not gated', async () => {
    const gate = app.get(AdmissionGate).budget;
    const stuck = await holdWholeBudget();
    const res = await request(app.getHttpServer()).post('/api/v1/events').set('x-api-key', key).send(event());
    expect(res.status).toBe(202);
    stuck.destroy();
    await until(() => gate.inUse === 0);
  });

  it('a batch not admitted within half the request timeout gets 429 BACKPRESSURE with Retry-After; nothing is stored', async () => {
    const gate = app.get(AdmissionGate);
    expect(gate.maxWaitMs).toBe(REQUEST_TIMEOUT_MS / 2);
    const stuck = await holdWholeBudget();
    try {
      const before = await redis.xlen(env.STREAM_KEY);
      const started = Date.now();
      const res = await request(app.getHttpServer()).post('/api/v1/events/batch').set('x-api-key', key).send({ events: [event()] });
      expect(Date.now() - started).toBeGreaterThanOrEqual(gate.maxWaitMs - 100);
      expect(res.status).toBe(429);
      expect(res.body).toEqual({ success: false, error: { code: 'BACKPRESSURE', message: expect.stringContaining('INGEST_INFLIGHT_BODY_BYTES') } });
      expect(res.headers['retry-after']).toBe('1');
      expect(await redis.xlen(env.STREAM_KEY)).toBe(before);
      expect(gate.budget.queued).toBe(0);
    } finally {
      stuck.destroy();
    }
    await until(() => gate.budget.inUse === 0);
  });

  it('an admitted batch whose body does not arrive within the request timeout is answered 408 and gives its bytes back', async () => {
    const gate = app.get(AdmissionGate).budget;
    const stuck = await holdWholeBudget();
    let received = '';
    stuck.on('data', (d) => (received += d.toString()));
    try {
      // Node checks once a second: the 408 comes 4–5.5 s after the request started.
      await Promise.race([once(stuck, 'close'), new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 4_000))]);
      expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(received).toContain('"success":false,"error":{"code":"REQUEST_TIMEOUT"');
    } finally {
      stuck.destroy();
    }
    await until(() => gate.inUse === 0);
    expect(await batchStatus(JSON.stringify({ events: [event()] }))).toBe(202);
  });
});

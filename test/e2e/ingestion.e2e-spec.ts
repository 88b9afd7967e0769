import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { decodeStreamEntry } from '../../src/events/stream-entry';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * Ingestion endpoints against the real app (ROLE=api: no worker drains the stream, so its
 * contents can be compared with what was answered), real Redis DB 2, real API keys.
 */
const REDIS_DB = 2;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('ingestion (real app, real Redis, real API keys)', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  let env: Record<string, string>;
  let apiKey: string;
  let apiKeyId: string;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  const run = uniqueSuffix();
  let seq = 0;
  const id = (label = 'e'): string => `${label}-${run}-${++seq}`;

  const event = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    eventType: 'page.view',
    userId: 'user-1',
    sessionId: 'session-1',
    timestamp: new Date().toISOString(),
    eventId: id(),
    ...over,
  });
  const post = (path: string, body: unknown, key: string | null = apiKey) => {
    const req = request(http).post(path);
    if (key !== null) void req.set('x-api-key', key);
    return req.send(body as object);
  };
  const streamLength = () => redis.xlen(env.STREAM_KEY);
  const entries = async () => (await redis.xrange(env.STREAM_KEY, '-', '+')).map(([, fields]) => decodeStreamEntry(fields));
  const dedupExists = (eventId: string) => redis.exists(`dedup:event:${eventId}`);
  const expectError = (res: request.Response, status: number, code: string) => {
    expect({ status: res.status, body: res.body }).toEqual({
      status,
      body: { success: false, error: expect.objectContaining({ code, message: expect.any(String) }) },
    });
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/);
  };

  beforeAll(async () => {
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api' } });
    redis = new Redis(env.REDIS_URL);
    // DB 2 belongs to this file: counters (metrics:*) are not randomized, so start from zero.
    await redis.flushdb();
    app = await startTestApp(env);
    http = app.getHttpServer();
    const user = await app.get(UsersService).create({ email: `ingest-${run}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
    const created = await app.get(ApiKeysService).create(user.id, { name: 'ingestion e2e' });
    apiKey = created.key;
    apiKeyId = created.id;
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
  });

  describe('auth', () => {
    it('refuses a request without a key (401 MISSING_API_KEY) or with an unknown key (401 INVALID_API_KEY); stores nothing', async () => {
      const before = await streamLength();
      const ev = event();
      expectError(await post('/api/v1/events', ev, null), 401, 'MISSING_API_KEY');
      expectError(await post('/api/v1/events/batch', { events: [ev] }, null), 401, 'MISSING_API_KEY');
      expectError(await post('/api/v1/events', ev, `evp_${'A'.repeat(43)}`), 401, 'INVALID_API_KEY');
      expect(await streamLength()).toBe(before);
      expect(await dedupExists(ev.eventId as string)).toBe(0);
    });
  });

  describe('POST /api/v1/events', () => {
    it('202 then 200 duplicate for the same eventId; the stream holds it once', async () => {
      const before = await streamLength();
      const ev = event();
      const first = await post('/api/v1/events', ev);
      expect(first.status).toBe(202);
      expect(first.body).toEqual({ success: true, data: { eventId: ev.eventId, accepted: true, duplicate: false } });
      const second = await post('/api/v1/events', { ...ev, eventType: 'changed' });
      expect(second.status).toBe(200);
      expect(second.body).toEqual({ success: true, data: { eventId: ev.eventId, accepted: false, duplicate: true } });
      expect(await streamLength()).toBe(before + 1);
      expect(await redis.ttl(`dedup:event:${ev.eventId as string}`)).toBeGreaterThan(590);
    });

    it('stores the validated event: unknown top-level fields dropped, priority defaulted, API key id and receive time attached', async () => {
      const ev = event({ metadata: { browser: 'firefox' }, payload: { path: '/home', n: 1 }, unknownField: 'x', _id: 'evil', $where: '1' });
      const t0 = Date.now();
      const res = await post('/api/v1/events', ev);
      expect(res.status).toBe(202);
      const stored = (await entries()).find((e) => e.event.eventId === ev.eventId)!;
      expect(stored).toEqual({
        event: {
          eventId: ev.eventId,
          eventType: 'page.view',
          userId: 'user-1',
          sessionId: 'session-1',
          timestamp: ev.timestamp,
          metadata: { browser: 'firefox' },
          payload: { path: '/home', n: 1 },
          priority: 1,
        },
        apiKeyId,
        receivedAt: expect.any(Number),
      });
      expect(stored.receivedAt).toBeGreaterThanOrEqual(t0);
      expect(stored.receivedAt).toBeLessThanOrEqual(Date.now());
    });

    it('generates a UUIDv7 when eventId is absent; such events are never duplicates and get no dedup key', async () => {
      const ev = event({ eventId: undefined, priority: 7 });
      const a = await post('/api/v1/events', ev);
      const b = await post('/api/v1/events', ev);
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(a.body.data.eventId).toMatch(UUID_V7);
      expect(b.body.data.eventId).toMatch(UUID_V7);
      expect(a.body.data.eventId).not.toBe(b.body.data.eventId);
      expect(await dedupExists(a.body.data.eventId)).toBe(0);
      const stored = (await entries()).find((e) => e.event.eventId === a.body.data.eventId)!;
      expect(stored.event.priority).toBe(7);
    });

    it('echoes x-request-id', async () => {
      const res = await request(http).post('/api/v1/events').set('x-api-key', apiKey).set('x-request-id', `req-${run}`).send(event());
      expect(res.status).toBe(202);
      expect(res.headers['x-request-id']).toBe(`req-${run}`);
    });

    const future = (ms: number) => new Date(Date.now() + ms).toISOString();
    it.each<[string, Record<string, unknown>, string]>([
      ['missing eventType', { eventType: undefined }, 'eventType'],
      ['eventType not starting with a letter', { eventType: '1click' }, 'eventType'],
      ['eventType with a space', { eventType: 'page view' }, 'eventType'],
      ['eventType of 101 chars', { eventType: 'a'.repeat(101) }, 'eventType'],
      ['missing userId', { userId: undefined }, 'userId'],
      ['empty userId', { userId: '' }, 'userId'],
      ['userId of 129 chars', { userId: 'u'.repeat(129) }, 'userId'],
      ['numeric userId (no coercion)', { userId: 42 }, 'userId'],
      ['missing sessionId', { sessionId: undefined }, 'sessionId'],
      ['missing timestamp', { timestamp: undefined }, 'timestamp'],
      ['timestamp not a date', { timestamp: 'yesterday' }, 'timestamp'],
      ['timestamp without offset', { timestamp: '2024-05-01T10:00:00' }, 'timestamp'],
      ['timestamp on 30 February', { timestamp: '2024-02-30T10:00:00Z' }, 'timestamp'],
      ['timestamp at 24:00', { timestamp: '2024-05-01T24:00:00Z' }, 'timestamp'],
      ['timestamp 25 h in the future', { timestamp: future(25 * 3600_000) }, 'timestamp'],
      ['priority 11', { priority: 11 }, 'priority'],
      ['priority -1', { priority: -1 }, 'priority'],
      ['priority 1.5', { priority: 1.5 }, 'priority'],
      ['priority as a string', { priority: '5' }, 'priority'],
      ['metadata as an array', { metadata: [1, 2] }, 'metadata'],
      ['payload as a string', { payload: 'x' }, 'payload'],
      ['payload null', { payload: null }, 'payload'],
      ['eventId with a slash', { eventId: 'a/b' }, 'eventId'],
      ['eventId of 129 chars', { eventId: 'e'.repeat(129) }, 'eventId'],
      ['empty eventId', { eventId: '' }, 'eventId'],
    ])('%s → 400 VALIDATION_ERROR naming the field; nothing stored', async (_name, over, field) => {
      const before = await streamLength();
      const res = await post('/api/v1/events', event(over));
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field, message: expect.any(String) })]));
      expect(await streamLength()).toBe(before);
    });

    it('accepts a timestamp 23 h in the future, with an offset, and with fractional seconds', async () => {
      for (const timestamp of [future(23 * 3600_000), '2024-05-01T10:00:00+02:00', '2024-05-01T10:00:00.123456Z', '2024-02-29T00:00:00Z']) {
        const res = await post('/api/v1/events', event({ timestamp }));
        expect({ timestamp, status: res.status }).toEqual({ timestamp, status: 202 });
      }
    });

    it('reports every failing field at once', async () => {
      const res = await post('/api/v1/events', { eventType: '!', priority: 99 });
      expectError(res, 400, 'VALIDATION_ERROR');
      const fields = (res.body.error.details as { field: string }[]).map((d) => d.field).sort();
      expect(fields).toEqual(['eventType', 'priority', 'sessionId', 'timestamp', 'userId']);
    });

    it('a body over 32 KiB → 413 PAYLOAD_TOO_LARGE; just under is accepted', async () => {
      const before = await streamLength();
      const base = JSON.stringify(event({ payload: { blob: '' } }));
      const big = event({ payload: { blob: 'x'.repeat(32 * 1024 - base.length + 1) } });
      expectError(await post('/api/v1/events', big), 413, 'PAYLOAD_TOO_LARGE');
      expect(await streamLength()).toBe(before);
      const fits = event({ payload: { blob: 'x'.repeat(32 * 1024 - base.length - 200) } });
      expect((await post('/api/v1/events', fits)).status).toBe(202);
    });

    it('the 32 KiB rule is on the stored event, as in a batch: escapes and dropped fields do not count; a body over 192 KiB → 413', async () => {
      const raw = (body: string) => request(http).post('/api/v1/events').set('x-api-key', apiKey).set('content-type', 'application/json').send(body);
      // ~60 KB of body (\u00e9 is 6 bytes), ~20 KB stored (é is 2 bytes of UTF-8).
      const escaped = JSON.stringify(event({ payload: { text: 'é'.repeat(10_000) } })).replace(/é/g, '\\u00e9');
      expect(escaped.length).toBeGreaterThan(50_000);
      expect((await raw(escaped)).status).toBe(202);
      const withJunk = event({ junk: 'x'.repeat(40_000) });
      const res = await post('/api/v1/events', withJunk);
      expect(res.status).toBe(202);
      expect(await dedupExists(withJunk.eventId as string)).toBe(1);
      expectError(await post('/api/v1/events', event({ junk: 'x'.repeat(200 * 1024) })), 413, 'PAYLOAD_TOO_LARGE');
    });

    it('Fastify errors keep the envelope: malformed JSON → 400, empty body → 400, text/plain → 415', async () => {
      const raw = (type: string, body: string) => request(http).post('/api/v1/events').set('x-api-key', apiKey).set('content-type', type).send(body);
      expectError(await raw('application/json', '{"eventType": '), 400, 'VALIDATION_ERROR');
      expectError(await raw('application/json', ''), 400, 'VALIDATION_ERROR');
      expectError(await raw('text/plain', 'hello'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await post('/api/v1/events', [event()]), 400, 'VALIDATION_ERROR');
    });

    it('an unknown route under /api/v1/events → 404 NOT_FOUND', async () => {
      expectError(await post('/api/v1/events/nope', event()), 404, 'NOT_FOUND');
    });
  });

  describe('hostile property names', () => {
    it('__proto__ anywhere in the body → 400 for the whole request, no prototype pollution, nothing stored', async () => {
      const before = await streamLength();
      const ev = event();
      const bodies = [
        JSON.stringify(ev).replace(/}$/, ',"metadata":{"__proto__":{"polluted":"yes"}}}'),
        JSON.stringify({ events: [ev] }).replace(/}]}$/, ',"payload":{"a":{"__proto__":{"polluted":"yes"}}}}]}'),
        JSON.stringify(ev).replace(/}$/, ',"payload":{"constructor":{"prototype":{"polluted":"yes"}}}}'),
      ];
      for (const [i, body] of bodies.entries()) {
        const path = i === 1 ? '/api/v1/events/batch' : '/api/v1/events';
        const res = await request(http).post(path).set('x-api-key', apiKey).set('content-type', 'application/json').send(body);
        expectError(res, 400, 'VALIDATION_ERROR');
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(await streamLength()).toBe(before);
      expect(await dedupExists(ev.eventId as string)).toBe(0);
    });

    it('plain "constructor" / "prototype" keys and keys with "$" or "." are accepted and stored verbatim', async () => {
      const metadata = { constructor: 'c', prototype: { x: 1 }, toString: 'not a function', hasOwnProperty: 1 };
      const payload = { $set: { admin: true }, 'a.b': 1, nested: { $gt: '', 'x.y.z': [1, { $ne: null }] }, '': 'empty key' };
      const ev = event({ metadata, payload });
      const res = await post('/api/v1/events', ev);
      expect(res.status).toBe(202);
      const stored = (await entries()).find((e) => e.event.eventId === ev.eventId)!;
      expect(stored.event.metadata).toEqual(metadata);
      expect(stored.event.payload).toEqual(payload);
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    });

    it('metadata/payload nested deeper than 32 levels → 400 (MongoDB refuses deep documents later); 32 levels pass', async () => {
      const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const send = (field: string, depth: number) =>
        request(http)
          .post('/api/v1/events')
          .set('x-api-key', apiKey)
          .set('content-type', 'application/json')
          .send(JSON.stringify(event()).replace(/}$/, `,"${field}":${nested(depth)}}`));
      for (const depth of [33, 5000]) {
        const res = await send('payload', depth);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'payload' })]);
      }
      expectError(await send('metadata', 40), 400, 'VALIDATION_ERROR');
      expect((await send('payload', 32)).status).toBe(202);
    });
  });

  describe('POST /api/v1/events/batch', () => {
    it('internal duplicate, earlier duplicate, invalid items and good items → exact per-item statuses, counts and stream contents', async () => {
      const earlier = event({ userId: 'user-b1' });
      expect((await post('/api/v1/events', earlier)).status).toBe(202);
      const before = await streamLength();

      const good1 = event({ userId: 'user-b1' });
      const good2 = event({ userId: 'user-b2', eventId: undefined });
      const inner = event({ userId: 'user-b3' });
      const events = [
        good1, //                                   0 accepted
        { ...earlier }, //                          1 duplicate (seen before)
        event({ eventType: '' }), //                2 rejected
        inner, //                                   3 accepted
        { ...inner, payload: { second: true } }, // 4 duplicate (same batch)
        good2, //                                   5 accepted (server id)
        'not an object', //                         6 rejected
        event({ timestamp: 'soon' }), //            7 rejected
      ];
      const res = await post('/api/v1/events/batch', { events, extraEnvelopeField: 1 });
      expect(res.status).toBe(202);
      expect(res.body.success).toBe(true);
      const { data } = res.body;
      expect({ accepted: data.accepted, duplicates: data.duplicates, rejected: data.rejected, total: data.total }).toEqual({
        accepted: 3,
        duplicates: 2,
        rejected: 3,
        total: 8,
      });
      expect(data.results.map((r: { index: number; status: string }) => [r.index, r.status])).toEqual([
        [0, 'accepted'],
        [1, 'duplicate'],
        [2, 'rejected'],
        [3, 'accepted'],
        [4, 'duplicate'],
        [5, 'accepted'],
        [6, 'rejected'],
        [7, 'rejected'],
      ]);
      expect(data.results[0].eventId).toBe(good1.eventId);
      expect(data.results[1].eventId).toBe(earlier.eventId);
      expect(data.results[4].eventId).toBe(inner.eventId);
      expect(data.results[5].eventId).toMatch(UUID_V7);
      expect(data.results[2].error).toEqual({
        code: 'VALIDATION_ERROR',
        message: expect.stringContaining('eventType'),
        details: expect.arrayContaining([expect.objectContaining({ field: 'eventType' })]),
      });
      expect(data.results[2].eventId).toBe((events[2] as { eventId: string }).eventId);
      expect(data.results[6].error.details).toEqual([expect.objectContaining({ field: 'event', message: 'must be object' })]);
      expect(data.results[7].error.details).toEqual([expect.objectContaining({ field: 'timestamp' })]);
      expect(data.results.filter((r: { error?: unknown }) => r.error).length).toBe(3);

      // The stream got exactly the accepted events, in order, the first version of the in-batch duplicate.
      const added = (await entries()).slice(before);
      expect(added.map((e) => e.event.eventId)).toEqual([good1.eventId, inner.eventId, data.results[5].eventId]);
      expect(added[1].event.payload).toBeUndefined();
      expect(added.every((e) => e.apiKeyId === apiKeyId)).toBe(true);
      expect(await dedupExists((events[2] as { eventId: string }).eventId)).toBe(0);
    });

    it('an item over 32 KiB is rejected alone (PAYLOAD_TOO_LARGE); the others are accepted', async () => {
      const big = event({ payload: { blob: 'é'.repeat(17 * 1024) } }); // 34 KiB of UTF-8
      const ok = event();
      const res = await post('/api/v1/events/batch', { events: [big, ok] });
      expect(res.status).toBe(202);
      expect(res.body.data.results.map((r: { status: string }) => r.status)).toEqual(['rejected', 'accepted']);
      expect(res.body.data.results[0].error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(await dedupExists(big.eventId as string)).toBe(0);
    });

    it('a batch where every item is invalid → 202 with all rejected, nothing stored', async () => {
      const before = await streamLength();
      const res = await post('/api/v1/events/batch', { events: [{}, { eventType: 'x' }] });
      expect(res.status).toBe(202);
      expect(res.body.data).toEqual(expect.objectContaining({ accepted: 0, duplicates: 0, rejected: 2, total: 2 }));
      expect(await streamLength()).toBe(before);
    });

    it.each<[string, unknown]>([
      ['no events field', { items: [] }],
      ['empty events', { events: [] }],
      ['events not an array', { events: { a: 1 } }],
      ['1001 events', { events: Array.from({ length: 1001 }, () => ({})) }],
      ['an array body', [{}]],
    ])('invalid envelope (%s) → 400 VALIDATION_ERROR naming events; nothing stored', async (_name, body) => {
      const before = await streamLength();
      const res = await post('/api/v1/events/batch', body);
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: expect.stringMatching(/^(events|body)$/) })]));
      expect(await streamLength()).toBe(before);
    });

    it('accepts 1000 events in one request', async () => {
      const before = await streamLength();
      const events = Array.from({ length: 1000 }, (_, i) => event({ userId: `bulk-${i % 37}` }));
      const res = await post('/api/v1/events/batch', { events });
      expect(res.status).toBe(202);
      expect(res.body.data.accepted).toBe(1000);
      expect(await streamLength()).toBe(before + 1000);
    });

    it('a body over 5 MiB → 413 PAYLOAD_TOO_LARGE', async () => {
      const events = Array.from({ length: 200 }, () => event({ payload: { blob: 'x'.repeat(27 * 1024) } }));
      expectError(await post('/api/v1/events/batch', { events }), 413, 'PAYLOAD_TOO_LARGE');
    });
  });

  describe('atomicity', () => {
    it('a script error after the dedup step rolls everything back (503, no entries, no dedup keys); the retry is accepted', async () => {
      // A real Redis failure mid-script: with the stream's last id one below the maximum, the
      // first XADD succeeds (taking the last possible id) and the second fails.
      expect((await post('/api/v1/events', event())).status).toBe(202);
      await redis.call('XSETID', env.STREAM_KEY, '18446744073709551615-18446744073709551614');
      const before = await streamLength();
      const a = event({ userId: 'atomic-1' });
      const b = event({ userId: 'atomic-2' });
      const c = event({ userId: 'atomic-3' });
      const failed = await post('/api/v1/events/batch', { events: [a, b, c] });
      expectError(failed, 503, 'SERVICE_UNAVAILABLE');
      expect(failed.headers['retry-after']).toBe('1');
      expect(await streamLength()).toBe(before);
      for (const e of [a, b, c]) expect(await dedupExists(e.eventId as string)).toBe(0);
      // The script really ran its writes and undid them: Redis counted the error reply.
      expect(await redis.info('errorstats')).toMatch(/errorstat_EVP_ROLLEDBACK:count=\d+/);

      // Repair the stream (a fresh one) and retry the same request: accepted, not "duplicate".
      await redis.del(env.STREAM_KEY);
      const retry = await post('/api/v1/events/batch', { events: [a, b, c] });
      expect(retry.status).toBe(202);
      expect(retry.body.data).toEqual(expect.objectContaining({ accepted: 3, duplicates: 0 }));
      expect((await entries()).map((e) => e.event.eventId)).toEqual([a.eventId, b.eventId, c.eventId]);
    });

    it('a stream key of the wrong type fails before any write: 503 and no dedup key', async () => {
      const streamKey = env.STREAM_KEY;
      await redis.rename(streamKey, `${streamKey}:aside`);
      await redis.set(streamKey, 'not a stream');
      try {
        const ev = event();
        expectError(await post('/api/v1/events', ev), 503, 'SERVICE_UNAVAILABLE');
        expect(await dedupExists(ev.eventId as string)).toBe(0);
        expect(await redis.get(streamKey)).toBe('not a stream');
      } finally {
        await redis.rename(`${streamKey}:aside`, streamKey);
      }
    });
  });

  describe('concurrency', () => {
    it('1,000 concurrent single requests with 10% duplicate ids → stream length equals the number of 202s exactly', async () => {
      await app.listen(0, '127.0.0.1');
      const url = await app.getUrl();
      const before = await streamLength();
      const unique = Array.from({ length: 900 }, (_, i) => event({ userId: `conc-${i % 50}` }));
      const bodies = [...unique, ...unique.slice(0, 100).map((e) => ({ ...e }))];
      // Shuffle so originals and repeats race each other.
      for (let i = bodies.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [bodies[i], bodies[j]] = [bodies[j], bodies[i]];
      }
      const statuses = await Promise.all(
        bodies.map((b) =>
          request(url)
            .post('/api/v1/events')
            .set('x-api-key', apiKey)
            .send(b)
            .then((r) => r.status),
        ),
      );
      const count = (s: number) => statuses.filter((x) => x === s).length;
      expect({ accepted: count(202), duplicates: count(200), other: statuses.length - count(202) - count(200) }).toEqual({
        accepted: 900,
        duplicates: 100,
        other: 0,
      });
      expect((await streamLength()) - before).toBe(count(202));
      const ids = (await entries()).slice(before).map((e) => e.event.eventId);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });

  describe('GET /api/v1/events/stats', () => {
    it('needs a credential (401 UNAUTHORIZED without); takes a JWT as well as an API key', async () => {
      expectError(await request(http).get('/api/v1/events/stats'), 401, 'UNAUTHORIZED');
      const login = await request(http).post('/api/auth/login').send({ email: `ingest-${run}@example.test`, password: 'correct horse battery' });
      expect(login.status).toBe(200);
      const res = await request(http).get('/api/v1/events/stats').set('authorization', `Bearer ${login.body.data.token}`);
      expect(res.status).toBe(200);
      expect(res.body.data.totalIngested).toEqual(expect.any(Number));
    });

    it('reports the counters, stream length, pending and a recent rate', async () => {
      // Known increments on top of whatever the tests above did.
      const get = async () => (await request(http).get('/api/v1/events/stats').set('x-api-key', apiKey)).body.data;
      const before = await get();
      const ev = event();
      await post('/api/v1/events/batch', { events: [ev, ev, { bad: true }, event()] });
      await post('/api/v1/events', ev);
      const after = await get();
      expect(after).toEqual({
        ingestionRate: expect.any(Number),
        totalIngested: before.totalIngested + 2,
        totalDuplicates: before.totalDuplicates + 2,
        totalRejected: before.totalRejected + 1,
        streamLength: await streamLength(),
        pending: 0,
        partitions: 1,
        rateWindowSeconds: 10,
        timestamp: expect.any(String),
      });
      expect(after.ingestionRate).toBeGreaterThan(0);
      expect(Number(await redis.get('metrics:ingested'))).toBe(after.totalIngested);
      expect(Number(await redis.get('metrics:duplicates'))).toBe(after.totalDuplicates);
      expect(Number(await redis.get('metrics:rejected'))).toBe(after.totalRejected);
    });

    it('counts pending entries of the consumer group', async () => {
      expect((await post('/api/v1/events/batch', { events: [event(), event(), event()] })).status).toBe(202);
      await redis.xgroup('CREATE', env.STREAM_KEY, env.CONSUMER_GROUP, '0', 'MKSTREAM').catch(() => undefined);
      await redis.xreadgroup('GROUP', env.CONSUMER_GROUP, 'test-consumer', 'COUNT', 3, 'STREAMS', env.STREAM_KEY, '>');
      const res = await request(http).get('/api/v1/events/stats').set('x-api-key', apiKey);
      expect(res.status).toBe(200);
      expect(res.body.data.pending).toBe(3);
    });
  });
});

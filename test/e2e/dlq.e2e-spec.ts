import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import type { IngestedEvent } from '../../src/events/event.types';
import { waitFor } from '../support/child-process';
import { appendEvents, appendRaw, pendingCount, ShardView } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * Dead-letter queue endpoints (contract §6) on the real app (ROLE=all: API and worker), with
 * events sent through the real ingestion API: poison → DLQ → list → fix → replay → stored once.
 */
describe('DLQ endpoints (real app, real worker, real auth)', () => {
  const run = uniqueSuffix();
  const env = testEnv({ redisDb: 5, overrides: { ROLE: 'all', BATCH_TIMEOUT_MS: '50', CLAIM_IDLE_MS: '1000' } });
  const password = 'correct horse battery staple';
  let app: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let redis: Redis;
  let shards: ShardView;
  let apiKey: string;
  let operator: string;
  let viewer: string;

  const login = async (email: string): Promise<string> => {
    const res = await request(http).post('/api/auth/login').send({ email, password });
    expect(res.status).toBe(200);
    return res.body.data.token as string;
  };
  const dlq = (token: string | null = operator) => {
    const auth = (r: request.Test) => (token ? r.set('authorization', `Bearer ${token}`) : r);
    return {
      list: (query = '') => auth(request(http).get(`/api/v1/dlq${query}`)),
      replay: (body: unknown) => auth(request(http).post('/api/v1/dlq/replay')).send(body as object),
      remove: (id: string) => auth(request(http).delete(`/api/v1/dlq/${encodeURIComponent(id)}`)),
    };
  };
  const expectError = (res: request.Response, status: number, code: string) => {
    expect({ status: res.status, code: res.body?.error?.code, success: res.body?.success }).toEqual({ status, code, success: false });
  };
  const ingest = async (event: Record<string, unknown>) => {
    const res = await request(http).post('/api/v1/events').set('x-api-key', apiKey).send(event);
    expect(res.status).toBe(202);
    return res.body.data.eventId as string;
  };
  const event = (over: Record<string, unknown>) => ({
    eventType: 'checkout',
    userId: 'dlq-user',
    sessionId: `s-${run}`,
    timestamp: new Date().toISOString(),
    eventId: `dlq-${run}-${Math.random().toString(36).slice(2)}`,
    ...over,
  });
  const drained = async () => (await pendingCount(redis, env.STREAM_KEY, env.CONSUMER_GROUP)) === 0;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    app = await startTestApp(env);
    http = app.getHttpServer();
    const users = app.get(UsersService);
    const op = await users.create({ email: `dlq-op-${run}@example.test`, password, role: 'OPERATOR' });
    await users.create({ email: `dlq-viewer-${run}@example.test`, password, role: 'VIEWER' });
    apiKey = (await app.get(ApiKeysService).create(op.id, { name: 'dlq e2e' })).key;
    operator = await login(`dlq-op-${run}@example.test`);
    viewer = await login(`dlq-viewer-${run}@example.test`);
  });

  afterAll(async () => {
    await app?.close();
    await redis?.del(env.STREAM_KEY, `${env.STREAM_KEY}:transient-failures`);
    await shards?.dropAll();
    await shards?.close();
    redis?.disconnect();
  });

  it('requires an OPERATOR (or ADMIN) JWT', async () => {
    expectError(await dlq(null).list(), 401, 'UNAUTHORIZED');
    expectError(await request(http).get('/api/v1/dlq').set('x-api-key', apiKey), 401, 'UNAUTHORIZED');
    expectError(await dlq(viewer).list(), 403, 'FORBIDDEN');
    expectError(await dlq(viewer).replay({ all: true }), 403, 'FORBIDDEN');
    expectError(await dlq(viewer).remove('0:1-0'), 403, 'FORBIDDEN');
    const ok = await dlq().list();
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ success: true, data: { items: [], nextCursor: null, total: 0 } });
  });

  it('poison → DLQ → fix → replay (past the dedup key) → stored exactly once', async () => {
    const shardIdx = shards.shardOf('dlq-user');
    const events = shards.events(shardIdx);
    // An operator's mistake: a unique index the events collection must not have.
    await events.createIndex({ sessionId: 1 }, { unique: true, name: 'oops_unique_session' });
    const firstId = await ingest(event({ sessionId: `clash-${run}` }));
    await waitFor(async () => (await events.countDocuments({ _id: firstId })) === 1 && (await drained()), 20_000);
    const victimId = await ingest(event({ sessionId: `clash-${run}`, payload: { 'cart.total': 12.5 } }));
    // FerretDB v1 refuses arrays inside arrays. The API refuses them too (400), so this one comes
    // from elsewhere (an older API, a manual XADD): the shard refuses the document.
    const nested = event({ payload: { grid: [[1, 2]] }, priority: 1 });
    await appendEvents(redis, env.STREAM_KEY, [nested as unknown as IngestedEvent]);
    const nestedId = nested.eventId;

    await waitFor(async () => (await dlq().list()).body.data.total === 2 && (await drained()), 20_000);
    const page = (await dlq().list()).body.data;
    const byEvent = new Map<string, Record<string, unknown>>(page.items.map((i: Record<string, unknown>) => [i.eventId, i]));
    expect(byEvent.get(victimId)).toMatchObject({
      reason: 'rejected',
      error: { code: 11000, message: 'duplicate key on a unique index other than _id' },
      attempts: 1,
      userId: 'dlq-user',
      replayable: true,
      truncated: false,
      event: expect.objectContaining({ eventId: victimId, payload: { 'cart.total': 12.5 } }),
      stream: env.STREAM_KEY,
    });
    expect(byEvent.get(nestedId)).toMatchObject({ reason: 'rejected', error: { code: 2 } });
    const victim = byEvent.get(victimId)!;
    expect(new Date(victim.firstSeenAt as string).getTime()).toBeLessThanOrEqual(new Date(victim.lastSeenAt as string).getTime());
    expect(victim.apiKeyId).toEqual(expect.any(String));

    // The fix, then the replay. The ingestion dedup key of the event is still there; the replay
    // must not be taken for a duplicate.
    await events.dropIndex('oops_unique_session');
    expect(await redis.exists(`dedup:event:${victimId}`)).toBe(1);
    const replay = await dlq().replay({ ids: [victim.id, 'no-such-id'] });
    expect(replay.status).toBe(202);
    expect(replay.body.data).toEqual({ replayed: [victim.id], skipped: [], notFound: ['no-such-id'], remaining: 1 });

    await waitFor(async () => (await events.countDocuments({ _id: victimId })) === 1 && (await drained()), 20_000);
    const where = await shards.locate([victimId, firstId]);
    expect(where.get(victimId)).toEqual([shardIdx]);
    const stored = await events.findOne({ _id: victimId });
    expect(stored?.payload).toEqual({ 'cart\uFF0Etotal': 12.5 });
    const after = (await dlq().list()).body.data;
    expect(after.total).toBe(1);
    expect(after.items[0].eventId).toBe(nestedId);

    // Replaying it again: it is no longer in the DLQ.
    expect((await dlq().replay({ ids: [victim.id] })).body.data).toMatchObject({ replayed: [], notFound: [victim.id] });
  });

  it('pages newest first with a cursor', async () => {
    for (let i = 0; i < 3; i++) await appendRaw(redis, env.STREAM_KEY, ['e', `{broken ${i}`, 'k', '', 'r', '1']);
    await waitFor(async () => (await dlq().list()).body.data.total === 4, 20_000);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await dlq().list(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.items.map((i: { id: string }) => i.id));
      cursor = res.body.data.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(2);
    expect(new Set(seen).size).toBe(4);
    const all = (await dlq().list('?limit=10')).body.data.items as Array<{ id: string; firstSeenAt: string }>;
    expect(all.map((i) => i.id)).toEqual(seen);
    const times = all.map((i) => new Date(i.firstSeenAt).getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('replay all skips entries that cannot succeed; delete removes one', async () => {
    const res = await dlq().replay({ all: true });
    expect(res.status).toBe(202);
    // The nested-array event is replayable (it parses) and goes back to the stream; the three
    // broken entries are skipped with a reason.
    expect(res.body.data.replayed).toHaveLength(1);
    expect(res.body.data.skipped).toHaveLength(3);
    for (const s of res.body.data.skipped) expect(s.reason).toMatch(/does not parse/);
    // The replayed nested-array event fails again and comes back (as a new stream entry).
    await waitFor(async () => (await dlq().list()).body.data.total === 4 && (await drained()), 20_000);

    const items = (await dlq().list('?limit=10')).body.data.items as Array<{ id: string; reason: string }>;
    const broken = items.find((i) => i.reason === 'unparseable')!;
    expect((await dlq().remove(broken.id)).status).toBe(204);
    expectError(await dlq().remove(broken.id), 404, 'NOT_FOUND');
    expect((await dlq().list()).body.data.total).toBe(3);
  });

  it('validates the request', async () => {
    for (const body of [{}, { ids: [], all: true }, { ids: ['a'], all: true }, { all: false }, { ids: 'a' }, { ids: [] }, { ids: [7] }]) {
      expectError(await dlq().replay(body), 400, 'VALIDATION_ERROR');
    }
    for (const query of ['?limit=0', '?limit=1001', '?limit=abc', '?cursor=not-a-cursor']) {
      expectError(await dlq().list(query), 400, 'VALIDATION_ERROR');
    }
  });
});

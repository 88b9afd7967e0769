import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import type { StoredEventDocument } from '../../src/events/event.types';
import { escapeFieldNames } from '../../src/events/field-names';
import { MongoShards } from '../../src/mongo/mongo-shards';
import { ShardRouter } from '../../src/mongo/shard-router';
import { RedisRollupWriter } from '../../src/analytics/rollups/redis-rollup.writer';
import { RedisKeys } from '../../src/redis/redis-keys';
import { PrivateFerretDb } from '../support/ferretdb';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * The shard-reading queries (users/:id/events, metrics?userId=) on FerretDB with the PostgreSQL
 * backend (a private instance: the shared shards may run the SQLite backend), then the same
 * queries while that instance is down (503, never a partial answer) and after it is back.
 * Documents and rollups are written directly (StoredEventDocument + RollupWriter), the way the
 * worker writes them. Redis DB 9 belongs to this file.
 */
const REDIS_DB = 9;

describe('analytics queries on the shards (FerretDB/PostgreSQL, outage → 503)', () => {
  let ferret: PrivateFerretDb;
  let app: NestFastifyApplication;
  let redis: Redis;
  let client: MongoClient;
  let apiKey: string;
  let dbNames: string[];
  const run = uniqueSuffix();
  const docs: StoredEventDocument[] = [];
  const base = Date.now() - 6 * 3_600_000;

  const get = (path: string) => request(app.getHttpServer()).get(path).set('x-api-key', apiKey);

  beforeAll(async () => {
    ferret = await PrivateFerretDb.create('analytics_test');
    // Three "shards" on the one private server (separate databases): all of them stop together.
    dbNames = [0, 1, 2].map((i) => `evp_an_${run}_${i}`);
    const uris = dbNames.map((db) => `${ferret.uri}/${db}`).join(',');
    const env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api', MONGO_SHARD_URIS: uris } });
    redis = new Redis(env.REDIS_URL);
    await redis.flushdb();
    app = await startTestApp(env);
    const owner = await app.get(UsersService).create({ email: `an-shards-${run}@example.test`, password: 'correct horse battery', role: 'VIEWER' });
    apiKey = (await app.get(ApiKeysService).create(owner.id, { name: 'analytics shards' })).key;

    const router = app.get(ShardRouter);
    const users = ['alice', 'bob', 'c.a*r(o)l$'];
    for (let i = 0; i < 240; i++) {
      const userId = users[i % 3];
      docs.push({
        _id: `ev-${run}-${String(i).padStart(4, '0')}`,
        eventId: `ev-${run}-${String(i).padStart(4, '0')}`,
        eventType: ['view', 'click', 'buy'][i % 5 % 3],
        userId,
        sessionId: `${userId}-${i % 4}`,
        // Every 10th event shares its timestamp with the next one: the cursor must order by _id.
        timestamp: new Date(base + (i - (i % 10 === 1 ? 1 : 0)) * 60_000),
        ...(i % 40 === 0 ? { payload: escapeFieldNames({ 'a.b': { $c: [1, { 'd.e': 2 }] } }) } : {}),
        priority: 1,
        receivedAt: new Date(),
        processedAt: new Date(),
        apiKeyId: null,
      });
    }
    client = await MongoClient.connect(ferret.uri);
    const shards = app.get(MongoShards);
    for (const shard of shards.all) {
      const mine = docs.filter((d) => router.indexFor(d.userId) === shard.index);
      if (mine.length === 0) continue;
      const coll = client.db(dbNames[shard.index]).collection<StoredEventDocument>('events');
      await coll.createIndex({ userId: 1, timestamp: -1 });
      await coll.insertMany(mine);
      // The worker's rollup writer (ROLE=api has none of its own), on this file's Redis DB.
      await new RedisRollupWriter(redis, app.get(RedisKeys)).apply(shard, mine);
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await client?.close();
    await ferret?.stop();
    redis?.disconnect();
  });

  it('pages a user’s events newest first by (timestamp, _id), literally matched, payload unescaped', async () => {
    const userId = 'c.a*r(o)l$';
    const expected = docs
      .filter((d) => d.userId === userId)
      .sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime() || (a._id < b._id ? 1 : -1));
    const got: Array<{ eventId: string; payload?: unknown }> = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/api/v1/analytics/users/${encodeURIComponent(userId)}/events?limit=13${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      got.push(...res.body.data.events);
      cursor = res.body.data.nextCursor;
    } while (cursor);
    expect(got.map((e) => e.eventId)).toEqual(expected.map((d) => d.eventId));
    expect(got.find((e) => e.payload)?.payload).toEqual({ 'a.b': { $c: [1, { 'd.e': 2 }] } });
  });

  it('applies from/to on top of the userId equality filter', async () => {
    const from = new Date(base + 30 * 60_000);
    const to = new Date(base + 90 * 60_000);
    const res = await get(`/api/v1/analytics/users/bob/events?from=${from.toISOString()}&to=${to.toISOString()}&limit=1000`);
    expect(res.status).toBe(200);
    const expected = docs.filter((d) => d.userId === 'bob' && d.timestamp >= from && d.timestamp < to).sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime() || (a._id < b._id ? 1 : -1));
    expect(res.body.data.events.map((e: { eventId: string }) => e.eventId)).toEqual(expected.map((d) => d.eventId));
  });

  it('metrics?userId= counts exactly from the owning shard; unfiltered metrics from the rollups agree', async () => {
    const res = await get('/api/v1/analytics/metrics?timeRange=7d&userId=alice');
    expect(res.status).toBe(200);
    const mine = docs.filter((d) => d.userId === 'alice');
    expect(res.body.data.totalEvents).toBe(mine.length);
    expect(res.body.data.uniqueSessions).toBe(new Set(mine.map((d) => d.sessionId)).size);
    expect(res.body.data.uniquesApproximate).toBe(false);
    const all = await get('/api/v1/analytics/metrics?timeRange=7d');
    expect(all.body.data.totalEvents).toBe(docs.length);
    expect(all.body.data.topUsers.find((u: { userId: string }) => u.userId === 'alice').eventCount).toBe(mine.length);
  });

  it('answers 503 (not a partial answer, not 500) while the shard is down, and recovers', async () => {
    await ferret.stop();
    try {
      for (const path of ['/api/v1/analytics/users/alice/events', '/api/v1/analytics/metrics?timeRange=24h&userId=bob']) {
        const res = await get(path);
        expect({ path, status: res.status, code: res.body.error?.code }).toEqual({ path, status: 503, code: 'SERVICE_UNAVAILABLE' });
        expect(res.headers['retry-after']).toBeDefined();
      }
    } finally {
      await ferret.start();
    }
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await get('/api/v1/analytics/users/alice/events?limit=5')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  }, 60_000);
});

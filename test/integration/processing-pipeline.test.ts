import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { DLQ_COLLECTION } from '../../src/events/event.types';
import { WorkerMetrics } from '../../src/processing/worker-metrics';
import { waitFor } from '../support/child-process';
import { pendingCount, ShardView } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * 10,000 events through the real API (POST /api/v1/events/batch, real API key) and the real
 * worker (ROLE=all): every accepted eventId is stored exactly once, on the shard the router names.
 */
describe('processing: 10,000 events API → stream → worker → shards', () => {
  const run = uniqueSuffix();
  const env = testEnv({ redisDb: 4, overrides: { ROLE: 'all', BATCH_TIMEOUT_MS: '100' } });
  let app: NestFastifyApplication;
  let redis: Redis;
  let shards: ShardView;
  let apiKey: string;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    app = await startTestApp(env);
    const user = await app.get(UsersService).create({ email: `pipeline-${run}@example.test`, password: 'correct horse battery staple', role: 'OPERATOR' });
    apiKey = (await app.get(ApiKeysService).create(user.id, { name: 'pipeline test' })).key;
  });

  afterAll(async () => {
    await app?.close();
    await redis?.del(env.STREAM_KEY, `${env.STREAM_KEY}:transient-failures`);
    await shards?.dropAll();
    await shards?.close();
    redis?.disconnect();
  });

  it('stores every accepted event once, on its shard', async () => {
    const accepted = new Map<string, string>(); // eventId → userId
    let duplicates = 0;
    let sent = 0;
    for (let b = 0; b < 10; b++) {
      const events = Array.from({ length: 1_000 }, (_, i) => {
        const n = b * 1_000 + i;
        // Every 20th event repeats an earlier eventId (a client retry): accepted once only.
        const eventId = n % 20 === 19 ? `p-${run}-${n - 7}` : `p-${run}-${n}`;
        return {
          eventId,
          eventType: ['page_view', 'click', 'purchase', 'signup'][n % 4],
          userId: `user-${n % 313}`,
          sessionId: `session-${n % 977}`,
          timestamp: new Date(Date.now() - n * 1000).toISOString(),
          payload: { n, 'dotted.key': true },
        };
      });
      const res = await request(app.getHttpServer()).post('/api/v1/events/batch').set('x-api-key', apiKey).send({ events });
      expect(res.status).toBe(202);
      for (const r of res.body.data.results as Array<{ index: number; eventId: string; status: string }>) {
        if (r.status === 'accepted') accepted.set(r.eventId, events[r.index].userId);
        else if (r.status === 'duplicate') duplicates += 1;
      }
      sent += events.length;
    }
    expect(sent).toBe(10_000);
    expect(duplicates).toBe(500);
    expect(accepted.size).toBe(9_500);

    await waitFor(
      async () => (await shards.total()) >= accepted.size && (await pendingCount(redis, env.STREAM_KEY, env.CONSUMER_GROUP)) === 0,
      150_000,
      500,
    );
    expect(await shards.total()).toBe(accepted.size);
    const where = await shards.locate([...accepted.keys()]);
    const wrong = [...accepted].filter(([id, userId]) => JSON.stringify(where.get(id)) !== JSON.stringify([shards.shardOf(userId)]));
    expect(wrong).toEqual([]);
    // Spread over all three shards.
    for (const c of await shards.counts()) expect(c).toBeGreaterThan(0);
    expect(await shards.dbs[0].collection(DLQ_COLLECTION).countDocuments({})).toBe(0);
    const metrics = app.get(WorkerMetrics);
    expect(metrics.processed).toBe(accepted.size);
    expect(metrics.dlq).toBe(0);
    // Generous: CI runs this on 2 shared cores (about 15 s on an idle machine).
  }, 240_000);
});

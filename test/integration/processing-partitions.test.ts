import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { RedisKeys } from '../../src/redis/redis-keys';
import { waitFor } from '../support/child-process';
import { appendEvents, makeEvent, pendingCount, ShardView } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv } from '../support/test-env';

/** STREAM_PARTITIONS=3: the worker consumes every partition stream, each with its own group. */
describe('processing: every partition is consumed', () => {
  const env = testEnv({ redisDb: 4, overrides: { ROLE: 'worker', STREAM_PARTITIONS: '3', BATCH_TIMEOUT_MS: '50' } });
  const keys = new RedisKeys(env.STREAM_KEY, 3);
  let redis: Redis;
  let shards: ShardView;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    app = await startTestApp(env);
  });

  afterAll(async () => {
    await app?.close();
    await redis.del(...keys.allStreams(), ...[0, 1, 2].map((p) => keys.workerTransientFailures(p, 'event-processors')));
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('stores the events of all partitions and leaves nothing pending in any of them', async () => {
    const events = Array.from({ length: 600 }, () => makeEvent());
    const byPartition = new Map<number, typeof events>();
    for (const e of events) {
      const p = keys.partitionOf(e.userId);
      byPartition.set(p, [...(byPartition.get(p) ?? []), e]);
    }
    expect([...byPartition.keys()].sort()).toEqual([0, 1, 2]);
    for (const [p, list] of byPartition) await appendEvents(redis, keys.stream(p), list);

    await waitFor(async () => (await shards.total()) === 600, 30_000);
    for (const stream of keys.allStreams()) {
      expect(stream).toMatch(/:\{\d\}$/);
      await waitFor(async () => (await pendingCount(redis, stream, env.CONSUMER_GROUP)) === 0, 10_000);
      const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
      expect(groups.map((g) => g[1])).toEqual([env.CONSUMER_GROUP]);
    }
    const where = await shards.locate(events.map((e) => e.eventId));
    for (const e of events) expect(where.get(e.eventId)).toEqual([shards.shardOf(e.userId)]);
  });
});

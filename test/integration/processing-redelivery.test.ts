import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { WorkerMetrics } from '../../src/processing/worker-metrics';
import { waitFor } from '../support/child-process';
import { recordRollups, recordShardFinds } from '../support/query-recorder';
import { appendEvents, makeEvent, pendingCount, ShardView, storedDocument } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv } from '../support/test-env';

/**
 * The same stream entries delivered twice (group rewound; entries stuck at a dead consumer)
 * leave exactly one document per eventId, on the shard the router names, and end acked; the
 * rollups see each event once.
 */
describe('processing: redelivery is idempotent', () => {
  const env = testEnv({
    redisDb: 4,
    overrides: { ROLE: 'worker', BATCH_SIZE: '100', BATCH_TIMEOUT_MS: '100', CLAIM_IDLE_MS: '500' },
  });
  const stream = env.STREAM_KEY;
  const group = env.CONSUMER_GROUP;
  let redis: Redis;
  let shards: ShardView;
  let app: NestFastifyApplication;
  let rolledUp: string[] = [];

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    // A second group that never reads keeps every entry in the stream (trimming must respect
    // it), so the worker's group can be rewound over entries it already processed.
    await redis.xgroup('CREATE', stream, 'laggard', '0', 'MKSTREAM');
    app = await startTestApp(env);
    rolledUp = recordRollups(app);
  });

  afterAll(async () => {
    await app?.close();
    await redis.del(stream);
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('stores each event once on its shard, then a full redelivery only finds duplicates', async () => {
    const events = Array.from({ length: 600 }, () => makeEvent());
    const ids = events.map((e) => e.eventId);
    await appendEvents(redis, stream, events);

    await waitFor(async () => (await shards.total()) === 600 && (await pendingCount(redis, stream, group)) === 0, 30_000);
    const where = await shards.locate(ids);
    for (const e of events) expect(where.get(e.eventId)).toEqual([shards.shardOf(e.userId)]);
    const metrics = app.get(WorkerMetrics);
    expect(metrics.processed).toBe(600);

    // Rewind the group: every entry is delivered again with the same entry id. With no unique
    // index besides _id, telling a redelivery from a refusal needs no document lookup at all
    // (on FerretDB `find({_id: {$in}})` scans the whole collection).
    const recorder = recordShardFinds(app);
    try {
      await redis.xgroup('SETID', stream, group, '0');
      await waitFor(async () => metrics.duplicates === 600 && (await pendingCount(redis, stream, group)) === 0, 30_000);
    } finally {
      recorder.restore();
    }
    expect(recorder.finds.filter((f) => f.collection === 'events')).toEqual([]);

    expect(await shards.total()).toBe(600);
    expect(metrics.processed).toBe(600);
    expect(metrics.dlq).toBe(0);
    // Rollups counted every event exactly once.
    expect(rolledUp.length).toBe(600);
    expect(new Set(rolledUp).size).toBe(600);
  });

  it('entries stuck at a dead consumer are reclaimed and acked, stored ones as duplicates', async () => {
    const metrics = app.get(WorkerMetrics);
    const before = { processed: metrics.processed, duplicates: metrics.duplicates };
    const events = Array.from({ length: 150 }, () => makeEvent());
    // 100 of them were stored by a worker that died before acking: the documents exist already.
    for (const e of events.slice(0, 100)) {
      const shard = shards.shardOf(e.userId);
      await shards.events(shard).insertOne(storedDocument(e));
    }
    // A "ghost" consumer reads the entries and never acks, as a crashed worker would. The live
    // worker is reading too, so pause it by reading everything as the ghost in one go first.
    await appendEvents(redis, stream, events);
    const taken = (await redis.call('XREADGROUP', 'GROUP', group, 'ghost-1', 'COUNT', 1000, 'STREAMS', stream, '>')) as
      | Array<[string, unknown[]]>
      | null;
    const ghostGot = taken?.[0]?.[1].length ?? 0;
    // Whatever the live worker picked up itself is fine too; the ghost must hold some.
    expect(ghostGot).toBeGreaterThan(0);

    await waitFor(async () => (await pendingCount(redis, stream, group)) === 0, 30_000);
    const where = await shards.locate(events.map((e) => e.eventId));
    for (const e of events) expect(where.get(e.eventId)).toEqual([shards.shardOf(e.userId)]);
    expect(await shards.total()).toBe(750);
    expect(metrics.processed - before.processed).toBe(50);
    expect(metrics.duplicates - before.duplicates).toBe(100);
    expect(metrics.reclaimed).toBeGreaterThanOrEqual(ghostGot);
  });
});

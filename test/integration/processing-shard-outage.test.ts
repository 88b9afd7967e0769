import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { DLQ_COLLECTION, IngestedEvent } from '../../src/events/event.types';
import { WorkerMetrics } from '../../src/processing/worker-metrics';
import { waitFor } from '../support/child-process';
import { PrivateFerretDb } from '../support/ferretdb';
import { appendEvents, makeEvent, pendingCount, ShardView } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { TEST_MONGO_HOSTS, testEnv, uniqueSuffix } from '../support/test-env';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Shard 1 is a private FerretDB that goes away for 15 s while events keep flowing. Events for
 * the other shards keep being stored; those for shard 1 stay pending (not dead-lettered, even
 * though they are retried far more often than MAX_DELIVERIES) and are all stored once it is back.
 */
describe('processing: a shard outage delays, never dead-letters', () => {
  let ferret: PrivateFerretDb;
  let env: Record<string, string>;
  let redis: Redis;
  let shards: ShardView;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    ferret = await PrivateFerretDb.create('processing_outage');
    const db = `evp_outage_${uniqueSuffix()}`;
    const uris = [`mongodb://${TEST_MONGO_HOSTS[0]}/${db}`, `${ferret.uri}/${db}`, `mongodb://${TEST_MONGO_HOSTS[2]}/${db}`].join(',');
    env = testEnv({
      redisDb: 4,
      // Short claim idle time: given-up entries are retried every ~250 ms, i.e. dozens of times
      // during the outage — far beyond MAX_DELIVERIES=5 if transient failures counted.
      overrides: { ROLE: 'worker', MONGO_SHARD_URIS: uris, BATCH_TIMEOUT_MS: '100', CLAIM_IDLE_MS: '1000', MAX_DELIVERIES: '5' },
    });
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    app = await startTestApp(env);
  });

  afterAll(async () => {
    await app?.close();
    await redis?.del(env.STREAM_KEY, `${env.STREAM_KEY}:transient-failures`);
    // (If the test failed while the private shard was down, its database is simply left behind.)
    await shards?.dropAll();
    await shards?.close();
    await ferret?.stop();
    redis?.disconnect();
  });

  it('stores every event exactly once after the shard returns; none in the DLQ', async () => {
    const sent: IngestedEvent[] = [];
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const batch = Array.from({ length: 20 }, () => makeEvent());
        await appendEvents(redis, env.STREAM_KEY, batch);
        sent.push(...batch);
        await sleep(100);
      }
    })();

    await sleep(3_000);
    await ferret.stop();
    const healthyBefore = (await shards.counts()).filter((_, i) => i !== 1);
    await sleep(15_000);
    const healthyAfter = (await shards.counts()).filter((_, i) => i !== 1);
    const sentDuringOutage = sent.length;
    await ferret.start();
    await sleep(3_000);
    producing = false;
    await producer;

    // Healthy shards kept going during the outage.
    expect(healthyAfter[0]).toBeGreaterThan(healthyBefore[0]);
    expect(healthyAfter[1]).toBeGreaterThan(healthyBefore[1]);
    expect(sentDuringOutage).toBeGreaterThan(0);

    await waitFor(
      async () => (await shards.total()) === sent.length && (await pendingCount(redis, env.STREAM_KEY, env.CONSUMER_GROUP)) === 0,
      60_000,
      250,
    );
    const where = await shards.locate(sent.map((e) => e.eventId));
    const misplaced = sent.filter((e) => JSON.stringify(where.get(e.eventId)) !== JSON.stringify([shards.shardOf(e.userId)]));
    expect(misplaced).toEqual([]);
    expect(await shards.dbs[0].collection(DLQ_COLLECTION).countDocuments({})).toBe(0);

    const metrics = app.get(WorkerMetrics);
    expect(metrics.dlq).toBe(0);
    // The outage was felt (entries were left pending and retried), not skipped.
    expect(metrics.failed).toBeGreaterThan(0);
    expect(metrics.reclaimed).toBeGreaterThan(0);
    expect(metrics.processed).toBe(sent.length);
    // The transient-failure counts are forgotten once their entries are acked (or trimmed).
    await waitFor(async () => (await redis.hlen(`${env.STREAM_KEY}:transient-failures`)) === 0, 15_000);
  });
});

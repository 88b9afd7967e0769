import { hostname } from 'node:os';
import Redis from 'ioredis';
import { DLQ_COLLECTION, IngestedEvent } from '../../src/events/event.types';
import { freePort, RunningProcess, startMain, stopProcess, waitFor, waitForHttp } from '../support/child-process';
import { appendEvents, makeEvent, pendingCount, ShardView } from '../support/stream-fixtures';
import { testEnv } from '../support/test-env';

/**
 * A worker process (node dist/main.js, ROLE=worker — `npx tsc -p tsconfig.json` first) is
 * SIGKILLed while it holds read-but-unwritten entries; a second worker with a short
 * CLAIM_IDLE_MS takes them over. Every event ends stored once, on its shard; nothing in the DLQ.
 */
describe('processing: a worker killed mid-batch loses nothing', () => {
  const base = testEnv({ redisDb: 4 });
  let redis: Redis;
  let shards: ShardView;
  const procs: RunningProcess[] = [];

  const startWorker = async (overrides: Record<string, string>): Promise<RunningProcess> => {
    const port = await freePort();
    const proc = startMain({ ...base, ROLE: 'worker', HEALTH_PORT: String(port), ...overrides });
    procs.push(proc);
    await waitForHttp(port, '/api/ready', 200, 30_000, proc);
    return proc;
  };
  const consumerPending = async (consumer: string): Promise<number> => {
    const rows = (await redis.call('XPENDING', base.STREAM_KEY, base.CONSUMER_GROUP, '-', '+', 100_000, consumer)) as unknown[];
    return rows.length;
  };

  beforeAll(async () => {
    redis = new Redis(base.REDIS_URL);
    shards = await ShardView.connect(base.MONGO_SHARD_URIS);
  });

  afterAll(async () => {
    for (const p of procs) await stopProcess(p, 'SIGKILL');
    await redis.del(base.STREAM_KEY, `${base.STREAM_KEY}:transient-failures`);
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('the survivor reclaims the dead worker\'s entries; final count equals accepted, no duplicates', async () => {
    // Worker A only writes full batches of 200 per shard and never times out a partial one, so
    // when it dies it is certainly holding entries it has read but not written.
    const a = await startWorker({ BATCH_SIZE: '200', BATCH_TIMEOUT_MS: '600000', CLAIM_IDLE_MS: '60000' });
    const consumerA = `${hostname()}-${a.child.pid}`;
    const sent: IngestedEvent[] = [];
    for (let i = 0; i < 10; i++) {
      const batch = Array.from({ length: 100 }, () => makeEvent());
      await appendEvents(redis, base.STREAM_KEY, batch);
      sent.push(...batch);
    }
    // A has written some full batches and holds the rest.
    await waitFor(async () => (await shards.total()) >= 200 && (await pendingCount(redis, base.STREAM_KEY, base.CONSUMER_GROUP)) + (await shards.total()) >= 1_000, 20_000);
    a.child.kill('SIGKILL');
    await a.exited;
    const heldByDeadWorker = await consumerPending(consumerA);
    expect(heldByDeadWorker).toBeGreaterThan(0);
    expect(await shards.total()).toBeLessThan(sent.length);

    // More events arrive while nobody is running; then the survivor starts.
    const more = Array.from({ length: 500 }, () => makeEvent());
    await appendEvents(redis, base.STREAM_KEY, more);
    sent.push(...more);
    const b = await startWorker({ BATCH_SIZE: '100', BATCH_TIMEOUT_MS: '100', CLAIM_IDLE_MS: '1000' });

    await waitFor(async () => (await shards.total()) === sent.length && (await pendingCount(redis, base.STREAM_KEY, base.CONSUMER_GROUP)) === 0, 45_000, 250);
    const where = await shards.locate(sent.map((e) => e.eventId));
    const wrong = sent.filter((e) => JSON.stringify(where.get(e.eventId)) !== JSON.stringify([shards.shardOf(e.userId)]));
    expect(wrong).toEqual([]);
    expect(await consumerPending(consumerA)).toBe(0);
    expect(await shards.dbs[0].collection(DLQ_COLLECTION).countDocuments({})).toBe(0);
    await stopProcess(b);
    expect((await b.exited).code).toBe(0);
  });
});

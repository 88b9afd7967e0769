import Redis from 'ioredis';
import { freePort, RunningProcess, startMain, stopProcess, waitFor, waitForHttp } from '../support/child-process';
import { appendEvents, makeEvent, pendingCount, ShardView } from '../support/stream-fixtures';
import { testEnv } from '../support/test-env';

/**
 * SIGTERM while the worker holds a half-full buffer (BATCH_SIZE and BATCH_TIMEOUT_MS far away):
 * the buffered events are written and acked before the process exits 0, within the 10 s budget.
 */
describe('processing: graceful shutdown flushes the buffer', () => {
  const env = testEnv({ redisDb: 4, overrides: { ROLE: 'worker', BATCH_SIZE: '1000', BATCH_TIMEOUT_MS: '600000', LOG_LEVEL: 'info' } });
  let redis: Redis;
  let shards: ShardView;
  let worker: RunningProcess | undefined;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
  });

  afterAll(async () => {
    if (worker) await stopProcess(worker, 'SIGKILL');
    await redis.del(env.STREAM_KEY);
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('stores and acks the buffered events, then exits 0', async () => {
    const port = await freePort();
    worker = startMain({ ...env, HEALTH_PORT: String(port) });
    await waitForHttp(port, '/api/ready', 200, 30_000, worker);

    const events = Array.from({ length: 300 }, () => makeEvent());
    await appendEvents(redis, env.STREAM_KEY, events);
    // Read (pending) but not written: sitting in the buffer.
    await waitFor(async () => (await pendingCount(redis, env.STREAM_KEY, env.CONSUMER_GROUP)) === 300, 10_000);
    expect(await shards.total()).toBe(0);

    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    // Exit 0 also proves the 10 s budget: past its deadline the shutdown handler exits 1.
    expect(code).toBe(0);

    expect(await shards.total()).toBe(300);
    expect(await pendingCount(redis, env.STREAM_KEY, env.CONSUMER_GROUP)).toBe(0);
    const where = await shards.locate(events.map((e) => e.eventId));
    for (const e of events) expect(where.get(e.eventId)).toEqual([shards.shardOf(e.userId)]);
    expect(worker.output()).toMatch(/"leftPending":0[,}].*"msg":"stream worker stopped"/);
  });
});

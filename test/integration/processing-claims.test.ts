import Redis from 'ioredis';
import { RedisKeys } from '../../src/redis/redis-keys';
import { ConsumerGroup, DeliveredEntry } from '../../src/processing/stream/consumer-group';
import { WorkerSettings } from '../../src/processing/worker-settings';
import { waitFor } from '../support/child-process';
import { appendEvents, makeEvent } from '../support/stream-fixtures';
import { testEnv } from '../support/test-env';

/**
 * Entries a worker is still writing must not look idle to the other consumers: every reclaim
 * counts a delivery, and slow writes used to bounce entries between workers until they were
 * dead-lettered for MAX_DELIVERIES although stored. ConsumerGroup.touch against the real Redis.
 */
describe('processing: held entries are kept fresh (real Redis)', () => {
  // All 16 Redis databases are taken (10 is the bench's, flushed between its steps); like every
  // processing-*.test.ts this file uses DB 4, which nothing flushes, with a stream key of its own.
  const env = testEnv({ redisDb: 4 });
  const stream = env.STREAM_KEY;
  let redis: Redis;

  const groupAs = (consumer: string, group?: string): ConsumerGroup => {
    const settings = new WorkerSettings();
    settings.consumer = consumer;
    if (group) settings.group = group;
    settings.readCount = 100;
    return new ConsumerGroup(redis, new RedisKeys(stream, 1), settings);
  };
  const pendingRow = async (id: string): Promise<{ owner: string; idle: number; deliveries: number }> => {
    const [[, owner, idle, deliveries]] = (await redis.call('XPENDING', stream, 'event-processors', id, id, 1)) as Array<[string, string, number, number]>;
    return { owner, idle: Number(idle), deliveries: Number(deliveries) };
  };
  /** What another worker's reclaim does: XCLAIM entries idle at least `minIdle` ms. */
  const reclaimAs = async (consumer: string, minIdle: number, ids: string[]): Promise<string[]> =>
    (await redis.call('XCLAIM', stream, 'event-processors', consumer, minIdle, ...ids, 'JUSTID')) as string[];

  /** One XREADGROUP for `group`, on a connection of its own (as the worker's reader). */
  const readOnce = async (group: ConsumerGroup): Promise<DeliveredEntry[]> => {
    const reader = new Redis(env.REDIS_URL);
    try {
      return await group.read(reader);
    } finally {
      reader.disconnect();
    }
  };

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
  });

  afterAll(async () => {
    await redis.del(stream);
    redis.disconnect();
  });

  it('a touch resets the idle time without counting a delivery, so another consumer cannot reclaim the entries', async () => {
    const me = groupAs('worker-a');
    await me.ensureGroups();
    await appendEvents(redis, stream, [makeEvent(), makeEvent(), makeEvent()]);
    const held = await readOnce(me);
    expect(held).toHaveLength(3);
    const ids = held.map((e) => e.id);

    // Long enough that another worker with CLAIM_IDLE_MS=1000 would take them…
    await waitFor(async () => (await pendingRow(ids[0])).idle >= 1_000, 10_000);
    expect(await me.touch(held)).toBe(3);
    // …but after the touch it cannot, and the delivery counter did not move.
    expect(await reclaimAs('worker-b', 1_000, ids)).toEqual([]);
    for (const id of ids) expect(await pendingRow(id)).toMatchObject({ owner: 'worker-a', deliveries: 1 });
  });

  it('carries an uncertain write to the next delivery, and forgets it on ack or below the trim point', async () => {
    const me = groupAs('worker-c');
    (me as unknown as { settings: WorkerSettings }).settings.ownRetryIdleMs = 50;
    await me.ensureGroups();
    await appendEvents(redis, stream, [makeEvent(), makeEvent()]);
    const held = await readOnce(me);
    expect(held).toHaveLength(2);
    const [a, b] = held;
    // Two deliveries of `a` ended with an unknown outcome (stamped 12345, then 67890); `b` only failed.
    await me.recordTransientFailure([a, b], [a], 12_345);
    await me.recordTransientFailure([a], [a], 67_890);
    await waitFor(async () => (await pendingRow(a.id)).idle >= 60, 5_000);
    const page = await me.claimIdlePage({ partition: 0, stream }, '-', () => false);
    const byId = new Map(page.entries.map((e) => [e.id, e]));
    expect(byId.get(a.id)).toMatchObject({ transientFailures: 2, uncertainWrites: [12_345, 67_890] });
    expect(byId.get(b.id)).toMatchObject({ transientFailures: 1 });
    expect(byId.get(b.id)!.uncertainWrites).toBeUndefined();
    // The same write recorded twice is kept once; the oldest 16 are kept, later ones dropped.
    await me.recordTransientFailure([b], [b], 5);
    await me.recordTransientFailure([b], [b], 5);
    for (let t = 6; t < 30; t++) await me.recordTransientFailure([b], [b], t);
    const kept = (await redis.hget(`${stream}:transient-failures`, `${b.id}:w`))!.split(',').map(Number);
    expect(kept).toEqual(Array.from({ length: 16 }, (_, i) => 5 + i));
    // One delivery takes the record over; a second (overlapping) one finds it gone.
    expect((await me.takeUncertainWrites([byId.get(b.id)!])).map((e) => e.id)).toEqual([b.id]);
    expect(await me.takeUncertainWrites([byId.get(b.id)!])).toEqual([]);

    const failures = `${stream}:transient-failures`;
    await me.ack([byId.get(a.id)!]);
    expect(await redis.hmget(failures, a.id, `${a.id}:w`)).toEqual([null, null]);
    // An entry acked by someone else leaves its fields behind until the trim point passes it.
    await me.recordTransientFailure([b], [b], 1);
    await (me as unknown as { forgetTransientBelow(p: number, minId: string): Promise<void> }).forgetTransientBelow(0, '99999999999999-0');
    expect(await redis.hmget(failures, b.id, `${b.id}:w`)).toEqual([null, null]);
  });

  it("keeps each consumer group's transient failures and uncertain writes apart (two groups on one stream)", async () => {
    // Groups created at the end of the stream: they see only the entry appended below.
    for (const g of ['alpha', 'beta']) await redis.xgroup('CREATE', stream, g, '$');
    const alpha = groupAs('worker-e', 'alpha');
    const beta = groupAs('worker-f', 'beta');
    await appendEvents(redis, stream, [makeEvent()]);
    const [mine] = await readOnce(alpha);
    const [theirs] = await readOnce(beta);
    expect(theirs.id).toBe(mine.id);
    await beta.recordTransientFailure([theirs], [theirs], 777);
    // alpha neither sees beta's count nor can take over beta's record; its ack leaves them alone.
    expect(await alpha.takeUncertainWrites([{ ...mine, uncertainWrites: [777] }])).toEqual([]);
    await alpha.ack([{ ...mine, transientFailures: 1, uncertainWrites: [777] }]);
    expect(await redis.hmget(`${stream}:transient-failures:beta`, theirs.id, `${theirs.id}:w`)).toEqual(['1', '777']);
    expect(await redis.exists(`${stream}:transient-failures:alpha`)).toBe(0);
    expect((await beta.takeUncertainWrites([theirs])).map((e) => e.id)).toEqual([theirs.id]);
    await beta.ack([{ ...theirs, transientFailures: 1 }]);
    expect(await redis.exists(`${stream}:transient-failures:beta`)).toBe(0);
    for (const g of ['alpha', 'beta']) await redis.xgroup('DESTROY', stream, g);
    // The default group has the entry too: take it out of the way of the next test.
    const main = groupAs('worker-g');
    await main.ack(await readOnce(main));
  });

  it('never takes back an entry another consumer has meanwhile reclaimed', async () => {
    const me = groupAs('worker-c');
    await appendEvents(redis, stream, [makeEvent(), makeEvent()]);
    const reader = new Redis(env.REDIS_URL);
    try {
      const held = await me.read(reader);
      expect(held).toHaveLength(2);
      // worker-d took the first one over (as after a long stall of worker-c).
      expect(await reclaimAs('worker-d', 0, [held[0].id])).toEqual([held[0].id]);
      const before = await pendingRow(held[0].id);

      expect(await me.touch(held)).toBe(1);
      expect(await pendingRow(held[0].id)).toMatchObject({ owner: 'worker-d', deliveries: before.deliveries });
      expect(await pendingRow(held[1].id)).toMatchObject({ owner: 'worker-c', deliveries: 1 });
    } finally {
      reader.disconnect();
    }
  });
});

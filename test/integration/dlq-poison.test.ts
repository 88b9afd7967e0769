import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import type { Collection } from 'mongodb';
import type { DlqDocument } from '../../src/dlq/dlq-entry';
import { DLQ_COLLECTION } from '../../src/events/event.types';
import { encodeStreamEntry } from '../../src/events/stream-entry';
import { WorkerMetrics } from '../../src/processing/worker-metrics';
import { WorkerSettings } from '../../src/processing/worker-settings';
import { waitFor } from '../support/child-process';
import { recordRollups, recordShardFinds, usesIn } from '../support/query-recorder';
import { appendEvents, appendRaw, makeEvent, pendingCount, ShardView, storedDocument } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv } from '../support/test-env';

/**
 * Poison entries go to `events_dlq` (shard 0) with their raw fields and the reason, and are
 * acked; the good events around them are stored as usual.
 */
describe('processing: poison entries are dead-lettered', () => {
  const env = testEnv({
    redisDb: 5,
    overrides: { ROLE: 'worker', BATCH_TIMEOUT_MS: '50', CLAIM_IDLE_MS: '300', MAX_DELIVERIES: '3' },
  });
  const stream = env.STREAM_KEY;
  const group = env.CONSUMER_GROUP;
  let redis: Redis;
  let shards: ShardView;
  let dlq: Collection<DlqDocument>;
  let app: NestFastifyApplication;
  let rolledUp: string[] = [];

  const drained = async () => (await pendingCount(redis, stream, group)) === 0;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    dlq = shards.dbs[0].collection<DlqDocument>(DLQ_COLLECTION);
    app = await startTestApp(env);
    rolledUp = recordRollups(app);
  });

  afterAll(async () => {
    await app?.close();
    await redis.del(stream, `${stream}:transient-failures`);
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('unparseable, invalid and server-refused entries: DLQ with reason; the rest of the batch is stored', async () => {
    const good = Array.from({ length: 20 }, () => makeEvent());
    const nested = makeEvent({ payload: { matrix: [[1, 2], [3, 4]] } });
    const badTime = makeEvent({ timestamp: 'soon' });
    await appendEvents(redis, stream, good.slice(0, 10));
    const truncatedJson = ['e', '{"eventId":"half', 'k', '', 'r', '1'];
    const noEventField = ['something', 'else'];
    const rawIds = [await appendRaw(redis, stream, truncatedJson), await appendRaw(redis, stream, noEventField)];
    await appendEvents(redis, stream, [nested, badTime]);
    await appendEvents(redis, stream, good.slice(10));

    await waitFor(async () => (await dlq.countDocuments({})) === 4 && (await drained()) && (await shards.total()) === 20, 20_000);

    const byReason = (reason: string) => dlq.find({ reason: reason as DlqDocument['reason'] }).sort({ entryId: 1 }).toArray();
    const unparseable = await byReason('unparseable');
    expect(unparseable.map((d) => d.entryId)).toEqual(rawIds);
    expect(unparseable.map((d) => d.raw)).toEqual([truncatedJson, noEventField]);
    expect(unparseable[0].error.message).toMatch(/not valid JSON/);
    expect(unparseable[1].error.message).toMatch(/no event field/);

    const [rejected] = await byReason('rejected');
    // FerretDB v1 stores no arrays inside arrays: the server refuses the document (code 2).
    expect(rejected).toMatchObject({ eventId: nested.eventId, userId: nested.userId, error: { code: 2 } });
    expect(rejected.error.message).toMatch(/invalid value/);

    const [invalid] = await byReason('invalid');
    expect(invalid).toMatchObject({ eventId: badTime.eventId, error: { message: 'timestamp is not a valid date-time' } });

    for (const d of [...unparseable, rejected, invalid]) {
      expect(d).toMatchObject({ stream, partition: 0, attempts: 1, consumer: app.get(WorkerSettings).consumer, truncated: false });
      expect(d._id).toBe(`0:${d.entryId}`);
      expect(d.firstSeenAt).toBeInstanceOf(Date);
      expect(d.lastSeenAt.getTime()).toBeGreaterThanOrEqual(d.firstSeenAt.getTime());
    }
    const where = await shards.locate([...good, nested, badTime].map((e) => e.eventId));
    for (const e of good) expect(where.get(e.eventId)).toEqual([shards.shardOf(e.userId)]);
    expect(where.get(nested.eventId)).toEqual([]);
    expect(where.get(badTime.eventId)).toEqual([]);
    expect(app.get(WorkerMetrics).dlq).toBe(4);
  });

  it('a whole insert refused for one document with an unknown code (FerretDB: NUL → SQLSTATE 22P05) stores the rest; only the culprit is dead-lettered', async () => {
    // One user, one shard, one batch: FerretDB stores the documents before the culprit, then
    // fails the whole command with code 1 and no per-document errors.
    const good = Array.from({ length: 10 }, () => makeEvent({ userId: 'nul-user' }));
    const culprit = makeEvent({ userId: 'nul-user', payload: { note: 'before\u0000after' } });
    await appendEvents(redis, stream, [...good.slice(0, 5), culprit, ...good.slice(5)]);
    const events = shards.events(shards.shardOf('nul-user'));
    await waitFor(
      async () => (await drained()) && (await dlq.countDocuments({ eventId: culprit.eventId })) === 1 && (await events.countDocuments({ userId: 'nul-user' })) === 10,
      20_000,
    );
    const dead = await dlq.findOne({ eventId: culprit.eventId });
    expect(dead).toMatchObject({ reason: 'rejected', error: { code: 1 } });
    expect(dead!.error.message).toMatch(/22P05/);
    // The documents the failed command had stored count once in the rollups, like the others.
    const counted = rolledUp.filter((id) => good.some((g) => g.eventId === id));
    expect(counted.sort()).toEqual(good.map((g) => g.eventId).sort());

    // Alone in its batch, the culprit is found by a probe write that succeeds on the same shard.
    const lone = makeEvent({ userId: 'nul-user', payload: { note: 'x\u0000' } });
    await appendEvents(redis, stream, [lone]);
    await waitFor(async () => (await drained()) && (await dlq.countDocuments({ eventId: lone.eventId })) === 1, 20_000);
    expect(await dlq.findOne({ eventId: lone.eventId })).toMatchObject({ reason: 'rejected', error: { code: 1 } });
    expect(await events.countDocuments({ _id: lone.eventId })).toBe(0);
  });

  it('a document refused by another unique index is dead-lettered, not taken for a duplicate', async () => {
    const first = makeEvent({ userId: 'clash-user', sessionId: 'same-session' });
    const second = makeEvent({ userId: 'clash-user', sessionId: 'same-session' });
    const events = shards.events(shards.shardOf('clash-user'));
    await events.createIndex({ sessionId: 1 }, { unique: true, name: 'operator_mistake' });
    const recorder = recordShardFinds(app);
    try {
      await appendEvents(redis, stream, [first]);
      await waitFor(async () => (await drained()) && (await events.countDocuments({ _id: first.eventId })) === 1, 20_000);
      await appendEvents(redis, stream, [second]);
      await waitFor(async () => (await drained()) && (await dlq.countDocuments({ eventId: second.eventId })) === 1, 20_000);
    } finally {
      recorder.restore();
      await events.dropIndex('operator_mistake');
    }
    // The worker saw the other unique index and looked the _id up — by equality, never with $in.
    const lookups = recorder.finds.filter((f) => f.collection === 'events');
    expect(lookups).toEqual([{ collection: 'events', filter: { _id: second.eventId } }]);
    expect(lookups.some((f) => usesIn(f.filter))).toBe(false);
    const dead = await dlq.findOne({ eventId: second.eventId });
    expect(dead).toMatchObject({ reason: 'rejected', error: { code: 11000, message: 'duplicate key on a unique index other than _id' } });
    expect(await events.countDocuments({ _id: second.eventId })).toBe(0);
  });

  /**
   * Appends the event and delivers it to a "crashing" consumer atomically (so the live worker
   * cannot read it first), then marks it as already delivered 5 times; returns the entry id.
   */
  const appendOverDelivered = async (event: ReturnType<typeof makeEvent>): Promise<string> => {
    const res = await redis
      .multi()
      .xadd(stream, '*', ...encodeStreamEntry({ event, apiKeyId: null, receivedAt: Date.now() }))
      .call('XREADGROUP', 'GROUP', group, 'crashing-consumer', 'COUNT', 10, 'STREAMS', stream, '>')
      .exec();
    const entryId = res![0][1] as string;
    await redis.call('XCLAIM', stream, group, 'crashing-consumer', 0, entryId, 'RETRYCOUNT', 5);
    return entryId;
  };

  it('an entry over MAX_DELIVERIES whose document an earlier delivery stored is acked as a duplicate, not dead-lettered', async () => {
    const event = makeEvent();
    const events = shards.events(shards.shardOf(event.userId));
    await events.insertOne(storedDocument(event));
    const duplicatesBefore = app.get(WorkerMetrics).duplicates;
    const entryId = await appendOverDelivered(event);

    await waitFor(async () => (await drained()) && app.get(WorkerMetrics).duplicates > duplicatesBefore, 20_000);
    expect(await dlq.countDocuments({ entryId })).toBe(0);
    expect(await events.countDocuments({ _id: event.eventId })).toBe(1);
  });

  it('an entry delivered more than MAX_DELIVERIES times is dead-lettered without being written', async () => {
    const event = makeEvent();
    const entryId = await appendOverDelivered(event);

    await waitFor(async () => (await drained()) && (await dlq.countDocuments({ entryId })) === 1, 20_000);
    const dead = await dlq.findOne({ entryId });
    expect(dead).toMatchObject({ reason: 'max-deliveries', attempts: 6, eventId: event.eventId });
    expect(dead!.error.message).toMatch(/delivered 6 times .*MAX_DELIVERIES=3/);
    expect((await shards.locate([event.eventId])).get(event.eventId)).toEqual([]);
  });
});

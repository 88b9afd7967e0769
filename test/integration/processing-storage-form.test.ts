import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { MongoServerError } from 'mongodb';
import { DLQ_COLLECTION } from '../../src/events/event.types';
import { unescapeFieldNames } from '../../src/events/field-names';
import { waitFor } from '../support/child-process';
import { appendEvents, makeEvent, pendingCount, ShardView } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv } from '../support/test-env';

/**
 * Field names with `$` and `.` (and NUL, and the escape characters themselves) in payload and
 * metadata: what FerretDB v1.24 does with them raw, and the storage form the worker uses instead.
 */
describe('processing: storage form of payload/metadata field names', () => {
  const env = testEnv({ redisDb: 4, overrides: { ROLE: 'worker', BATCH_TIMEOUT_MS: '50' } });
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
    await redis.del(env.STREAM_KEY, `${env.STREAM_KEY}:transient-failures`);
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('FerretDB v1.24 refuses raw names starting with $ or containing . (why the storage form exists)', async () => {
    const probe = shards.dbs[0].collection('field_name_probe');
    for (const payload of [{ $set: 1 }, { 'a.b': 1 }, { ok: { 'deep.er': 1 } }]) {
      const err = await probe.insertOne({ _id: `p-${Object.keys(payload)[0]}` as never, payload }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MongoServerError);
      expect((err as MongoServerError).code).toBe(2);
    }
    // `$` inside a name (not first) is accepted as is.
    await expect(probe.insertOne({ _id: 'inner-dollar' as never, payload: { a$b: 1 } })).resolves.toBeDefined();
  });

  it('stores any field name reversibly and nothing lands in the DLQ', async () => {
    const payload = JSON.parse(
      JSON.stringify({
        $set: { 'a.b': 1, 'x.$y': [{ '$in': ['v.w', '$z'] }] },
        'price.usd': 9.99,
        'nul\u0000key': true,
        '\uFF04literal\uFF0E': 'fullwidth already',
        '\uFF05': 'escape char',
        plain: { nested: { ok: 1 } },
        '': 'empty name',
      }),
    ) as Record<string, unknown>;
    // A __proto__ field as JSON.parse produces it (own property, not a prototype).
    const withProto = JSON.parse('{"__proto__": {"isAdmin": true}, "constructor": {"prototype.x": 1}}') as Record<string, unknown>;
    const events = [makeEvent({ payload, metadata: { 'utm.source': 'mail', $campaign: 'x' } }), makeEvent({ payload: withProto })];
    await appendEvents(redis, env.STREAM_KEY, events);

    await waitFor(async () => (await shards.total()) === 2 && (await pendingCount(redis, env.STREAM_KEY, env.CONSUMER_GROUP)) === 0, 20_000);
    for (const e of events) {
      const stored = await shards.events(shards.shardOf(e.userId)).findOne({ _id: e.eventId });
      expect(stored).not.toBeNull();
      const names = JSON.stringify(stored!.payload).match(/"([^"\\]|\\.)*":/g) ?? [];
      for (const n of names) expect(n).not.toMatch(/^"\$|\./);
      expect(JSON.stringify(unescapeFieldNames(stored!.payload))).toBe(JSON.stringify(e.payload));
      if (e.metadata) expect(unescapeFieldNames(stored!.metadata)).toEqual(e.metadata);
    }
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(await shards.dbs[0].collection(DLQ_COLLECTION).countDocuments({})).toBe(0);
  });
});

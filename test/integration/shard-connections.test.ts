import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { MongoClient } from 'mongodb';
import { MongoShards } from '../../src/mongo/mongo-shards';
import { ShardRouter } from '../../src/mongo/shard-router';
import { startTestApp } from '../support/test-app';
import { TEST_MONGO_HOSTS, testEnv, uniqueSuffix } from '../support/test-env';

/** Writes through each named connection land on the server the router names, and only there. */
describe('named shard connections', () => {
  const db = `evp_shards_${uniqueSuffix()}`;
  let app: NestFastifyApplication;
  const direct: MongoClient[] = [];

  beforeAll(async () => {
    app = await startTestApp(
      testEnv({ redisDb: 1, overrides: { ROLE: 'worker', MONGO_SHARD_URIS: TEST_MONGO_HOSTS.map((h) => `mongodb://${h}/${db}`).join(',') } }),
    );
    for (const h of TEST_MONGO_HOSTS) direct.push(await MongoClient.connect(`mongodb://${h}`));
  });

  afterAll(async () => {
    for (const c of direct) {
      await c.db(db).dropDatabase().catch(() => undefined);
      await c.close();
    }
    await app?.close();
  });

  it('has one named connection per URI, each to its own server', () => {
    const shards = app.get(MongoShards);
    expect(shards.all.map((s) => s.name)).toEqual(['mongo-shard-0', 'mongo-shard-1', 'mongo-shard-2']);
    expect(shards.all.map((s) => `${s.connection.host}:${s.connection.port}`)).toEqual(TEST_MONGO_HOSTS);
  });

  it('stores each user on the routed shard only', async () => {
    const router = app.get(ShardRouter);
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    for (const userId of users) {
      await router.shardFor(userId).connection.db!.collection('probe').insertOne({ _id: userId as never, userId });
    }
    for (const userId of users) {
      const found = await Promise.all(direct.map((c) => c.db(db).collection('probe').countDocuments({ _id: userId as never })));
      const expected = [0, 0, 0];
      expected[router.indexFor(userId)] = 1;
      expect(found).toEqual(expected);
    }
    // 30 users over 3 shards: every shard got some (the router is not degenerate).
    const perShard = await Promise.all(direct.map((c) => c.db(db).collection('probe').countDocuments({})));
    expect(perShard.every((n) => n > 0)).toBe(true);
  });
});

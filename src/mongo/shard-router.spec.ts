import type { Connection } from 'mongoose';
import { MongoShards } from './mongo-shards';
import { ShardRouter } from './shard-router';

const fakeConnections = (n: number) => Array.from({ length: n }, () => ({}) as Connection);

describe('ShardRouter', () => {
  it('routes every user of 100k to one of 3 shards, each with 33% ± 2%', () => {
    const router = new ShardRouter(new MongoShards(fakeConnections(3)));
    const counts = [0, 0, 0];
    for (let i = 0; i < 100_000; i++) counts[router.indexFor(`u_${i}@example.com`)]++;
    expect(counts.reduce((a, b) => a + b)).toBe(100_000);
    for (const c of counts) expect(Math.abs(c / 100_000 - 1 / 3)).toBeLessThan(0.02);
  });

  it('is stable: a fresh router (as after a restart) gives the same answers', () => {
    const a = new ShardRouter(new MongoShards(fakeConnections(3)));
    const b = new ShardRouter(new MongoShards(fakeConnections(3)));
    for (let i = 0; i < 1_000; i++) expect(b.indexFor(`user-${i}`)).toBe(a.indexFor(`user-${i}`));
    expect(a.shardFor('alice')).toMatchObject({ index: 0, name: 'mongo-shard-0' });
  });

  it('treats one URI (a mongos) as a one-shard configuration', () => {
    const router = new ShardRouter(new MongoShards(fakeConnections(1)));
    expect(new Set(['a', 'b', 'c', 'd'].map((u) => router.indexFor(u)))).toEqual(new Set([0]));
  });
});

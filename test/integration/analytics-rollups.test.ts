import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { Connection } from 'mongoose';
import { AnalyticsCache } from '../../src/analytics/analytics-cache';
import { AnalyticsService } from '../../src/analytics/analytics.service';
import { RollupReader } from '../../src/analytics/rollup.reader';
import { decodeUserActivity, encodeUserActivity, groupIntoBuckets } from '../../src/analytics/rollups/rollup-batch';
import { RedisRollupWriter } from '../../src/analytics/rollups/redis-rollup.writer';
import { hasUserCounts } from '../../src/analytics/rollups/rollup-granularity';
import { UserEventsReader } from '../../src/analytics/user-events.reader';
import { toErrorResponse } from '../../src/common/http/error-mapping';
import type { StoredEventDocument } from '../../src/events/event.types';
import { MongoShards } from '../../src/mongo/mongo-shards';
import { ShardRouter } from '../../src/mongo/shard-router';
import { RedisKeys } from '../../src/redis/redis-keys';
import { freePort, waitFor } from '../support/child-process';
import { TEST_REDIS_BASE } from '../support/test-env';

/**
 * The rollup writer and readers against real Redis: a retried apply counts once, ties in top
 * users go to the smaller userId, and a Redis that is down or hangs makes a query fail as 503
 * (a private redis-server that the test kills and pauses; the shared one is never touched).
 * Redis DB 9 belongs to this file (shared with analytics-shards.test.ts, which flushes it first).
 */
const REDIS_DB = 9;
const connectionOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1_000, retryStrategy: () => 200 };

/** The analytics services wired by hand around one Redis client (no shard is read here). */
function analytics(redis: Redis) {
  const keys = new RedisKeys('unused', 1);
  const shards = new MongoShards([{}, {}, {}] as Connection[]);
  const service = new AnalyticsService(new RollupReader(redis, keys, shards), new UserEventsReader(new ShardRouter(shards)), new AnalyticsCache(redis, keys));
  return { keys, shards, service, writer: new RedisRollupWriter(redis, keys) };
}

let seq = 0;
const doc = (userId: string, eventType: string, at: number, sessionId = `${userId}-s`): StoredEventDocument => ({
  _id: `r-${process.pid}-${++seq}`,
  eventId: `r-${process.pid}-${seq}`,
  userId,
  eventType,
  sessionId,
  timestamp: new Date(at),
  priority: 1,
  receivedAt: new Date(),
  processedAt: new Date(),
  apiKeyId: null,
});

describe('rollups on the shared Redis', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(`${TEST_REDIS_BASE}/${REDIS_DB}`);
    await redis.flushdb();
  });
  afterAll(() => redis.disconnect());

  it('a retried apply with the same documents counts once; new documents add up', async () => {
    const { service, writer, shards } = analytics(redis);
    const t = Date.now() - 20 * 60_000;
    const batch = [doc('ann', 'view', t), doc('ann', 'buy', t + 1_000), doc('bo', 'view', t + 2_000)];
    await writer.apply(shards.get(1), batch);
    await writer.apply(shards.get(1), batch); // e.g. the worker retried after a lost reply
    await writer.apply(shards.get(1), [...batch].reverse()); // same set, other order
    await writer.apply(shards.get(2), [doc('cy', 'view', t + 3_000)]);
    const from = new Date(t - 60_000).toISOString();
    const { value } = await service.metrics({ from, to: new Date(t + 60_000).toISOString() });
    expect(value.totalEvents).toBe(4);
    expect(value.eventsByType).toEqual([
      { eventType: 'view', count: 3, percentage: 75 },
      { eventType: 'buy', count: 1, percentage: 25 },
    ]);
    expect(value.topUsers[0]).toEqual({ userId: 'ann', eventCount: 2, lastEventAt: new Date(t + 1_000).toISOString(), eventTypes: ['buy', 'view'] });
    expect(value.uniqueUsers).toBe(3);
    expect(value.uniqueSessions).toBe(3);
  });

  it('one apply writes exactly what plain commands would (counts, users, activity merges, HyperLogLogs, expiry)', async () => {
    const { writer, keys } = analytics(redis);
    const now = Date.now();
    const t = now - 90 * 60_000; // spans two hours and several minutes
    let n = 0;
    const ev = (userId: string, type: string, session: string) => doc(userId, type, t + (n++ % 120) * 37_000, session);
    // Repeat users across batches (the merge path), several types, buckets with more than 500
    // sessions of one type and more than 500 users (sent as several sections of at most 500).
    const batches = [
      Array.from({ length: 700 }, (_, i) => ev(`u${i % 40}`, ['a.view', 'b-click', 'c:buy'][i % 3], `s${i}`)),
      Array.from({ length: 120 }, (_, i) => ev(`u${i % 55}`, ['a.view', 'd_new'][i % 2], `s${i % 90}`)),
      Array.from({ length: 1_300 }, (_, i) => ev(`w${i % 1_100}`, i % 10 === 0 ? 'b-click' : 'a.view', `t${i}`)),
      [ev('solo', 'a.view', 'solo-s')],
    ];
    const nowSeconds = Math.floor(now / 1000);

    const dump = async () => {
      const out: Record<string, unknown> = {};
      for (const key of (await redis.keys('analytics:{rollup}:*')).sort()) {
        if (key.startsWith(keys.analyticsApplied(''))) continue; // batch markers: the writer's own
        const type = await redis.type(key);
        const expireAt = await redis.call('EXPIRETIME', key);
        if (type === 'hash') {
          const h = await redis.hgetall(key);
          // Activity values compare as decoded maps (the order of types inside is not meaningful).
          out[key] = { expireAt, h: Object.fromEntries(Object.entries(h).map(([f, v]) => [f, v.includes('@') ? Object.fromEntries(decodeUserActivity(v)) : v])) };
        } else if (type === 'zset') {
          out[key] = { expireAt, z: await redis.zrange(key, 0, -1, 'WITHSCORES') };
        } else {
          out[key] = { expireAt, hll: await redis.pfcount(key) };
        }
      }
      return out;
    };

    await redis.flushdb();
    for (const b of batches) await writer.apply({ index: 2 } as never, b);
    const viaScript = await dump();

    // The same flushes as plain commands, from the same in-memory grouping.
    await redis.flushdb();
    for (const b of batches) {
      for (const d of groupIntoBuckets(b, nowSeconds)) {
        const { g, bucket, expireAt } = d;
        const c = keys.analyticsCounts(2, g, bucket);
        const u = keys.analyticsUserCounts(2, g, bucket);
        const ud = keys.analyticsUserDetails(2, g, bucket);
        for (const [type, count] of d.counts) await redis.hincrby(c, type, count);
        for (const [user, a] of d.users) {
          if (hasUserCounts(g)) await redis.zincrby(u, a.count, user);
          const cur = await redis.hget(ud, user);
          const merged = decodeUserActivity(cur ?? '');
          decodeUserActivity(encodeUserActivity(a.types), merged);
          await redis.hset(ud, user, encodeUserActivity(merged));
        }
        const hu = keys.analyticsUniques('users', g, bucket);
        const hs = keys.analyticsUniques('sessions', g, bucket);
        await redis.pfadd(hu, ...d.users.keys());
        await redis.pfadd(hs, ...new Set([...d.typeSessionIds.values()].flatMap((s) => [...s])));
        for (const k of [c, ...(hasUserCounts(g) ? [u] : []), ud, hu, hs]) await redis.expireat(k, expireAt);
        for (const [type, sessions] of d.typeSessionIds) {
          const k = keys.analyticsUniques('sessions', g, bucket, type);
          await redis.pfadd(k, ...sessions);
          await redis.expireat(k, expireAt);
        }
      }
    }
    const viaCommands = await dump();
    expect(Object.keys(viaScript).length).toBeGreaterThan(20);
    expect(viaScript).toEqual(viaCommands);
    await redis.flushdb();
  });

  it('breaks count ties by userId ascending, across shards, keeping exactly k', async () => {
    const { service, writer, shards } = analytics(redis);
    const t = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3 * 86_400_000 + 7_200_000; // 3 days ago, 02:00
    // 14 users with 2 events each on various shards, one with 3: the top 10 is the 3-event user and
    // then the 9 smallest ids among the tied ones, whatever shard they were written to.
    const ids = ['m', 'b', 'x', 'a', 'k', 'c', 'z', 'd', 'y', 'e', 'w', 'f', 'v', 'g'];
    for (const [i, id] of ids.entries()) await writer.apply(shards.get(i % 3), [doc(id, 'view', t + i), doc(id, 'view', t + 100 + i)]);
    await writer.apply(shards.get(0), [doc('zz', 'view', t), doc('zz', 'view', t + 1), doc('zz', 'view', t + 2)]);
    const { value } = await service.metrics({ from: new Date(t).toISOString(), to: new Date(t + 3_600_000).toISOString() });
    expect(value.topUsers.map((u) => [u.userId, u.eventCount])).toEqual([
      ['zz', 3],
      ...['a', 'b', 'c', 'd', 'e', 'f', 'g', 'k', 'm'].map((id) => [id, 2]),
    ]);
    const byType = await service.metrics({ from: new Date(t).toISOString(), to: new Date(t + 3_600_000).toISOString(), eventType: 'view' });
    expect(byType.value.topUsers.map((u) => u.userId)).toEqual(value.topUsers.map((u) => u.userId));
  });
});

describe('Redis down or hanging → 503', () => {
  let proc: ChildProcess | undefined;
  let port: number;
  let dir: string;
  let redis: Redis;

  const start = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitFor(async () => (await redis.ping().catch(() => '')) === 'PONG', 10_000);
  };

  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(path.join(tmpdir(), 'evp-analytics-redis-'));
    redis = new Redis(`redis://127.0.0.1:${port}/0`, { ...connectionOptions, lazyConnect: true });
    redis.on('error', () => undefined);
    redis.connect().catch(() => undefined);
    await start();
  });
  afterAll(async () => {
    redis.disconnect();
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const expect503 = async (work: Promise<unknown>): Promise<void> => {
    const err = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    const res = toErrorResponse(err);
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
  };

  it('answers while up, 503 while killed or paused, answers again after', async () => {
    const { service, writer, shards } = analytics(redis);
    const t = Date.now() - 5 * 60_000;
    await writer.apply(shards.get(0), [doc('ann', 'view', t)]);
    expect((await service.metrics({ timeRange: '15m' })).value.totalEvents).toBe(1);

    proc!.kill('SIGSTOP'); // hangs: commands time out
    try {
      await expect503(service.metrics({ timeRange: '1h' }));
      await expect503(service.timeseries({ interval: 'minute' }));
    } finally {
      proc!.kill('SIGCONT');
    }

    proc!.kill('SIGKILL');
    await once(proc!, 'exit');
    await expect503(service.metrics({ timeRange: '24h' }));

    await start();
    await writer.apply(shards.get(0), [doc('ann', 'view', t)]);
    expect((await service.metrics({ timeRange: '7d' })).value.totalEvents).toBe(1);
  }, 60_000);
});

import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { ConsumerGroup, TRIM_SCRIPT } from '../../src/processing/stream/consumer-group';
import { waitFor } from '../support/child-process';
import { appendEvents, makeEvent, pendingCount, ShardView } from '../support/stream-fixtures';
import { startTestApp } from '../support/test-app';
import { testEnv } from '../support/test-env';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stream hygiene: the worker trims below the oldest entry any consumer group still needs. A second
 * group (`audit`, driven by the test) that lags keeps its pending and undelivered entries; once
 * it catches up, the stream length stays bounded under a steady flow.
 */
describe('processing: stream trimming', () => {
  const env = testEnv({ redisDb: 4, overrides: { ROLE: 'worker', BATCH_TIMEOUT_MS: '50' } });
  const stream = env.STREAM_KEY;
  let redis: Redis;
  let shards: ShardView;
  let app: NestFastifyApplication;
  let trimRuns = 0;

  /** Reads up to `count` new entries as the audit group; acks them if asked. */
  const audit = async (count: number, ack: boolean): Promise<string[]> => {
    const reply = (await redis.call('XREADGROUP', 'GROUP', 'audit', 'auditor', 'COUNT', count, 'STREAMS', stream, '>')) as
      | Array<[string, Array<[string, string[]]>]>
      | null;
    const ids = reply?.[0]?.[1].map(([id]) => id) ?? [];
    if (ack && ids.length > 0) await redis.xack(stream, 'audit', ...ids);
    return ids;
  };
  const auditPendingIds = async (): Promise<string[]> =>
    ((await redis.call('XPENDING', stream, 'audit', '-', '+', 100_000)) as Array<[string]>).map(([id]) => id);
  const trimsAfterNow = async (n: number) => {
    const target = trimRuns + n;
    await waitFor(async () => trimRuns >= target, 15_000);
  };

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    shards = await ShardView.connect(env.MONGO_SHARD_URIS);
    await redis.xgroup('CREATE', stream, 'audit', '0', 'MKSTREAM');
    app = await startTestApp(env);
    const group = app.get(ConsumerGroup);
    const trim = group.trim.bind(group);
    jest.spyOn(group, 'trim').mockImplementation(async () => {
      const removed = await trim();
      trimRuns += 1;
      return removed;
    });
  });

  afterAll(async () => {
    await app?.close();
    await redis.del(stream, `${stream}:transient-failures`);
    await shards.dropAll();
    await shards.close();
    redis.disconnect();
  });

  it('never trims what a lagging group has pending or not yet read', async () => {
    await appendEvents(redis, stream, Array.from({ length: 300 }, () => makeEvent()));
    const auditHolds = await audit(100, false); // delivered to audit, never acked
    await appendEvents(redis, stream, Array.from({ length: 1_200 }, () => makeEvent()));
    await waitFor(async () => (await shards.total()) === 1_500 && (await pendingCount(redis, stream, env.CONSUMER_GROUP)) === 0, 30_000);
    await trimsAfterNow(2);

    // The worker's group is done with all 1,500, but audit still needs them all.
    expect(await redis.xlen(stream)).toBe(1_500);
    expect(await auditPendingIds()).toEqual(auditHolds);
    const pendingStillThere = await redis.xrange(stream, auditHolds[0], auditHolds[auditHolds.length - 1]);
    expect(pendingStillThere.map(([id]) => id)).toEqual(auditHolds);
    expect(await audit(10_000, true)).toHaveLength(1_400);

    // Audit acks its old pending entries too: now everything may go.
    await redis.xack(stream, 'audit', ...auditHolds);
    await trimsAfterNow(2);
    // Approximate trimming (XTRIM MINID ~) removes whole radix-tree nodes: at most one
    // node's worth (stream-node-max-entries, 100 by default) may remain.
    expect(await redis.xlen(stream)).toBeLessThanOrEqual(100);
  });

  it('keeps the stream bounded under a steady flow, and the groups keep an exact lag', async () => {
    const lengths: number[] = [];
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      await appendEvents(redis, stream, Array.from({ length: 50 }, () => makeEvent()));
      sent += 50;
      await audit(10_000, true);
      lengths.push(await redis.xlen(stream));
      await sleep(200);
    }
    await waitFor(async () => (await pendingCount(redis, stream, env.CONSUMER_GROUP)) === 0, 20_000);
    // 2,000 events went through; trimming every couple of seconds keeps the stream far shorter.
    expect(Math.max(...lengths)).toBeLessThan(sent / 2);
    await audit(10_000, true);
    await trimsAfterNow(2);
    expect(await redis.xlen(stream)).toBeLessThanOrEqual(100);

    // Trimming only below what was read keeps XINFO's lag computable (ingestion's backpressure uses it).
    const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
    for (const g of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      expect(info.get('lag')).toBe(0);
    }
    expect(await shards.total()).toBe(1_500 + sent);
  });

  describe('the trim point (TRIM_SCRIPT on a scratch stream)', () => {
    const key = `${stream}:trim-point`;
    const trimPoint = async (): Promise<string> => ((await redis.eval(TRIM_SCRIPT, 1, key)) as [string, number])[0];
    const readAll = async (group: string) => redis.call('XREADGROUP', 'GROUP', group, 'c', 'COUNT', 1000, 'STREAMS', key, '>');
    beforeEach(async () => {
      await redis.del(key);
    });
    afterAll(async () => {
      await redis.del(key);
    });

    it('keeps the exact oldest pending id, even with sequence numbers beyond 2^53', async () => {
      for (const id of ['5-9007199254740993', '5-9007199254740995', '5-9007199254740997']) await redis.xadd(key, id, 'f', 'v');
      await redis.xgroup('CREATE', key, 'g', '0');
      await readAll('g');
      await redis.xack(key, 'g', '5-9007199254740993');
      // As a Lua double 9007199254740995 is 9007199254740996: trimming there would drop the pending entry.
      expect(await trimPoint()).toBe('5-9007199254740995');
    });

    it('does not overflow after the largest sequence number', async () => {
      await redis.xadd(key, '123-18446744073709551615', 'f', 'v');
      await redis.xgroup('CREATE', key, 'g', '0');
      const [[, entries]] = (await readAll('g')) as Array<[string, Array<[string]>]>;
      await redis.xack(key, 'g', entries[0][0]);
      expect(await trimPoint()).toBe('123-18446744073709551615');
    });

    it('does not trim past a group rewound with XGROUP SETID while it had pending entries', async () => {
      for (let i = 1; i <= 5; i++) await redis.xadd(key, `${i}-0`, 'f', 'v');
      await redis.xgroup('CREATE', key, 'g', '0');
      await readAll('g');
      await redis.xack(key, 'g', '1-0', '2-0');
      expect(await trimPoint()).toBe('3-0'); // the oldest pending one
      await redis.xgroup('SETID', key, 'g', '1-0'); // an operator replays from 1-0
      expect(await trimPoint()).toBe('1-0');
    });

    it('takes the slowest of several groups, undelivered entries included', async () => {
      for (let i = 1; i <= 5; i++) await redis.xadd(key, `${i}-0`, 'f', 'v');
      await redis.xgroup('CREATE', key, 'fast', '0');
      await redis.xgroup('CREATE', key, 'slow', '2-0'); // has read up to 2-0 and acked it
      const [[, entries]] = (await readAll('fast')) as Array<[string, Array<[string]>]>;
      await redis.xack(key, 'fast', ...entries.map(([id]) => id));
      expect(await trimPoint()).toBe('2-0');
    });
  });
});

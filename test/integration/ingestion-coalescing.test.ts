import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import Redis from 'ioredis';
import type { AppConfig } from '../../src/config/app-config';
import { decodeStreamEntry } from '../../src/events/stream-entry';
import { AppendResult, COALESCE_MAX_REQUEST_EVENTS, MAX_COALESCED_EVENTS, RedisEventAppender } from '../../src/ingestion/event-appender';
import { EventContext, EventValidator, PreparedEvent } from '../../src/ingestion/event-validator';
import { RedisClock } from '../../src/ingestion/redis-clock';
import { INGEST_LUA } from '../../src/ingestion/scripts/ingest.lua';
import { RedisKeys } from '../../src/redis/redis-keys';
import { freePort, waitFor } from '../support/child-process';
import { uniqueSuffix } from '../support/test-env';

/**
 * Small requests (single events, small batches) that reach the appender in one turn of the event
 * loop share one ingest script call (per partition, API key and receive second). A private
 * redis-server, so the script call counts in INFO commandstats are this test's alone.
 */
describe('coalesced appends of small requests (private redis-server)', () => {
  let server: ChildProcess;
  let redis: Redis;
  let inspect: Redis;
  const validator = new EventValidator();
  const run = uniqueSuffix();
  let seq = 0;
  const second = Math.floor(Date.now() / 1000) * 1000;

  const appender = (streamKey: string, partitions = 1): RedisEventAppender =>
    new RedisEventAppender(redis, new RedisKeys(streamKey, partitions), { DEDUP_TTL_SECONDS: 600 } as AppConfig, new RedisClock());
  const prepare = (over: Record<string, unknown> = {}, ctx: EventContext = { apiKeyId: 'key-a', receivedAt: second }): PreparedEvent => {
    const p = validator.prepare({ eventType: 'click', userId: 'u-1', sessionId: 's', timestamp: new Date(second).toISOString(), eventId: `c-${run}-${++seq}`, ...over }, ctx);
    if (!p.ok) throw new Error(JSON.stringify(p.details));
    return p;
  };
  /** Script calls since the last reset (ioredis sends a new script's first call on a connection as EVAL, then EVALSHA). */
  const scriptCalls = async (): Promise<number> => {
    const stats = await inspect.info('commandstats');
    const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    return calls('eval') + calls('evalsha');
  };
  const entries = async (stream: string) => (await inspect.xrange(stream, '-', '+')).map(([, fields]) => decodeStreamEntry(fields));

  beforeAll(async () => {
    const port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}/0`;
    await waitFor(async () => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 10_000);
    // The API's ingest connection options that matter here.
    redis = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
    inspect = new Redis(url);
  });
  beforeEach(async () => {
    await inspect.config('RESETSTAT');
  });
  afterAll(async () => {
    redis?.disconnect();
    inspect?.disconnect();
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
  });

  it('appends made in one turn share one call per API key and second; each event keeps its own receive time and key; a repeated eventId among them is a duplicate', async () => {
    const stream = `s-${run}-1`;
    const a = appender(stream);
    const ctxs: EventContext[] = [
      { apiKeyId: 'key-a', receivedAt: second + 10 },
      { apiKeyId: 'key-a', receivedAt: second + 20 },
      { apiKeyId: 'key-b', receivedAt: second + 30 },
      { apiKeyId: 'key-a', receivedAt: second + 40 },
      { apiKeyId: null, receivedAt: second + 50 },
      { apiKeyId: 'key-a', receivedAt: second + 1_060 }, // the next second: its own rate bucket
    ];
    const counter = async (name: string): Promise<number> => Number((await inspect.get(`metrics:${name}`)) ?? 0);
    const [ingested0, duplicates0] = [await counter('ingested'), await counter('duplicates')];
    const events = ctxs.map((ctx) => prepare({}, ctx));
    const repeat = prepare({ eventId: events[0].event.eventId }, { apiKeyId: 'key-a', receivedAt: second + 70 });
    const results = await Promise.all([...events.map((e, i) => a.append([e], 0, ctxs[i])), a.append([repeat], 0, { apiKeyId: 'key-a', receivedAt: second + 70 })]);

    expect(results.map((r) => r.statuses)).toEqual([['accepted'], ['accepted'], ['accepted'], ['accepted'], ['accepted'], ['accepted'], ['duplicate']]);
    expect(results.every((r) => r.failure === undefined)).toBe(true);
    // key-a in the first second (4 events incl. the repeat), key-b, no key, key-a in the next second.
    expect(await scriptCalls()).toBe(4);
    const stored = await entries(stream);
    expect(stored).toHaveLength(6);
    const byId = new Map(stored.map((s) => [s.event.eventId, s]));
    events.forEach((e, i) => {
      expect(byId.get(e.event.eventId)).toEqual({ event: e.event, apiKeyId: ctxs[i].apiKeyId, receivedAt: ctxs[i].receivedAt });
    });
    expect((await counter('ingested')) - ingested0).toBe(6);
    expect((await counter('duplicates')) - duplicates0).toBe(1);
    const rate = await inspect.mget(`metrics:rate:${second / 1000}`, `metrics:rate:${second / 1000 + 1}`);
    expect(rate).toEqual(['5', '1']);
  });

  it('appends in different turns are not held back for each other: each turn sends its own call', async () => {
    const stream = `s-${run}-2`;
    const a = appender(stream);
    const first = { apiKeyId: 'key-a', receivedAt: second + 1 };
    const next = { apiKeyId: 'key-a', receivedAt: second + 2 };
    const e1 = prepare({}, first);
    const e2 = prepare({}, next);
    expect((await a.append([e1], 0, first)).statuses).toEqual(['accepted']);
    expect((await a.append([e2], 0, next)).statuses).toEqual(['accepted']);
    expect(await scriptCalls()).toBe(2);
    // A call with one request keeps that request's own receive time (the entry template's).
    expect((await entries(stream)).map((e) => [e.event.eventId, e.receivedAt])).toEqual([
      [e1.event.eventId, first.receivedAt],
      [e2.event.eventId, next.receivedAt],
    ]);
  });

  it(`more than ${MAX_COALESCED_EVENTS} in one turn are split into calls of at most ${MAX_COALESCED_EVENTS}`, async () => {
    const stream = `s-${run}-3`;
    const a = appender(stream);
    const ctx = { apiKeyId: 'key-a', receivedAt: second };
    const n = MAX_COALESCED_EVENTS * 2 + 5;
    const results = await Promise.all(Array.from({ length: n }, () => a.append([prepare({}, ctx)], 0, ctx)));
    expect(results.filter((r) => r.statuses[0] === 'accepted')).toHaveLength(n);
    expect(await scriptCalls()).toBe(3);
    expect(await inspect.xlen(stream)).toBe(n);
  });

  it('with several partitions, one call per partition, each event in its partition stream', async () => {
    const stream = `s-${run}-4`;
    const keys = new RedisKeys(stream, 2);
    const a = appender(stream, 2);
    const ctx = { apiKeyId: 'key-a', receivedAt: second };
    // Users until both partitions have three each.
    const users: string[][] = [[], []];
    for (let i = 0; users[0].length < 3 || users[1].length < 3; i++) {
      const u = `user-${i}`;
      const p = keys.partitionOf(u);
      if (users[p].length < 3) users[p].push(u);
    }
    const events = [...users[0], ...users[1]].map((userId) => prepare({ userId }, ctx));
    const results = await Promise.all(events.map((e) => a.append([e], 0, ctx)));
    expect(results.map((r) => r.statuses[0])).toEqual(Array(6).fill('accepted'));
    expect(await scriptCalls()).toBe(2);
    for (const p of [0, 1]) expect((await entries(keys.stream(p))).map((e) => e.event.userId).sort()).toEqual([...users[p]].sort());
  });

  it(`small batches share the call with single events (their rejected counts add up); a batch of more than ${COALESCE_MAX_REQUEST_EVENTS} gets a call of its own`, async () => {
    const stream = `s-${run}-6`;
    const a = appender(stream);
    const ctx = { apiKeyId: 'key-a', receivedAt: second + 5 };
    const counter = async (name: string): Promise<number> => Number((await inspect.get(`metrics:${name}`)) ?? 0);
    const [ingested0, rejected0] = [await counter('ingested'), await counter('rejected')];
    const single = prepare({}, ctx);
    const small = [prepare({}, ctx), prepare({}, ctx), prepare({ eventId: single.event.eventId }, ctx)];
    const large = Array.from({ length: COALESCE_MAX_REQUEST_EVENTS + 1 }, () => prepare({}, ctx));
    const [r1, r2, r3] = await Promise.all([a.append([single], 0, ctx), a.append(small, 2, ctx), a.append(large, 1, ctx)]);
    expect(r1.statuses).toEqual(['accepted']);
    // The repeat of the single event's id, in a request of the same shared call, is a duplicate.
    expect(r2.statuses).toEqual(['accepted', 'accepted', 'duplicate']);
    expect(r3.statuses).toEqual(Array(large.length).fill('accepted'));
    expect(await scriptCalls()).toBe(2);
    expect(await inspect.xlen(stream)).toBe(3 + large.length);
    expect((await counter('ingested')) - ingested0).toBe(3 + large.length);
    expect((await counter('rejected')) - rejected0).toBe(3);
  });

  it(`a batch over partitions: a part of more than ${COALESCE_MAX_REQUEST_EVENTS} events goes alone, a small part shares; a failing partition fails only its items`, async () => {
    const stream = `s-${run}-8`;
    const keys = new RedisKeys(stream, 2);
    const a = appender(stream, 2);
    const ctx = { apiKeyId: 'key-a', receivedAt: second };
    const users: string[][] = [[], []];
    for (let i = 0; users[0].length < COALESCE_MAX_REQUEST_EVENTS + 3 || users[1].length < 3; i++) {
      const u = `mixed-${i}`;
      const p = keys.partitionOf(u);
      if (users[p].length < (p === 0 ? COALESCE_MAX_REQUEST_EVENTS + 3 : 3)) users[p].push(u);
    }
    const batch = [...users[0], ...users[1]].map((userId) => prepare({ userId }, ctx));
    const single = prepare({ userId: users[1][0] }, ctx);
    const [r, s1] = await Promise.all([a.append(batch, 0, ctx), a.append([single], 0, ctx)]);
    expect(r.statuses).toEqual(Array(batch.length).fill('accepted'));
    expect(s1.statuses).toEqual(['accepted']);
    // Partition 0's part alone; partition 1's part together with the single event.
    expect(await scriptCalls()).toBe(2);
    expect(await inspect.xlen(keys.stream(0))).toBe(users[0].length);
    expect(await inspect.xlen(keys.stream(1))).toBe(users[1].length + 1);

    // Partition 1's stream key made unusable: only its items fail, partition 0's are stored.
    await inspect.del(keys.stream(1));
    await inspect.set(keys.stream(1), 'not a stream');
    const again = [...users[0], ...users[1]].map((userId) => prepare({ userId }, ctx));
    const partial = await a.append(again, 0, ctx);
    expect(partial.statuses).toEqual([...Array(users[0].length).fill('accepted'), ...Array(users[1].length).fill('failed')]);
    expect(partial.failure?.message).toMatch(/^EVP_WRONGTYPE/);
    expect(await inspect.xlen(keys.stream(0))).toBe(2 * users[0].length);
    for (const e of again.slice(users[0].length)) expect(await inspect.exists(keys.dedup(1, e.event.eventId))).toBe(0);
  });

  it('the script refuses a receive-time position outside the entry, or on the event slot, before any write', async () => {
    const stream = `s-${run}-7`;
    const e = prepare();
    const fields = ['e', '', 'k', 'key-a', 'r', String(second)];
    for (const rslot of [7, 2, -1]) {
      const keys = [stream, 'metrics:ingested', 'metrics:duplicates', 'metrics:rejected', 'metrics:rate:x', `dedup:event:${e.event.eventId}`];
      const args = [600, 0, 0, 30, 1, fields.length, 2, rslot, ...fields, 6, e.json, second];
      await expect(inspect.eval(INGEST_LUA, keys.length, ...keys, ...args)).rejects.toThrow(/^EVP_BADARGS bad stream entry layout/);
    }
    expect(await inspect.exists(stream, `dedup:event:${e.event.eventId}`)).toBe(0);
  });

  it('a coalesced call that fails fails every request in it and writes nothing of any of them; the retries are accepted', async () => {
    const stream = `s-${run}-5`;
    const a = appender(stream);
    const ctx = { apiKeyId: 'key-a', receivedAt: second };
    // The stream's last id one below the maximum: the first XADD takes the last id, the second fails.
    await inspect.xadd(stream, '18446744073709551615-18446744073709551613', 'x', '1');
    await inspect.xdel(stream, '18446744073709551615-18446744073709551613');
    await inspect.call('XSETID', stream, '18446744073709551615-18446744073709551614');
    const events = [prepare({}, ctx), prepare({}, ctx), prepare({}, ctx)];
    const failed: AppendResult[] = await Promise.all(events.map((e) => a.append([e], 0, ctx)));
    expect(failed.map((r) => r.statuses)).toEqual([['failed'], ['failed'], ['failed']]);
    for (const r of failed) expect(r.failure?.message).toMatch(/^EVP_ROLLEDBACK/);
    expect(await scriptCalls()).toBe(1);
    expect(await inspect.xlen(stream)).toBe(0);
    for (const e of events) expect(await inspect.exists(`dedup:event:${e.event.eventId}`)).toBe(0);

    await inspect.del(stream);
    const retried = await Promise.all(events.map((e) => a.append([e], 0, ctx)));
    expect(retried.map((r) => r.statuses)).toEqual([['accepted'], ['accepted'], ['accepted']]);
    expect((await entries(stream)).map((e) => e.event.eventId)).toEqual(events.map((e) => e.event.eventId));
  });
});

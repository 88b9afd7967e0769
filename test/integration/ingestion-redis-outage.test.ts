import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { EventAppender } from '../../src/ingestion/event-appender';
import { EventValidator, PreparedEvent } from '../../src/ingestion/event-validator';
import { INGEST_REDIS } from '../../src/ingestion/ingestion.tokens';
import { SOCKET_TIMEOUT_MS } from '../../src/redis/redis-connections';
import { freePort, waitFor } from '../support/child-process';
import { startTestApp } from '../support/test-app';
import { testEnv, uniqueSuffix } from '../support/test-env';

/**
 * A private redis-server (never the shared one) that the test kills, restarts, pauses and
 * resumes. Append-only file with fsync always, so what was written before a kill is still there
 * after the restart and "no dedup key was left behind" can be checked.
 */
class PrivateRedis {
  private proc?: ChildProcess;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'evp-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir], {
      stdio: 'ignore',
    });
    await waitFor(async () => {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } finally {
        probe.disconnect();
      }
    }, 10_000);
  }

  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGKILL');
    await once(p, 'exit');
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async destroy(): Promise<void> {
    this.resume();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('ingestion when Redis goes away (private redis-server)', () => {
  let server: PrivateRedis;
  let app: NestFastifyApplication;
  let env: Record<string, string>;
  let apiKey: string;
  let inspect: Redis;
  const run = uniqueSuffix();
  let seq = 0;
  const event = (over: Record<string, unknown> = {}) => ({
    eventType: 'click',
    userId: 'outage-user',
    sessionId: 's',
    timestamp: new Date().toISOString(),
    eventId: `out-${run}-${++seq}`,
    ...over,
  });
  const post = (p: string, body: unknown) => request(app.getHttpServer()).post(p).set('x-api-key', apiKey).send(body as object);

  beforeAll(async () => {
    server = new PrivateRedis(await freePort());
    await server.start();
    env = testEnv({ redisDb: 0, overrides: { ROLE: 'api', REDIS_URL: server.url } });
    app = await startTestApp(env);
    const user = await app.get(UsersService).create({ email: `outage-${run}@example.test`, password: 'correct horse battery', role: 'OPERATOR' });
    apiKey = (await app.get(ApiKeysService).create(user.id, { name: 'outage test' })).key;
    // Reconnects by itself after the restarts below.
    inspect = new Redis(server.url, { retryStrategy: () => 100 });
  });
  afterAll(async () => {
    server?.resume();
    await app?.close();
    inspect?.disconnect();
    await server?.destroy();
  });

  it('Redis killed → 503 SERVICE_UNAVAILABLE with Retry-After, nothing kept; ingestion recovers by itself when Redis is back', async () => {
    const accepted = event();
    expect((await post('/api/v1/events', accepted)).status).toBe(202);

    await server.kill();
    const lost = event();
    for (const res of [await post('/api/v1/events', lost), await post('/api/v1/events/batch', { events: [lost, event()] })]) {
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ success: false, error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String) } });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }

    await server.start();
    // The AOF brought back what was accepted before the kill, and nothing of the refused request.
    await waitFor(async () => (await inspect.ping()) === 'PONG');
    expect(await inspect.exists(`dedup:event:${accepted.eventId}`)).toBe(1);
    expect(await inspect.exists(`dedup:event:${lost.eventId}`)).toBe(0);
    expect(await inspect.xlen(env.STREAM_KEY)).toBe(1);

    // The client's retry of the refused event is accepted once Redis answers again.
    const retried = await waitFor(async () => {
      const res = await post('/api/v1/events', lost);
      return res.status === 202 ? res : undefined;
    }, 20_000, 200);
    expect(retried.body.data).toEqual({ eventId: lost.eventId, accepted: true, duplicate: false });
    expect((await post('/api/v1/events', lost)).status).toBe(200);
    expect(await inspect.xlen(env.STREAM_KEY)).toBe(2);
  });

  it('Redis paused past the command timeout → the append fails, and the late script writes nothing (deadline); the retry is accepted', async () => {
    const appender = app.get(EventAppender);
    const validator = app.get(EventValidator);
    const prepare = (ev: Record<string, unknown>) => {
      const p = validator.prepare(ev, { apiKeyId: null, receivedAt: Date.now() });
      if (!p.ok) throw new Error('test event is invalid');
      return p as PreparedEvent;
    };
    // Let the backlog sampler see the restarted server (it also keeps the Redis clock offset).
    await waitFor(async () => (await appender.append([prepare(event())], 0, { apiKeyId: null, receivedAt: Date.now() })).failure === undefined, 20_000, 200);
    const before = await inspect.xlen(env.STREAM_KEY);
    const expiredBefore = expiredCount(await inspect.info('errorstats'));

    const ev = event();
    server.pause();
    let result;
    try {
      // The script is sent while Redis is stopped; ioredis gives up after its 2 s command timeout.
      result = await appender.append([prepare(ev)], 0, { apiKeyId: null, receivedAt: Date.now() });
    } finally {
      server.resume();
    }
    expect(result.failure).toBeDefined();
    expect(result.statuses).toEqual(['failed']);

    // Once resumed, Redis runs the queued script: past its deadline, it refuses to write.
    await waitFor(async () => expiredCount(await inspect.info('errorstats')) > expiredBefore, 10_000);
    expect(await inspect.exists(`dedup:event:${ev.eventId}`)).toBe(0);
    expect(await inspect.xlen(env.STREAM_KEY)).toBe(before);

    const retry = await appender.append([prepare(ev)], 0, { apiKeyId: null, receivedAt: Date.now() });
    expect(retry).toEqual({ statuses: ['accepted'] });
    expect(await inspect.xlen(env.STREAM_KEY)).toBe(before + 1);
  });

  it('Redis hung past the socket timeout → the connection is dropped and further requests fail at once instead of piling up; recovers', async () => {
    const client = app.get<Redis>(INGEST_REDIS);
    await waitFor(async () => ((await post('/api/v1/events', event())).status === 202 ? true : undefined), 20_000, 200);
    const batch = () => ({ events: Array.from({ length: 50 }, () => event({ payload: { pad: 'x'.repeat(2_000) } })) });
    server.pause();
    try {
      const first = await Promise.all(Array.from({ length: 8 }, () => post('/api/v1/events/batch', batch())));
      expect(first.map((r) => r.status)).toEqual(Array(8).fill(503));
      // Answered 503 after the 2 s command timeout, yet the scripts (~100 KB each) are still held.
      expect(heldCommands(client)).toBeGreaterThan(0);
      // Nothing answers: within SOCKET_TIMEOUT_MS of the first unanswered write the socket is dropped.
      await waitFor(async () => (client.status !== 'ready' ? true : undefined), SOCKET_TIMEOUT_MS + 3_000, 100);
      const held = heldCommands(client);
      // The ingest connection now refuses at once instead of sending and waiting out a timeout.
      // (Timed on the client itself: over HTTP the API key check may meanwhile wait on the other
      // connection before falling back to PostgreSQL.)
      const started = Date.now();
      await expect(client.ping()).rejects.toThrow(/writeable|closed|MaxRetriesPerRequest/i);
      expect(Date.now() - started).toBeLessThan(500);
      const later = await Promise.all(Array.from({ length: 8 }, () => post('/api/v1/events/batch', batch())));
      expect(later.map((r) => r.status)).toEqual(Array(8).fill(503));
      expect(heldCommands(client)).toBeLessThanOrEqual(held); // nothing more piles up
    } finally {
      server.resume();
    }
    await waitFor(async () => ((await post('/api/v1/events', event())).status === 202 ? true : undefined), 20_000, 200);
  });
});

/**
 * Request commands an ioredis client still holds: sent and unanswered, kept to resend after a
 * reconnect, or queued offline (its own ready check aside).
 */
function heldCommands(client: Redis): number {
  type Queue = { toArray(): Array<{ command: { name: string } }> } | null | undefined;
  const c = client as unknown as { commandQueue: Queue; prevCommandQueue: Queue; offlineQueue: Queue };
  return [c.commandQueue, c.prevCommandQueue, c.offlineQueue]
    .flatMap((q) => q?.toArray() ?? [])
    .filter((item) => item.command.name !== 'info' && item.command.name !== 'ping').length;
}

function expiredCount(errorstats: string): number {
  const m = /errorstat_EVP_EXPIRED:count=(\d+)/.exec(errorstats);
  return m ? Number(m[1]) : 0;
}

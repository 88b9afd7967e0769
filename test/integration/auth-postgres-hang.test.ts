import net from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { UsersService } from '../../src/auth/users/users.service';
import { PG_QUERY_TIMEOUT_MS } from '../../src/prisma/prisma.service';
import { freePort, waitFor } from '../support/child-process';
import { startTestApp } from '../support/test-app';
import { TEST_DATABASE_URL, testEnv, uniqueSuffix } from '../support/test-env';

/**
 * A TCP proxy in front of PostgreSQL that can freeze: open connections stay open but nothing more
 * passes either way, and new ones are accepted and never answered — a paused server or a silent
 * network drop, which neither refuses nor closes anything.
 */
class FreezingProxy {
  private server?: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private readonly held = new Set<net.Socket>();
  private frozen = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<void> {
    this.port = await freePort();
    this.server = net.createServer((client) => {
      client.on('error', () => client.destroy());
      if (this.frozen) {
        this.held.add(client); // accepted, never answered
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      this.pairs.add([client, upstream]);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  freeze(): void {
    this.frozen = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Back to normal: the frozen connections are cut (as a real recovery would), new ones pass. */
  thaw(): void {
    this.frozen = false;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    for (const client of this.held) client.destroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.thaw();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('auth when PostgreSQL stops answering on open connections', () => {
  const run = uniqueSuffix();
  const url = new URL(TEST_DATABASE_URL);
  const proxy = new FreezingProxy({ host: url.hostname, port: Number(url.port || 5432) });
  let app: NestFastifyApplication;
  const email = `pg-hang-${run}@example.test`;
  const password = 'correct horse battery';
  const login = () => request(app.getHttpServer()).post('/api/auth/login').send({ email, password });

  beforeAll(async () => {
    await proxy.listen();
    const proxied = new URL(TEST_DATABASE_URL);
    proxied.host = `127.0.0.1:${proxy.port}`;
    app = await startTestApp(testEnv({ redisDb: 0, overrides: { ROLE: 'api', DATABASE_URL: proxied.toString() } }));
    await app.get(UsersService).create({ email, password, role: 'VIEWER' });
    expect((await login()).status).toBe(200);
  });
  afterAll(async () => {
    proxy.thaw();
    await app?.close();
    await proxy.close();
  });

  it('answers 503 with Retry-After within the query timeout, never hangs or 500s (more requests than the pool holds), and recovers', async () => {
    proxy.freeze();
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 14 }, () => login()));
    const elapsed = Date.now() - started;
    expect(answers.map((r) => r.status)).toEqual(Array(14).fill(503));
    for (const r of answers) {
      expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // One query timeout, then at most one pool wait (2 s) and a second timeout for the queued ones.
    expect(elapsed).toBeLessThan(2 * PG_QUERY_TIMEOUT_MS + 4_000);
    proxy.thaw();
    await waitFor(async () => ((await login()).status === 200 ? true : undefined), 20_000, 250);
  });
});

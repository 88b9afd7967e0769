import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Controller, DynamicModule, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import supertest from 'supertest';
import type Redis from 'ioredis';
import { hashApiKey } from '../../src/auth/api-keys/api-key-secret';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { AuthModule } from '../../src/auth/auth.module';
import { CurrentPrincipal } from '../../src/auth/decorators/current-principal.decorator';
import { Roles } from '../../src/auth/decorators/roles.decorator';
import { ApiKeyOrJwtGuard } from '../../src/auth/guards/api-key-or-jwt.guard';
import { ApiKeyGuard } from '../../src/auth/guards/api-key.guard';
import { JwtAuthGuard } from '../../src/auth/guards/jwt-auth.guard';
import { RolesGuard } from '../../src/auth/guards/roles.guard';
import type { Principal } from '../../src/auth/principal';
import { UsersService } from '../../src/auth/users/users.service';
import { AllExceptionsFilter } from '../../src/common/http/all-exceptions.filter';
import { createValidationPipe } from '../../src/common/http/validation.pipe';
import { loadAppConfig } from '../../src/config/app-config';
import { AppConfigModule } from '../../src/config/app-config.module';
import { PrismaModule } from '../../src/prisma/prisma.module';
import { RedisKeys } from '../../src/redis/redis-keys';
import { RedisModule } from '../../src/redis/redis.module';
import { REDIS_CLIENT } from '../../src/redis/redis.tokens';
import { freePort, waitFor } from '../support/child-process';
import { TEST_DATABASE_URL, testEnv, uniqueSuffix } from '../support/test-env';

/**
 * The exported guards as another feature module uses them (it imports AuthModule), against real
 * PostgreSQL and Redis, including outages: PostgreSQL behind a TCP proxy this test can cut, and a
 * private redis-server it can stop. Redis DB 6 (shared Redis only for the first part).
 */
const REDIS_DB = 6;

/**
 * The auth rate limit is not under test here: these apps trust X-Forwarded-For and every request
 * of this file comes from its own made-up client address, so the per-IP counter of 127.0.0.1 in
 * DB 6 (exhausted on purpose by auth.e2e-spec.ts) is never touched.
 */
const CLIENT_IP = `198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;

type Server = Parameters<typeof supertest>[0];
/** supertest with this file's client address (see CLIENT_IP). */
const request = (server: Server) => {
  const agent = supertest(server);
  const withIp = <T extends { set(name: string, value: string): T }>(test: T): T => test.set('x-forwarded-for', CLIENT_IP);
  return {
    get: (url: string) => withIp(agent.get(url)),
    post: (url: string) => withIp(agent.post(url)),
  };
};
const PASSWORD = 'correct horse battery staple';

@Controller('guarded')
class GuardedController {
  @Get('ingest')
  @UseGuards(ApiKeyGuard)
  ingest(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }

  @Get('read')
  @UseGuards(ApiKeyOrJwtGuard, RolesGuard)
  @Roles('VIEWER')
  read(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }

  @Get('operate')
  @UseGuards(JwtAuthGuard, RolesGuard)
  @Roles('OPERATOR')
  operate(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }
}

/** A feature module like IngestionModule/AnalyticsModule: imports AuthModule, uses its guards. */
@Module({ imports: [AuthModule], controllers: [GuardedController] })
class FeatureModule {}

@Module({})
class GuardsTestModule {
  static forRoot(env: Record<string, string>): DynamicModule {
    return { module: GuardsTestModule, imports: [AppConfigModule.forRoot(loadAppConfig(env)), RedisModule, PrismaModule, FeatureModule] };
  }
}

async function startGuardsApp(env: Record<string, string>): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(GuardsTestModule.forRoot(env), new FastifyAdapter({ trustProxy: true }), {
    logger: ['error'],
    abortOnError: false,
  });
  app.useGlobalFilters(new AllExceptionsFilter());
  app.useGlobalPipes(createValidationPipe());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** TCP proxy to PostgreSQL that can be cut (refuses and resets connections) and restored. */
class CuttableProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async up(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((r) => server.close(r));
  }
}

describe('auth guards used by another module (real PostgreSQL and Redis)', () => {
  const run = uniqueSuffix();
  const email = (label: string) => `guards-${label}-${run}@example.test`;

  describe('codes and principals', () => {
    let app: NestFastifyApplication;
    let http: ReturnType<NestFastifyApplication['getHttpServer']>;
    let key: { id: string; key: string };
    let viewerKey: string;
    let operator: { id: string; token: string };
    let viewerToken: string;

    beforeAll(async () => {
      app = await startGuardsApp(testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api' } }));
      http = app.getHttpServer();
      const users = app.get(UsersService);
      const op = await users.create({ email: email('operator'), password: PASSWORD, role: 'OPERATOR' });
      const viewer = await users.create({ email: email('viewer'), password: PASSWORD, role: 'VIEWER' });
      key = await app.get(ApiKeysService).create(op.id, { name: 'guards' });
      viewerKey = (await app.get(ApiKeysService).create(viewer.id, { name: 'viewer' })).key;
      // Tokens come from the real login endpoint (AuthModule's controllers are mounted too).
      const loginAs = async (e: string) => (await request(http).post('/api/auth/login').send({ email: e, password: PASSWORD })).body.data.token as string;
      operator = { id: op.id, token: await loginAs(email('operator')) };
      viewerToken = await loginAs(email('viewer'));
    });
    afterAll(async () => {
      await app?.close();
    });

    const get = (url: string, headers: Record<string, string> = {}) => request(http).get(url).set(headers);

    it('ApiKeyGuard: 401 MISSING_API_KEY, 401 INVALID_API_KEY, else request.principal with apiKeyId', async () => {
      expect((await get('/guarded/ingest')).body.error.code).toBe('MISSING_API_KEY');
      for (const bad of ['nope', `evp_${'Z'.repeat(43)}`, `${key.key}x`, key.key.toUpperCase()]) {
        const res = await get('/guarded/ingest', { 'x-api-key': bad });
        expect([res.status, res.body.error.code]).toEqual([401, 'INVALID_API_KEY']);
      }
      // A JWT is not an API key.
      expect((await get('/guarded/ingest', { authorization: `Bearer ${operator.token}` })).body.error.code).toBe('MISSING_API_KEY');
      const ok = await get('/guarded/ingest', { 'x-api-key': key.key });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ kind: 'apiKey', userId: operator.id, role: 'OPERATOR', apiKeyId: key.id, email: email('operator') });
    });

    it('a client that had 20 unknown keys looked up gets 429 for keys PostgreSQL would have to answer, even sent at once; its valid key and other clients pass', async () => {
      const flooder = { 'x-forwarded-for': '198.19.0.7' };
      const randomKey = () => `evp_${randomBytes(32).toString('base64url')}`;
      // The flooder's valid key is seen valid first (as a producer behind the same NAT would be).
      expect((await get('/guarded/ingest', { ...flooder, 'x-api-key': key.key })).status).toBe(200);
      const flood = await Promise.all(Array.from({ length: 40 }, () => get('/guarded/ingest', { ...flooder, 'x-api-key': randomKey() })));
      const statuses = flood.map((r) => `${r.status} ${r.body.error.code}`).sort();
      expect(statuses).toEqual([...Array(20).fill('401 INVALID_API_KEY'), ...Array(20).fill('429 RATE_LIMITED')]);
      const limited = await get('/guarded/ingest', { ...flooder, 'x-api-key': randomKey() });
      expect([limited.status, limited.body.error.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await get('/guarded/read', { ...flooder, 'x-api-key': randomKey() })).status).toBe(429);
      // Its valid key keeps working once Redis no longer has it (entry expired) and PostgreSQL
      // must answer; another client has its own budget.
      await app.get<Redis>(REDIS_CLIENT).del(app.get(RedisKeys).authApiKey(hashApiKey(key.key)));
      await new Promise((r) => setTimeout(r, 1_100)); // past the in-process cache
      expect((await get('/guarded/ingest', { ...flooder, 'x-api-key': key.key })).status).toBe(200);
      expect((await get('/guarded/ingest', { 'x-api-key': randomKey() })).status).toBe(401);
    });

    it('ApiKeyOrJwtGuard + @Roles(VIEWER): a key or a JWT; neither → 401 UNAUTHORIZED', async () => {
      expect((await get('/guarded/read', { 'x-api-key': viewerKey })).body).toMatchObject({ kind: 'apiKey', role: 'VIEWER' });
      expect((await get('/guarded/read', { authorization: `Bearer ${viewerToken}` })).body).toMatchObject({ kind: 'user', role: 'VIEWER' });
      const none = await get('/guarded/read');
      expect([none.status, none.body.error.code]).toEqual([401, 'UNAUTHORIZED']);
      const badKey = await get('/guarded/read', { 'x-api-key': 'evp_bad' });
      expect([badKey.status, badKey.body.error.code]).toEqual([401, 'INVALID_API_KEY']);
    });

    it('JwtAuthGuard + @Roles(OPERATOR): 401 without a token, 403 for a VIEWER, 200 for an OPERATOR', async () => {
      expect((await get('/guarded/operate', { 'x-api-key': key.key })).body.error.code).toBe('UNAUTHORIZED');
      const viewer = await get('/guarded/operate', { authorization: `Bearer ${viewerToken}` });
      expect([viewer.status, viewer.body.error.code]).toEqual([403, 'FORBIDDEN']);
      const ok = await get('/guarded/operate', { authorization: `Bearer ${operator.token}` });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ kind: 'user', userId: operator.id, role: 'OPERATOR', email: email('operator') });
    });
  });

  describe('PostgreSQL down', () => {
    let proxy: CuttableProxy;
    let app: NestFastifyApplication;
    let http: ReturnType<NestFastifyApplication['getHttpServer']>;
    let cachedKey: string;
    let uncachedKey: string;
    let token: string;

    beforeAll(async () => {
      const target = new URL(TEST_DATABASE_URL);
      proxy = new CuttableProxy(await freePort(), { host: target.hostname, port: Number(target.port || 5432) });
      await proxy.up();
      const viaProxy = new URL(TEST_DATABASE_URL);
      viaProxy.port = String(proxy.port);
      app = await startGuardsApp(testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api', DATABASE_URL: viaProxy.toString() } }));
      http = app.getHttpServer();
      const user = await app.get(UsersService).create({ email: email('pgdown'), password: PASSWORD, role: 'OPERATOR' });
      cachedKey = (await app.get(ApiKeysService).create(user.id, { name: 'cached' })).key;
      uncachedKey = (await app.get(ApiKeysService).create(user.id, { name: 'never used' })).key;
      token = (await request(http).post('/api/auth/login').send({ email: email('pgdown'), password: PASSWORD })).body.data.token;
      // Use both credentials once: they are now cached in Redis.
      expect((await request(http).get('/guarded/ingest').set('x-api-key', cachedKey)).status).toBe(200);
      expect((await request(http).get('/guarded/operate').set('authorization', `Bearer ${token}`)).status).toBe(200);
      await proxy.down();
      // Past the in-process cache lifetime: the next checks really go to Redis.
      await new Promise((r) => setTimeout(r, 1100));
    });
    afterAll(async () => {
      await app?.close();
      await proxy?.down();
    });

    it('a key and a JWT cached in Redis keep working', async () => {
      expect((await request(http).get('/guarded/ingest').set('x-api-key', cachedKey)).status).toBe(200);
      expect((await request(http).get('/guarded/operate').set('authorization', `Bearer ${token}`)).status).toBe(200);
    });

    it('login and an uncached key answer 503 SERVICE_UNAVAILABLE with Retry-After (never 401 or 500)', async () => {
      const loginRes = await request(http).post('/api/auth/login').send({ email: email('pgdown'), password: PASSWORD });
      expect([loginRes.status, loginRes.body.error.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      expect(Number(loginRes.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      const keyRes = await request(http).get('/guarded/ingest').set('x-api-key', uncachedKey);
      expect([keyRes.status, keyRes.body.error.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      expect(keyRes.headers['retry-after']).toBeDefined();
      // A malformed key needs no lookup at all.
      expect((await request(http).get('/guarded/ingest').set('x-api-key', 'evp_short')).status).toBe(401);
    });

    it('recovers when PostgreSQL is back', async () => {
      await proxy.up();
      await waitFor(async () => (await request(http).post('/api/auth/login').send({ email: email('pgdown'), password: PASSWORD })).status === 200, 15_000, 200);
      expect((await request(http).get('/guarded/ingest').set('x-api-key', uncachedKey)).status).toBe(200);
    });
  });

  describe('Redis down (private redis-server)', () => {
    let redisServer: ChildProcess;
    let app: NestFastifyApplication;
    let http: ReturnType<NestFastifyApplication['getHttpServer']>;
    let key: string;
    let revokedKey: { id: string; key: string };

    beforeAll(async () => {
      const port = await freePort();
      redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitFor(
        () => new Promise<boolean>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
          s.on('error', () => resolve(false));
        }),
      );
      app = await startGuardsApp(testEnv({ redisDb: 0, overrides: { ROLE: 'api', REDIS_URL: `redis://127.0.0.1:${port}/0` } }));
      http = app.getHttpServer();
      const user = await app.get(UsersService).create({ email: email('redisdown'), password: PASSWORD, role: 'OPERATOR' });
      key = (await app.get(ApiKeysService).create(user.id, { name: 'k' })).key;
      revokedKey = await app.get(ApiKeysService).create(user.id, { name: 'revoked' });
      expect((await request(http).get('/guarded/ingest').set('x-api-key', key)).status).toBe(200);
      expect((await request(http).get('/guarded/ingest').set('x-api-key', revokedKey.key)).status).toBe(200);
      await app.get(ApiKeysService).revoke(revokedKey.id, 'operator');
      redisServer.kill('SIGKILL');
      await once(redisServer, 'exit');
      await new Promise((r) => setTimeout(r, 1100));
    });
    afterAll(async () => {
      await app?.close();
      if (redisServer.exitCode === null && redisServer.signalCode === null) redisServer.kill('SIGKILL');
    });

    it('API keys are checked against PostgreSQL: valid accepted, revoked refused', async () => {
      expect((await request(http).get('/guarded/ingest').set('x-api-key', key)).status).toBe(200);
      const revoked = await request(http).get('/guarded/ingest').set('x-api-key', revokedKey.key);
      expect([revoked.status, revoked.body.error.code]).toEqual([401, 'INVALID_API_KEY']);
    });

    it('login works (it needs only PostgreSQL); the auth rate limit is counted in the process meanwhile', async () => {
      const res = await request(http).post('/api/auth/login').send({ email: email('redisdown'), password: PASSWORD });
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-remaining']).toBe('99');
      // 99 more requests use up the minute; the next is refused as with Redis up.
      for (let i = 0; i < 99; i++) expect((await request(http).get('/api/auth/me')).status).toBe(401);
      const limited = await request(http).get('/api/auth/me');
      expect([limited.status, limited.body.error.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    });
  });
});

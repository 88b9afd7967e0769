import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { Client } from 'pg';
import request from 'supertest';
import { ApiKeyUsageRecorder } from '../../src/auth/credentials/api-key-usage.recorder';
import { UsersService } from '../../src/auth/users/users.service';
import { startTestApp } from '../support/test-app';
import { TEST_DATABASE_URL, testEnv, uniqueSuffix } from '../support/test-env';

/**
 * Auth endpoints against the real app (ROLE=api), real Redis (DB 6) and a private PostgreSQL
 * database migrated for this file (so "the only ADMIN" and user counts are under its control).
 * Covers contract §5 and the "bad input and attacks" list.
 */
const REDIS_DB = 6;
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PASSWORD = 'correct horse battery staple';

type Res = request.Response;

const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
function forgeJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | null, hmac = 'sha256'): string {
  const head = `${b64url(header)}.${b64url(payload)}`;
  const signature = secret === null ? '' : createHmac(hmac, secret).update(head).digest('base64url');
  return `${head}.${signature}`;
}

describe('auth endpoints (real app, Redis, PostgreSQL)', () => {
  const run = uniqueSuffix();
  const dbName = `evp_auth_e2e_${run}`;
  const databaseUrl = TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${dbName}`);
  let env: Record<string, string>;
  let app: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let redis: Redis;
  let pg: Client;
  const users: Record<'admin' | 'operator' | 'operator2' | 'viewer', { id: string; email: string; token: string }> = {} as never;

  const email = (label: string) => `${label}-${run}@example.test`;
  const login = (body: Record<string, unknown>) => request(http).post('/api/auth/login').send(body);
  const withToken = (req: request.Test, token: string) => req.set('authorization', `Bearer ${token}`);
  const me = (headers: Record<string, string>) => request(http).get('/api/auth/me').set(headers);
  const createKey = (token: string, body: Record<string, unknown>) => withToken(request(http).post('/api/auth/api-keys'), token).send(body);
  const expectError = (res: Res, status: number, code: string) => {
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
    expect(res.body.success).toBe(false);
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/);
  };
  const countUsers = async () => Number((await pg.query('SELECT count(*) FROM users')).rows[0].count);
  const countKeys = async () => Number((await pg.query('SELECT count(*) FROM api_keys')).rows[0].count);
  const resetRateLimit = async () => {
    const keys = await redis.keys('ratelimit:auth:*');
    if (keys.length > 0) await redis.del(...keys);
  };

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/db-migrate.js'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, ENV_FILE: '/nonexistent/.env' },
      stdio: 'ignore',
    });
    pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api', DATABASE_URL: databaseUrl } });
    redis = new Redis(env.REDIS_URL);
    await resetRateLimit();
    app = await startTestApp(env);
    http = app.getHttpServer();
    const service = app.get(UsersService);
    for (const [label, role] of [['admin', 'ADMIN'], ['operator', 'OPERATOR'], ['operator2', 'OPERATOR'], ['viewer', 'VIEWER']] as const) {
      const user = await service.create({ email: email(label), password: PASSWORD, role });
      const res = await login({ email: email(label), password: PASSWORD });
      expect(res.status).toBe(200);
      users[label] = { id: user.id, email: user.email, token: res.body.data.token };
    }
  });

  afterAll(async () => {
    await app?.close();
    await resetRateLimit().catch(() => undefined);
    redis?.disconnect();
    await pg?.end();
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  });

  beforeEach(resetRateLimit);

  describe('login and me', () => {
    it('logs in (HS256, 24 h) with a case-insensitive email and returns the user without secrets', async () => {
      const res = await login({ email: `  ${email('operator').toUpperCase()} `, password: PASSWORD });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        success: true,
        data: {
          token: expect.any(String),
          expiresIn: 86400,
          user: { id: users.operator.id, email: email('operator'), name: expect.any(String), role: 'OPERATOR' },
        },
      });
      const [header, payload] = res.body.data.token.split('.').slice(0, 2).map((p: string) => JSON.parse(Buffer.from(p, 'base64url').toString()));
      expect(header.alg).toBe('HS256');
      expect(payload.sub).toBe(users.operator.id);
      expect(payload.exp - payload.iat).toBe(86400);
      expect(JSON.stringify(res.body)).not.toMatch(/scrypt|password/i);
    });

    it('GET /api/auth/me returns the user for a JWT and the owner for an API key', async () => {
      const res = await me({ authorization: `Bearer ${users.viewer.token}` });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ id: users.viewer.id, email: email('viewer'), name: expect.any(String), role: 'VIEWER', status: 'ACTIVE', auth: { kind: 'user' } });
      const key = (await createKey(users.operator.token, { name: 'me' })).body.data;
      const viaKey = await me({ 'x-api-key': key.key });
      expect(viaKey.status).toBe(200);
      expect(viaKey.body.data).toMatchObject({ id: users.operator.id, role: 'OPERATOR', auth: { kind: 'apiKey', apiKeyId: key.id } });
      expectError(await me({}), 401, 'UNAUTHORIZED');
      expectError(await me({ 'x-api-key': `evp_${'x'.repeat(43)}` }), 401, 'INVALID_API_KEY');
    });

    it('wrong password and unknown email give the same 401 body (both run one scrypt verification: see auth.service.spec)', async () => {
      const wrong = await login({ email: email('admin'), password: 'not the right password' });
      const unknown = await login({ email: email('nobody'), password: PASSWORD });
      expectError(wrong, 401, 'UNAUTHORIZED');
      expect(unknown.status).toBe(wrong.status);
      expect(unknown.body).toEqual(wrong.body);
      expect(Object.keys(unknown.headers).sort()).toEqual(Object.keys(wrong.headers).sort());
    });

    it('SQL-injection strings in email and password are plain data: 400 or 401, nothing stored or broken', async () => {
      const usersBefore = await countUsers();
      const attempts = [
        { email: "' OR '1'='1' --", password: PASSWORD },
        { email: `admin'--@example.test`, password: PASSWORD },
        { email: `"x'; DROP TABLE users; --"@example.test`, password: PASSWORD },
        { email: email('admin'), password: "' OR 1=1; DROP TABLE users; --" },
        { email: email('admin'), password: `${PASSWORD}' OR '1'='1` },
      ];
      for (const body of attempts) {
        const res = await login(body);
        expect([400, 401]).toContain(res.status);
        expect(res.body.success).toBe(false);
      }
      expect(await countUsers()).toBe(usersBefore);
      expect((await login({ email: email('admin'), password: PASSWORD })).status).toBe(200);
    });

    it('a 10 KB email (or an oversized password) is a 400 VALIDATION_ERROR that does not echo the value', async () => {
      const huge = `${'a'.repeat(10 * 1024)}@example.test`;
      const res = await login({ email: huge, password: PASSWORD });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'email' })]));
      expect(JSON.stringify(res.body)).not.toContain('aaaaaaaaaa');
      expectError(await login({ email: email('admin'), password: 'p'.repeat(5000) }), 400, 'VALIDATION_ERROR');
      expectError(await login({ email: email('admin') }), 400, 'VALIDATION_ERROR');
      expectError(await login({ email: email('admin'), password: { $ne: '' } }), 400, 'VALIDATION_ERROR');
    });

    it('role: "ADMIN" in a login body is ignored (mass assignment)', async () => {
      const res = await login({ email: email('viewer'), password: PASSWORD, role: 'ADMIN', status: 'ACTIVE' });
      expect(res.status).toBe(200);
      expect(res.body.data.user.role).toBe('VIEWER');
      expect((await me({ authorization: `Bearer ${res.body.data.token}` })).body.data.role).toBe('VIEWER');
      expectError(await withToken(request(http).get('/api/auth/users'), res.body.data.token), 403, 'FORBIDDEN');
    });
  });

  describe('JWT verification pins HS256 and the secret', () => {
    const claims = () => ({ sub: users.admin.id, email: email('admin'), role: 'ADMIN', sv: 0, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600 });

    it('accepts a token signed like ours (control for the cases below)', async () => {
      expect((await me({ authorization: `Bearer ${forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), env.JWT_SECRET)}` })).status).toBe(200);
    });

    it.each([
      ['alg none', () => forgeJwt({ alg: 'none', typ: 'JWT' }, claims(), null)],
      ['RS256 header signed with the secret as HMAC key', () => forgeJwt({ alg: 'RS256', typ: 'JWT' }, claims(), env.JWT_SECRET)],
      ['HS512 with the right secret', () => forgeJwt({ alg: 'HS512', typ: 'JWT' }, claims(), env.JWT_SECRET, 'sha512')],
      ['wrong secret', () => forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), 'another-secret-that-is-long-enough-000')],
      ['expired', () => forgeJwt({ alg: 'HS256', typ: 'JWT' }, { ...claims(), iat: 1_600_000_000, exp: 1_600_086_400 }, env.JWT_SECRET)],
      [
        'tampered payload (viewer token promoted to the admin id)',
        () => {
          const [h, , s] = users.viewer.token.split('.');
          return `${h}.${b64url({ ...claims() })}.${s}`;
        },
      ],
      ['a non-UUID subject', () => forgeJwt({ alg: 'HS256', typ: 'JWT' }, { ...claims(), sub: "' OR 1=1 --" }, env.JWT_SECRET)],
      ['no session version (issued before tokens carried one)', () => forgeJwt({ alg: 'HS256', typ: 'JWT' }, { ...claims(), sv: undefined }, env.JWT_SECRET)],
      ['another session version than the user has', () => forgeJwt({ alg: 'HS256', typ: 'JWT' }, { ...claims(), sv: 1 }, env.JWT_SECRET)],
      ['a session version that is not a number', () => forgeJwt({ alg: 'HS256', typ: 'JWT' }, { ...claims(), sv: '0' }, env.JWT_SECRET)],
      ['garbage', () => 'not.a.jwt'],
    ])('%s → 401 UNAUTHORIZED', async (_name, token) => {
      expectError(await me({ authorization: `Bearer ${token()}` }), 401, 'UNAUTHORIZED');
    });
  });

  describe('API keys', () => {
    it('creates a key (201, shown once), lists keys without secrets, and the key authenticates', async () => {
      const res = await createKey(users.operator.token, { name: 'ingest main', expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
      expect(res.status).toBe(201);
      const created = res.body.data;
      expect(created).toEqual({
        id: expect.any(String),
        userId: users.operator.id,
        name: 'ingest main',
        prefix: created.key.slice(0, 12),
        key: expect.stringMatching(/^evp_[A-Za-z0-9_-]{43}$/),
        createdAt: expect.any(String),
        lastUsedAt: null,
        expiresAt: expect.any(String),
        revokedAt: null,
      });
      const list = await withToken(request(http).get('/api/auth/api-keys'), users.operator.token);
      expect(list.status).toBe(200);
      const listed = list.body.data.find((k: { id: string }) => k.id === created.id);
      expect(Object.keys(listed).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'userId']);
      expect(JSON.stringify(list.body)).not.toContain(created.key);
      expect((await me({ 'x-api-key': created.key })).status).toBe(200);
      // Only the SHA-256 is stored.
      const row = (await pg.query('SELECT key_hash FROM api_keys WHERE id = $1', [created.id])).rows[0];
      expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify((await pg.query('SELECT * FROM api_keys')).rows)).not.toContain(created.key);
    });

    it('role/userId in a create-key body are ignored (mass assignment): the key is the caller’s, with the caller’s role', async () => {
      const res = await createKey(users.operator.token, { name: 'sneaky', role: 'ADMIN', userId: users.admin.id, revokedAt: null });
      expect(res.status).toBe(201);
      expect(res.body.data.userId).toBe(users.operator.id);
      const who = await me({ 'x-api-key': res.body.data.key });
      expect(who.body.data).toMatchObject({ id: users.operator.id, role: 'OPERATOR' });
    });

    it('refuses bad bodies with 400 and stores nothing', async () => {
      const before = await countKeys();
      for (const body of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 'a', expiresAt: 'tomorrow' }, { name: 'a', expiresAt: '2001-01-01T00:00:00Z' }]) {
        expectError(await createKey(users.operator.token, body), 400, 'VALIDATION_ERROR');
      }
      expect(await countKeys()).toBe(before);
    });

    it('a VIEWER calling key or user management gets 403 and nothing is stored', async () => {
      const [keysBefore, usersBefore] = [await countKeys(), await countUsers()];
      const t = users.viewer.token;
      expectError(await createKey(t, { name: 'nope' }), 403, 'FORBIDDEN');
      expectError(await withToken(request(http).get('/api/auth/api-keys'), t), 403, 'FORBIDDEN');
      expectError(await withToken(request(http).delete(`/api/auth/api-keys/${users.viewer.id}`), t), 403, 'FORBIDDEN');
      expectError(await withToken(request(http).post('/api/auth/users'), t).send({ email: email('v-made'), password: PASSWORD, role: 'ADMIN' }), 403, 'FORBIDDEN');
      expectError(await withToken(request(http).patch(`/api/auth/users/${users.viewer.id}`), t).send({ role: 'ADMIN' }), 403, 'FORBIDDEN');
      // An OPERATOR manages keys but not users.
      expectError(await withToken(request(http).post('/api/auth/users'), users.operator.token).send({ email: email('o-made'), password: PASSWORD, role: 'VIEWER' }), 403, 'FORBIDDEN');
      // API keys do not open management endpoints (JWT only).
      const key = (await createKey(users.admin.token, { name: 'admin key' })).body.data.key;
      expectError(await request(http).get('/api/auth/users').set('x-api-key', key), 401, 'UNAUTHORIZED');
      expect([await countKeys(), await countUsers()]).toEqual([keysBefore + 1, usersBefore]);
      expect((await me({ authorization: `Bearer ${users.viewer.token}` })).body.data.role).toBe('VIEWER');
    });

    it("revoking another user's key is 404 (and the key keeps working); an unknown or malformed id is 404", async () => {
      const other = (await createKey(users.operator2.token, { name: 'operator2 key' })).body.data;
      expectError(await withToken(request(http).delete(`/api/auth/api-keys/${other.id}`), users.operator.token), 404, 'NOT_FOUND');
      expect((await me({ 'x-api-key': other.key })).status).toBe(200);
      expectError(await withToken(request(http).delete('/api/auth/api-keys/00000000-0000-4000-8000-000000000000'), users.operator.token), 404, 'NOT_FOUND');
      expectError(await withToken(request(http).delete("/api/auth/api-keys/1' OR '1'='1"), users.operator.token), 404, 'NOT_FOUND');
      const listedForOther = await withToken(request(http).get(`/api/auth/api-keys?userId=${users.operator2.id}`), users.operator.token);
      expectError(listedForOther, 403, 'FORBIDDEN');
    });

    it('revocation (204) is effective at once on this process, and an ADMIN may revoke any key', async () => {
      const own = (await createKey(users.operator.token, { name: 'to revoke' })).body.data;
      expect((await me({ 'x-api-key': own.key })).status).toBe(200);
      const del = await withToken(request(http).delete(`/api/auth/api-keys/${own.id}`), users.operator.token);
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      expectError(await me({ 'x-api-key': own.key }), 401, 'INVALID_API_KEY');
      // Idempotent.
      expect((await withToken(request(http).delete(`/api/auth/api-keys/${own.id}`), users.operator.token)).status).toBe(204);
      const listed = (await withToken(request(http).get('/api/auth/api-keys'), users.operator.token)).body.data.find((k: { id: string }) => k.id === own.id);
      expect(listed.revokedAt).toEqual(expect.any(String));

      const others = (await createKey(users.operator2.token, { name: 'admin revokes' })).body.data;
      expect((await me({ 'x-api-key': others.key })).status).toBe(200);
      expect((await withToken(request(http).delete(`/api/auth/api-keys/${others.id}`), users.admin.token)).status).toBe(204);
      expectError(await me({ 'x-api-key': others.key }), 401, 'INVALID_API_KEY');
      const adminView = await withToken(request(http).get(`/api/auth/api-keys?userId=${users.operator2.id}`), users.admin.token);
      expect(adminView.body.data.find((k: { id: string }) => k.id === others.id).revokedAt).toEqual(expect.any(String));
    });

    it('an expired key is refused', async () => {
      const key = (await createKey(users.operator.token, { name: 'short-lived', expiresAt: new Date(Date.now() + 1500).toISOString() })).body.data;
      expect((await me({ 'x-api-key': key.key })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1600));
      expectError(await me({ 'x-api-key': key.key }), 401, 'INVALID_API_KEY');
    });

    it('records lastUsedAt off the request path, at most once a minute per key', async () => {
      const key = (await createKey(users.operator.token, { name: 'usage' })).body.data;
      const lastUsed = async () => (await pg.query('SELECT last_used_at FROM api_keys WHERE id = $1', [key.id])).rows[0].last_used_at as Date | null;
      expect((await me({ 'x-api-key': key.key })).status).toBe(200);
      expect(await lastUsed()).toBeNull(); // not written by the request itself
      const recorder = app.get(ApiKeyUsageRecorder);
      await recorder.flush();
      const first = await lastUsed();
      expect(first).toBeInstanceOf(Date);
      await new Promise((r) => setTimeout(r, 20));
      expect((await me({ 'x-api-key': key.key })).status).toBe(200);
      await recorder.flush();
      expect((await lastUsed())!.getTime()).toBe(first!.getTime());
    });
  });

  describe('user management (ADMIN)', () => {
    const adminReq = (method: 'post' | 'patch' | 'get', url: string) => withToken(request(http)[method](url), users.admin.token);

    it('creates users (role, lower-case email, min password 12), refuses duplicates and ignores extra fields', async () => {
      const res = await adminReq('post', '/api/auth/users').send({
        email: email('Created').toUpperCase(),
        password: PASSWORD,
        role: 'VIEWER',
        status: 'DISABLED',
        passwordHash: 'scrypt$1$1$1$x$y',
        id: '00000000-0000-4000-8000-000000000001',
      });
      expect(res.status).toBe(201);
      expect(res.body.data).toEqual({
        id: expect.not.stringMatching(/^00000000-0000-4000-8000-000000000001$/),
        email: email('created'),
        name: expect.any(String),
        role: 'VIEWER',
        status: 'ACTIVE',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      expect((await login({ email: email('created'), password: PASSWORD })).status).toBe(200);
      expectError(await adminReq('post', '/api/auth/users').send({ email: email('created'), password: PASSWORD, role: 'VIEWER' }), 409, 'CONFLICT');
      const before = await countUsers();
      expectError(await adminReq('post', '/api/auth/users').send({ email: email('weak'), password: 'short pass', role: 'VIEWER' }), 400, 'VALIDATION_ERROR');
      expectError(await adminReq('post', '/api/auth/users').send({ email: email('badrole'), password: PASSWORD, role: 'ROOT' }), 400, 'VALIDATION_ERROR');
      expect(await countUsers()).toBe(before);
      const stored = (await pg.query('SELECT password_hash FROM users WHERE email = $1', [email('created')])).rows[0].password_hash;
      expect(stored).toMatch(/^scrypt\$/);
      expect(stored).not.toContain(PASSWORD);
    });

    it('a role change, or re-sending the status the user has, applies to tokens already issued', async () => {
      const u = (await adminReq('post', '/api/auth/users').send({ email: email('promoted'), password: PASSWORD, role: 'VIEWER' })).body.data;
      const token = (await login({ email: email('promoted'), password: PASSWORD })).body.data.token;
      expectError(await createKey(token, { name: 'before' }), 403, 'FORBIDDEN');
      const patched = await adminReq('patch', `/api/auth/users/${u.id}`).send({ role: 'OPERATOR', status: 'ACTIVE' });
      expect(patched.status).toBe(200);
      expect(patched.body.data.role).toBe('OPERATOR');
      expect((await createKey(token, { name: 'after' })).status).toBe(201);
      const version = async () => (await pg.query('SELECT session_version FROM users WHERE id = $1', [u.id])).rows[0].session_version;
      const before = await version();
      expect((await adminReq('patch', `/api/auth/users/${u.id}`).send({ status: 'ACTIVE' })).status).toBe(200);
      expect(await version()).toBe(before);
      expect((await me({ authorization: `Bearer ${token}` })).status).toBe(200);
    });

    it("disabling a user stops their JWTs, API keys and logins; enabling restores keys", async () => {
      const u = (await adminReq('post', '/api/auth/users').send({ email: email('disabled'), password: PASSWORD, role: 'OPERATOR' })).body.data;
      const token = (await login({ email: email('disabled'), password: PASSWORD })).body.data.token;
      const key = (await createKey(token, { name: 'k' })).body.data.key;
      expect((await me({ 'x-api-key': key })).status).toBe(200);
      expect((await me({ authorization: `Bearer ${token}` })).status).toBe(200);
      expect((await adminReq('patch', `/api/auth/users/${u.id}`).send({ status: 'DISABLED' })).body.data.status).toBe('DISABLED');
      expectError(await me({ 'x-api-key': key }), 401, 'INVALID_API_KEY');
      expectError(await me({ authorization: `Bearer ${token}` }), 401, 'UNAUTHORIZED');
      const denied = await login({ email: email('disabled'), password: PASSWORD });
      expectError(denied, 401, 'UNAUTHORIZED');
      expect(denied.body).toEqual((await login({ email: email('disabled'), password: 'wrong password!' })).body);
      expect((await adminReq('patch', `/api/auth/users/${u.id}`).send({ status: 'ACTIVE' })).status).toBe(200);
      expect((await me({ 'x-api-key': key })).status).toBe(200);
      // The JWT issued before the disable stays dead: the user logs in again.
      expectError(await me({ authorization: `Bearer ${token}` }), 401, 'UNAUTHORIZED');
      const again = (await login({ email: email('disabled'), password: PASSWORD })).body.data.token;
      expect((await me({ authorization: `Bearer ${again}` })).status).toBe(200);
    });

    it("a password reset ends the user's JWTs at once (a rename does not); the new password's token works", async () => {
      const u = (await adminReq('post', '/api/auth/users').send({ email: email('reset'), password: PASSWORD, role: 'VIEWER' })).body.data;
      const token = (await login({ email: email('reset'), password: PASSWORD })).body.data.token;
      expect((await me({ authorization: `Bearer ${token}` })).status).toBe(200);
      expect((await adminReq('patch', `/api/auth/users/${u.id}`).send({ name: 'Renamed' })).status).toBe(200);
      expect((await me({ authorization: `Bearer ${token}` })).status).toBe(200);
      const newPassword = `${PASSWORD}-changed`;
      expect((await adminReq('patch', `/api/auth/users/${u.id}`).send({ password: newPassword })).status).toBe(200);
      expectError(await me({ authorization: `Bearer ${token}` }), 401, 'UNAUTHORIZED');
      expectError(await login({ email: email('reset'), password: PASSWORD }), 401, 'UNAUTHORIZED');
      const fresh = (await login({ email: email('reset'), password: newPassword })).body.data.token;
      const res = await me({ authorization: `Bearer ${fresh}` });
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({ id: u.id, name: 'Renamed' });
    });

    it('the last active ADMIN cannot be demoted or disabled (409); another ADMIN makes it possible', async () => {
      expectError(await adminReq('patch', `/api/auth/users/${users.admin.id}`).send({ status: 'DISABLED' }), 409, 'CONFLICT');
      expectError(await adminReq('patch', `/api/auth/users/${users.admin.id}`).send({ role: 'OPERATOR' }), 409, 'CONFLICT');
      const second = (await adminReq('post', '/api/auth/users').send({ email: email('admin2'), password: PASSWORD, role: 'ADMIN' })).body.data;
      expect((await adminReq('patch', `/api/auth/users/${second.id}`).send({ role: 'VIEWER' })).status).toBe(200);
      expect((await me({ authorization: `Bearer ${users.admin.token}` })).body.data.role).toBe('ADMIN');
    });

    it('validates PATCH bodies and ids', async () => {
      expectError(await adminReq('patch', `/api/auth/users/${users.viewer.id}`).send({ role: 'ROOT' }), 400, 'VALIDATION_ERROR');
      expectError(await adminReq('patch', `/api/auth/users/${users.viewer.id}`).send({ status: 'DELETED' }), 400, 'VALIDATION_ERROR');
      expectError(await adminReq('patch', `/api/auth/users/${users.viewer.id}`).send({ password: 'short' }), 400, 'VALIDATION_ERROR');
      expectError(await adminReq('patch', '/api/auth/users/not-a-uuid').send({ role: 'VIEWER' }), 404, 'NOT_FOUND');
      expectError(await adminReq('patch', '/api/auth/users/00000000-0000-4000-8000-000000000000').send({ role: 'VIEWER' }), 404, 'NOT_FOUND');
      expect((await me({ authorization: `Bearer ${users.viewer.token}` })).body.data.role).toBe('VIEWER');
    });
  });

  describe('rate limit: 100 requests/min per client IP on /api/auth/*, in Redis', () => {
    it('the 101st login in a minute is 429 RATE_LIMITED with Retry-After; X-Forwarded-For is ignored without TRUST_PROXY', async () => {
      // 100 login requests (cheap ones: refused by validation, but counted like any other)...
      const first = await login({ email: email('admin') });
      expectError(first, 400, 'VALIDATION_ERROR');
      expect([first.headers['x-ratelimit-limit'], first.headers['x-ratelimit-remaining']]).toEqual(['100', '99']);
      for (let i = 1; i < 100; i += 33) {
        const batch = await Promise.all(Array.from({ length: Math.min(33, 100 - i) }, () => login({ email: email('admin') })));
        for (const res of batch) expect(res.status).toBe(400);
      }
      // ...then the 101st, with the right password, is refused.
      const limited = await login({ email: email('admin'), password: PASSWORD });
      expectError(limited, 429, 'RATE_LIMITED');
      const retryAfter = Number(limited.headers['retry-after']);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
      // Other auth endpoints share the budget; a spoofed X-Forwarded-For does not escape it.
      expectError(await me({ authorization: `Bearer ${users.admin.token}` }), 429, 'RATE_LIMITED');
      expectError(await login({ email: email('admin'), password: PASSWORD }).set('x-forwarded-for', '198.51.100.23'), 429, 'RATE_LIMITED');
      // The counter lives in Redis (shared by replicas), keyed by the socket address.
      const keys = await redis.keys('ratelimit:auth:*');
      expect(keys).toHaveLength(1);
      expect(Number(await redis.get(keys[0]))).toBeGreaterThan(100);
      // Non-auth routes are not limited by it.
      expect((await request(http).get('/api/live')).status).toBe(200);
    });

    it('a second replica sharing Redis sees the same counter; with TRUST_PROXY each X-Forwarded-For client has its own budget', async () => {
      const replica = await startTestApp({ ...env, TRUST_PROXY: 'true' });
      try {
        const http2 = replica.getHttpServer();
        const login2 = (xff?: string) => {
          const req = request(http2).post('/api/auth/login');
          if (xff) void req.set('x-forwarded-for', xff);
          return req.send({ email: email('viewer'), password: PASSWORD });
        };
        await Promise.all(Array.from({ length: 100 }, () => request(http).get('/api/auth/me')));
        // Same client address (no proxy header) on the other replica: already over the limit.
        expectError(await login2(), 429, 'RATE_LIMITED');
        // Behind a trusted proxy, the forwarded client is counted on its own.
        expect((await login2('203.0.113.7')).status).toBe(200);
        expect(await redis.exists('ratelimit:auth:203.0.113.7')).toBe(1);
      } finally {
        await replica.close();
      }
    });

    it('with TRUST_PROXY as a proxy list, a client cannot pick its address by prepending to X-Forwarded-For', async () => {
      // The proxy in front appends the address it saw; whatever the client wrote before it is not trusted.
      for (const [i, trust] of ['127.0.0.1,::1', 'loopback'].entries()) {
        const replica = await startTestApp({ ...env, TRUST_PROXY: trust });
        try {
          const seen = `203.0.113.${21 + i}`;
          const res = await request(replica.getHttpServer()).post('/api/auth/login').set('x-forwarded-for', `198.51.100.99, ${seen}`).send({});
          expectError(res, 400, 'VALIDATION_ERROR');
          expect(await redis.exists(`ratelimit:auth:${seen}`)).toBe(1);
          expect(await redis.exists('ratelimit:auth:198.51.100.99')).toBe(0);
        } finally {
          await replica.close();
        }
      }
    });
  });
});

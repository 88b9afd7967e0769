import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Client } from 'pg';
import { cleanProcessEnv, testEnv, uniqueSuffix } from '../support/test-env';
import { freePort, REPO_ROOT, RunningProcess, startMain, stopProcess, waitForHttp } from '../support/child-process';

/**
 * Two API processes (`node dist/main.js`, ROLE=api) sharing Redis DB 7 and the test database:
 * a revocation, a user disable or a CLI revocation made through one is refused by the other
 * within 1 s (the contract's bound); lastUsedAt is flushed on shutdown; and the debug-level logs
 * of both processes contain no password, API key, token or password hash.
 */
const REDIS_DB = 7;
const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli', 'cli.js');
const PROPAGATION_BOUND_MS = 1000;

const run = promisify(execFile);

describe('auth across API processes (child processes, real Redis and PostgreSQL)', () => {
  const suffix = uniqueSuffix();
  const email = (label: string) => `proc-${label}-${suffix}@example.test`;
  const passwords = { admin: `admin password ${suffix}!`, operator: `operator password ${suffix}!`, wrong: `wrong password ${suffix}!` };
  const secrets: string[] = Object.values(passwords);
  let env: Record<string, string>;
  let a: RunningProcess;
  let b: RunningProcess;
  let portA: number;
  let portB: number;
  let pg: Client;

  const call = async (port: number, method: string, url: string, opts: { token?: string; key?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.key) headers['x-api-key'] = opts.key;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const login = async (port: number, who: 'admin' | 'operator') => {
    const res = await call(port, 'POST', '/api/auth/login', { body: { email: email(who), password: passwords[who] } });
    expect(res.status).toBe(200);
    secrets.push(res.body.data.token);
    return res.body.data.token as string;
  };
  const createKey = async (port: number, token: string, name: string) => {
    const res = await call(port, 'POST', '/api/auth/api-keys', { token, body: { name } });
    expect(res.status).toBe(201);
    secrets.push(res.body.data.key, res.body.data.key.slice(12));
    return res.body.data as { id: string; key: string };
  };
  const meStatus = async (port: number, auth: { token?: string; key?: string }) => (await call(port, 'GET', '/api/auth/me', auth)).status;
  const afterBound = () => new Promise((r) => setTimeout(r, PROPAGATION_BOUND_MS));
  const cli = (args: string[]) =>
    run(process.execPath, [CLI_JS, ...args], { cwd: REPO_ROOT, env: { ...cleanProcessEnv(), ...env, LOG_LEVEL: 'debug' } });

  beforeAll(async () => {
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api', LOG_LEVEL: 'debug' } });
    secrets.push(env.JWT_SECRET);
    const redis = new Redis(env.REDIS_URL);
    const limits = await redis.keys('ratelimit:auth:*');
    if (limits.length > 0) await redis.del(...limits);
    redis.disconnect();
    pg = new Client({ connectionString: env.DATABASE_URL });
    await pg.connect();
    [portA, portB] = [await freePort(), await freePort()];
    a = startMain({ ...env, PORT: String(portA) });
    b = startMain({ ...env, PORT: String(portB) });
    await Promise.all([waitForHttp(portA, '/api/ready', 200, 30_000, a), waitForHttp(portB, '/api/ready', 200, 30_000, b)]);
    // The first ADMIN comes from the operator CLI (as in production).
    await cli(['user:create', '--email', email('admin'), '--password', passwords.admin, '--role', 'ADMIN']);
  });

  afterAll(async () => {
    await Promise.all([a && stopProcess(a), b && stopProcess(b)]);
    await pg?.end();
  });

  it('a key revoked on one process is refused by the other within 1 s', async () => {
    const admin = await login(portA, 'admin');
    const key = await createKey(portA, admin, 'revoke me');
    // Both processes have now checked (and cached) the key.
    expect([await meStatus(portA, { key: key.key }), await meStatus(portB, { key: key.key })]).toEqual([200, 200]);
    expect((await call(portA, 'DELETE', `/api/auth/api-keys/${key.id}`, { token: admin })).status).toBe(204);
    await afterBound();
    expect([await meStatus(portB, { key: key.key }), await meStatus(portA, { key: key.key })]).toEqual([401, 401]);
  });

  it("a user disabled on one process loses their JWTs and keys on the other within 1 s", async () => {
    const admin = await login(portA, 'admin');
    const created = await call(portA, 'POST', '/api/auth/users', { token: admin, body: { email: email('operator'), password: passwords.operator, role: 'OPERATOR' } });
    expect(created.status).toBe(201);
    const token = await login(portB, 'operator'); // issued by B, accepted by A: same JWT_SECRET
    const key = await createKey(portA, token, 'operator key');
    expect([await meStatus(portB, { token }), await meStatus(portB, { key: key.key }), await meStatus(portA, { token })]).toEqual([200, 200, 200]);
    expect((await call(portA, 'PATCH', `/api/auth/users/${created.body.data.id}`, { token: admin, body: { status: 'DISABLED' } })).status).toBe(200);
    await afterBound();
    expect([await meStatus(portB, { token }), await meStatus(portB, { key: key.key }), await meStatus(portA, { key: key.key })]).toEqual([401, 401, 401]);
  });

  it('a key revoked with the operator CLI (`apikey:revoke`) is refused by running processes within 1 s', async () => {
    const admin = await login(portB, 'admin');
    const key = await createKey(portB, admin, 'cli revoke');
    expect([await meStatus(portA, { key: key.key }), await meStatus(portB, { key: key.key })]).toEqual([200, 200]);
    const { stdout } = await cli(['apikey:revoke', '--id', key.id]);
    expect(stdout).toContain(`Revoked API key ${key.id}`);
    await afterBound();
    expect([await meStatus(portA, { key: key.key }), await meStatus(portB, { key: key.key })]).toEqual([401, 401]);
  });

  it('lastUsedAt is written off the request path and flushed on graceful shutdown', async () => {
    const admin = await login(portA, 'admin');
    const key = await createKey(portA, admin, 'usage');
    expect(await meStatus(portB, { key: key.key })).toBe(200);
    const lastUsed = async () => (await pg.query('SELECT last_used_at FROM api_keys WHERE id = $1', [key.id])).rows[0].last_used_at;
    expect(await lastUsed()).toBeNull();
    await stopProcess(b); // SIGTERM: graceful shutdown flushes pending marks
    expect(await lastUsed()).toBeInstanceOf(Date);
  });

  it('no password, API key, token, password hash or JWT secret appears in any log line of either process', async () => {
    // Failure paths too: a wrong password, an unknown key, a weak password in a create-user body.
    const admin = await login(portA, 'admin');
    expect((await call(portA, 'POST', '/api/auth/login', { body: { email: email('admin'), password: passwords.wrong } })).status).toBe(401);
    expect(await meStatus(portA, { key: `evp_${'Q'.repeat(43)}` })).toBe(401);
    const weak = `weak-${suffix}`.slice(0, 11); // one character short of the minimum
    secrets.push(weak);
    expect((await call(portA, 'POST', '/api/auth/users', { token: admin, body: { email: email('weak'), password: weak, role: 'VIEWER' } })).status).toBe(400);
    await stopProcess(a);
    const hashes = (await pg.query('SELECT password_hash, email FROM users WHERE email LIKE $1', [`proc-%-${suffix}@example.test`])).rows;
    expect(hashes.length).toBeGreaterThanOrEqual(2);
    const keyHashes = (await pg.query('SELECT k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.email LIKE $1', [`proc-%-${suffix}@example.test`])).rows;
    const forbidden = [...secrets, ...hashes.map((r) => r.password_hash as string), ...keyHashes.map((r) => r.key_hash as string)];

    const logs = a.output() + b.output();
    // The capture works: requests with credentials were logged, with the headers redacted.
    expect(logs).toContain('"x-api-key":"[REDACTED]"');
    expect(logs).toContain('"authorization":"[REDACTED]"');
    expect(logs).toMatch(/"msg":"login failed"/);
    for (const secret of forbidden) {
      expect(secret.length).toBeGreaterThanOrEqual(8);
      if (logs.includes(secret)) throw new Error(`a secret (${secret.slice(0, 6)}…) appears in the logs`);
    }
  });
});

import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Client } from 'pg';
import { REPO_ROOT } from '../support/child-process';
import { cleanProcessEnv, TEST_DATABASE_URL, TEST_REDIS_BASE, uniqueSuffix } from '../support/test-env';

/**
 * The operator CLI (`node dist/cli/cli.js`, what `npm run cli --` runs) against a private,
 * freshly migrated PostgreSQL database (so "no ADMIN exists yet" is true) and Redis DB 7.
 */
const REDIS_DB = 7;
const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli', 'cli.js');
const execFileAsync = promisify(execFile);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('operator CLI (child processes, private database)', () => {
  const dbName = `evp_auth_cli_${uniqueSuffix()}`;
  const databaseUrl = TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${dbName}`);
  const env = {
    ...cleanProcessEnv(),
    ENV_FILE: '/nonexistent/.env',
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    REDIS_URL: `${TEST_REDIS_BASE}/${REDIS_DB}`,
  };
  let pg: Client;

  const cli = async (...args: string[]): Promise<CliResult> => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [CLI_JS, ...args], { cwd: REPO_ROOT, env });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/db-migrate.js'], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: databaseUrl, ENV_FILE: '/nonexistent/.env' }, stdio: 'ignore' });
    pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
  });

  afterAll(async () => {
    await pg?.end();
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  });

  it('bootstrap-admin creates admin@localhost + an API key once (printed once), then prints nothing secret', async () => {
    // Two concurrent first runs (e.g. two terminals): exactly one creates the admin.
    const [first, second] = await Promise.all([cli('bootstrap-admin', '--json'), cli('bootstrap-admin', '--json')]);
    expect([first.code, second.code]).toEqual([0, 0]);
    const outputs = [JSON.parse(first.stdout), JSON.parse(second.stdout)];
    const created = outputs.filter((o) => o.created);
    expect(created).toHaveLength(1);
    expect(outputs.filter((o) => !o.created)).toEqual([{ created: false }]);
    const { email, password, apiKey } = created[0];
    expect(email).toBe('admin@localhost');
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(apiKey).toMatch(/^evp_[A-Za-z0-9_-]{43}$/);

    const users = (await pg.query('SELECT email, role, status, password_hash FROM users')).rows;
    expect(users).toEqual([{ email: 'admin@localhost', role: 'ADMIN', status: 'ACTIVE', password_hash: expect.stringMatching(/^scrypt\$/) }]);
    expect(users[0].password_hash).not.toContain(password);
    const keys = (await pg.query('SELECT key_hash, prefix FROM api_keys')).rows;
    expect(keys).toEqual([{ key_hash: sha256(apiKey), prefix: apiKey.slice(0, 12) }]);

    const again = await cli('bootstrap-admin');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    expect(again.stdout + again.stderr).not.toMatch(/evp_|password:/);
    expect(Number((await pg.query('SELECT count(*) FROM users')).rows[0].count)).toBe(1);
  });

  it('user:create validates like the API and never prints the password', async () => {
    const ok = await cli('user:create', '--email', 'Ops@Example.TEST', '--password', 'a long enough password', '--role', 'operator');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^Created user ops@example\.test \(OPERATOR\), id [0-9a-f-]{36}\n$/);
    expect(ok.stdout + ok.stderr).not.toContain('a long enough password');

    const duplicate = await cli('user:create', '--email', 'ops@example.test', '--password', 'a long enough password', '--role', 'VIEWER');
    expect([duplicate.code, duplicate.stderr]).toEqual([1, expect.stringContaining('exists')]);
    const weak = await cli('user:create', '--email', 'weak@example.test', '--password', 'too short', '--role', 'VIEWER');
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain('password must be longer than or equal to 12 characters');
    expect(weak.stderr).not.toContain('too short');
    const badRole = await cli('user:create', '--email', 'root@example.test', '--password', 'a long enough password', '--role', 'ROOT');
    expect(badRole.code).toBe(2);
    expect(Number((await pg.query("SELECT count(*) FROM users WHERE email IN ('weak@example.test', 'root@example.test')")).rows[0].count)).toBe(0);
  });

  it('apikey:create prints the key once (only its hash is stored); apikey:revoke revokes it and tells Redis', async () => {
    const created = await cli('apikey:create', '--email', 'ops@example.test', '--name', 'from the cli');
    expect(created.code).toBe(0);
    const key = /evp_[A-Za-z0-9_-]{43}/.exec(created.stdout)![0];
    expect(created.stdout).toContain('shown only this once');
    const row = (await pg.query('SELECT id, name, key_hash, revoked_at FROM api_keys WHERE key_hash = $1', [sha256(key)])).rows[0];
    expect(row).toMatchObject({ name: 'from the cli', revoked_at: null });

    const revoked = await cli('apikey:revoke', '--id', row.id);
    expect([revoked.code, revoked.stdout.trim()]).toEqual([0, `Revoked API key ${row.id}`]);
    expect((await pg.query('SELECT revoked_at FROM api_keys WHERE id = $1', [row.id])).rows[0].revoked_at).toBeInstanceOf(Date);
    // The Redis entry now says "revoked" with the terminal version (no process can cache it as valid).
    const redis = new Redis(env.REDIS_URL);
    try {
      expect(await redis.get(`auth:apikey:${sha256(key)}`)).toBe(`${2 ** 52}|{"state":"revoked"}`);
    } finally {
      redis.disconnect();
    }

    const unknownUser = await cli('apikey:create', '--email', 'nobody@example.test', '--name', 'x');
    expect([unknownUser.code, unknownUser.stderr]).toEqual([2, expect.stringContaining('no user with email')]);
    const unknownKey = await cli('apikey:revoke', '--id', '00000000-0000-4000-8000-000000000000');
    expect([unknownKey.code, unknownKey.stderr.trim()]).toEqual([1, 'cli: API key not found']);
    const notUuid = await cli('apikey:revoke', '--id', "1' OR '1'='1");
    expect(notUuid.code).toBe(2);
  });

  it('reports usage errors with exit code 2 and a failed dependency with exit code 1, naming no secret', async () => {
    expect((await cli('no-such-command')).code).toBe(2);
    expect((await cli('user:create', '--bogus', 'x')).code).toBe(2);
    const help = await cli('--help');
    expect([help.code, help.stdout]).toEqual([0, expect.stringContaining('bootstrap-admin')]);
    const down = await execFileAsync(process.execPath, [CLI_JS, 'bootstrap-admin'], {
      cwd: REPO_ROOT,
      env: { ...env, DATABASE_URL: 'postgresql://postgres:s3cret-pw@127.0.0.1:1/none' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('PostgreSQL');
    expect(down.stderr).not.toContain('s3cret-pw');
  });
});

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { TEST_DATABASE_URL, uniqueSuffix } from '../support/test-env';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');
const { listMigrations } = require(path.join(root, 'scripts', 'db-migrate.js')) as { listMigrations: () => Array<{ name: string; checksum: string }> };

describe('npm run db:migrate', () => {
  const dbName = `evp_migrate_${uniqueSuffix()}`;
  const url = TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${dbName}`);
  const admin = new Client({ connectionString: TEST_DATABASE_URL.replace(/\/[^/]*$/, '/postgres') });

  const migrate = () =>
    run(process.execPath, ['scripts/db-migrate.js'], { cwd: root, env: { ...process.env, DATABASE_URL: url, ENV_FILE: '/nonexistent' } });

  beforeAll(async () => {
    await admin.connect();
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  });

  async function appliedRows(): Promise<Array<{ migration_name: string; checksum: string; finished_at: Date | null }>> {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query('SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name')).rows;
    } finally {
      await c.end();
    }
  }

  it('creates the database, applies every migration once, and is idempotent', async () => {
    const first = await migrate();
    expect(first.stdout).toContain('applied');
    const second = await migrate();
    expect(second.stdout).toContain('database is up to date');
    const rows = await appliedRows();
    const expected = listMigrations();
    expect(rows.map((r) => r.migration_name)).toEqual(expected.map((m) => m.name));
    // Prisma's checksum: sha256 of migration.sql, so `prisma migrate deploy` agrees.
    expect(rows.map((r) => r.checksum)).toEqual(expected.map((m) => m.checksum));
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
  });

  it('serializes concurrent runs: all succeed, schema applied once', async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    const results = await Promise.allSettled([migrate(), migrate(), migrate()]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const outputs = results.map((r) => (r as PromiseFulfilledResult<{ stdout: string }>).value.stdout);
    // Exactly one run applied the migrations; the others found them done.
    expect(outputs.filter((o) => /applied \d+ migration/.test(o))).toHaveLength(1);
    const rows = await appliedRows();
    expect(rows).toHaveLength(listMigrations().length);
  });
});

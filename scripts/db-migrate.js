#!/usr/bin/env node
// Applies prisma/migrations/*/migration.sql to DATABASE_URL without the Prisma schema engine
// (which cannot be downloaded offline). Compatible with `prisma migrate deploy`:
//  - the same `_prisma_migrations` table, columns and checksum (sha256 hex of migration.sql),
//    so either tool sees the other's work as applied;
//  - the same advisory lock key (72707369), so our runner and Prisma's never migrate at once.
// Each migration runs in one transaction together with its bookkeeping row: all or nothing.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { Client } = require('pg');

const PRISMA_ADVISORY_LOCK = 72707369;
const MIGRATIONS_DIR = path.join(__dirname, '..', 'prisma', 'migrations');

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

function loadEnvFile() {
  const file = process.env.ENV_FILE || path.join(process.cwd(), '.env');
  if (fs.existsSync(file)) process.loadEnvFile(file);
}

function listMigrations() {
  return fs
    .readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(MIGRATIONS_DIR, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(MIGRATIONS_DIR, name, 'migration.sql'));
      return { name, sql: sql.toString('utf8'), checksum: crypto.createHash('sha256').update(sql).digest('hex') };
    });
}

async function migrate(databaseUrl, log = console.log) {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    await client.query(CREATE_TABLE);
    const { rows } = await client.query(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"',
    );
    const applied = new Map(rows.filter((r) => r.rolled_back_at === null).map((r) => [r.migration_name, r]));
    const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed.length > 0) {
      throw new Error(
        `migration(s) ${failed.map((r) => r.migration_name).join(', ')} failed earlier and need manual resolution ` +
          '(fix the database, then mark them with `prisma migrate resolve`)',
      );
    }
    let count = 0;
    for (const m of listMigrations()) {
      const done = applied.get(m.name);
      if (done) {
        if (done.checksum !== m.checksum) log(`warning: ${m.name} was edited after it was applied (checksum differs)`);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
           VALUES ($1, $2, now(), $3, now(), 1)`,
          [crypto.randomUUID(), m.checksum, m.name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${err.message}`);
      }
      log(`applied ${m.name}`);
      count += 1;
    }
    log(count === 0 ? 'database is up to date' : `applied ${count} migration(s)`);
    return count;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]).catch(() => {});
    await client.end();
  }
}

async function ensureDatabase(databaseUrl) {
  // Creating the database is a convenience for local runs; production databases exist already.
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } catch (err) {
    // 42P04: created concurrently by another migrator. Anything else: let migrate() report it.
    if (err.code !== '42P04') return;
  } finally {
    await client.end().catch(() => {});
  }
}

module.exports = { migrate, listMigrations, PRISMA_ADVISORY_LOCK };

if (require.main === module) {
  loadEnvFile();
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('db:migrate: DATABASE_URL is missing');
    process.exit(1);
  }
  ensureDatabase(url)
    .then(() => migrate(url))
    .then(() => process.exit(0))
    .catch((err) => {
      // The message never includes DATABASE_URL (it may carry a password).
      console.error(`db:migrate failed: ${err.message}`);
      process.exit(1);
    });
}

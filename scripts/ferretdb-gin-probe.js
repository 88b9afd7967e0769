#!/usr/bin/env node
/*
 * Does a GIN index on `_jsonb->'field'` make FerretDB v1.24's pushed-down equality filters indexed?
 * (deploy/local/ferretdb/pg-gin-indexes.sql; see deploy/local/README.md.)
 *
 * Starts a private FerretDB (postgresql backend, throw-away database ferretdb_ginprobe_<pid>, port
 * 27160) with that SQL applied, then
 *   1. insert rate: insertMany batches of 100 (ordered:false) into fresh collections, rounds
 *      alternating between "GIN indexes" (as the event trigger made them) and "none" (dropped);
 *   2. queries: loads --docs event documents (--users users), times find({userId}) and find({_id})
 *      from the driver without and with the GIN indexes, --queries times each, and counts
 *      idx_scan of the GIN indexes (pg_stat_user_indexes) to show whether every execution used it
 *      (FerretDB's pgx pool prepares statements: after 5 executions PostgreSQL may switch to a
 *      generic plan, in which `_jsonb->$1` is not the indexed expression).
 *
 *   node scripts/ferretdb-gin-probe.js [--docs 200000] [--users 4000] [--queries 200] [--insert-docs 20000] [--rounds 3]
 */
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Client: PgClient } = require('pg');
const { makeDocs, startFerret, connect, pgAdmin, pgBase, sleep, median } = require('./ferretdb-backend-bench');

const ROOT = path.resolve(__dirname, '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DOCS = arg('docs', 200000);
const USERS = arg('users', 4000);
const QUERIES = arg('queries', 200);
const INSERT_DOCS = arg('insert-docs', 20000);
const ROUNDS = arg('rounds', 3);
const PORT = Number(process.env.PROBE_PORT || 27160);
const pgDb = `ferretdb_ginprobe_${process.pid}`;
const pgUrl = Object.assign(new URL(pgBase), { pathname: `/${pgDb}` }).toString();
const ferretPgUrl = Object.assign(new URL(pgUrl), { protocol: 'postgres:' }).toString();
const MONGO_DB = 'probe';

let child;
let tmpDir;
let pg;

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];
const fmt = (a) => `p50 ${pct(a, 50).toFixed(1)} ms, p95 ${pct(a, 95).toFixed(1)} ms, max ${Math.max(...a).toFixed(1)} ms (n=${a.length})`;

async function ginIndexes(table) {
  const r = await pg.query(
    `SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = $1 AND relname = $2 AND indexrelname LIKE '%\\_evp\\_gin\\_%' ORDER BY 1`,
    [MONGO_DB, table],
  );
  return r.rows;
}

async function tableOf(coll) {
  const r = await pg.query(`SELECT _jsonb->>'table' AS t FROM ${MONGO_DB}._ferretdb_database_metadata WHERE _jsonb->>'_id' = $1`, [coll]);
  return r.rows[0].t;
}

const scans = async (table) => Object.fromEntries((await ginIndexes(table)).map((r) => [r.indexrelname, Number(r.idx_scan)]));

// A backend reports its counters when idle, at most once a second and sometimes ~10 s late: wait
// until `name` has counted `expected` more scans than in `before`, or 20 s.
async function idxScansAfter(table, name, before, expected) {
  let now = await scans(table);
  for (let waited = 0; now[name] - before[name] < expected && waited < 20; waited++) {
    await sleep(1000);
    now = await scans(table);
  }
  return now;
}

async function insertRates(client) {
  const db = client.db(MONGO_DB);
  const docs = makeDocs(INSERT_DOCS, 7);
  const res = { gin: [], none: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of round % 2 ? ['gin', 'none'] : ['none', 'gin']) {
      const name = `ins_${mode}_${round}`;
      await db.createCollection(name);
      const table = await tableOf(name);
      const idx = await ginIndexes(table);
      if (idx.length !== 2) throw new Error(`the event trigger made ${idx.length} GIN indexes on ${table}, expected 2`);
      if (mode === 'none') for (const i of idx) await pg.query(`DROP INDEX ${MONGO_DB}.${i.indexrelname}`);
      const coll = db.collection(name);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < docs.length; i += 100) await coll.insertMany(docs.slice(i, i + 100), { ordered: false });
      const rate = docs.length / (ms(t0) / 1000);
      res[mode].push(rate);
      console.log(`  insert round ${round} ${mode.padEnd(4)} ${rate.toFixed(0)} docs/s`);
      await coll.drop();
    }
  }
  console.log(`insert median: with GIN ${median(res.gin).toFixed(0)} docs/s, without ${median(res.none).toFixed(0)} docs/s, ratio ${(median(res.gin) / median(res.none)).toFixed(3)}`);
  return res;
}

async function timeFinds(coll, filters) {
  const t = [];
  for (const f of filters) {
    const t0 = process.hrtime.bigint();
    await coll.find(f).toArray();
    t.push(ms(t0));
  }
  return t;
}

async function explain(table, key, value) {
  const r = await pg.query(`EXPLAIN (ANALYZE, BUFFERS) SELECT _jsonb FROM ${MONGO_DB}.${table} WHERE _jsonb->$1 @> $2`, [key, JSON.stringify(value)]);
  return r.rows.map((x) => x['QUERY PLAN']).join('\n    ');
}

// What pgx does (QueryExecModeCacheStatement): one prepared statement, executed again and again.
async function preparedPlans(table, key, values) {
  const c = new PgClient({ connectionString: pgUrl });
  await c.connect();
  try {
    // PostgreSQL's default, not the force_custom_plan the SQL file sets for the database
    await c.query('SET plan_cache_mode = auto');
    const name = `probe_${key.replace(/\W/g, '')}`;
    for (const v of values) await c.query({ name, text: `SELECT _jsonb FROM ${MONGO_DB}.${table} WHERE _jsonb->$1 @> $2`, values: [key, JSON.stringify(v)] });
    const r = await c.query('SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1', [name]);
    return r.rows[0];
  } finally {
    await c.end();
  }
}

async function main() {
  const bin = execFileSync('bash', [path.join(ROOT, 'scripts/services.sh'), 'ferretdb-bin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferretdb-ginprobe-'));
  await pgAdmin(`CREATE DATABASE ${pgDb}`);
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pgUrl, '-f', path.join(ROOT, 'deploy/local/ferretdb/pg-gin-indexes.sql')], { stdio: 'inherit' });
  pg = new PgClient({ connectionString: pgUrl });
  await pg.connect();
  child = startFerret(bin, 'ferretdb', PORT, ['-handler', 'postgresql', '-postgresql-url', ferretPgUrl, '-log-level', 'error'], tmpDir);
  const client = await connect('postgresql', PORT, child);
  console.log(`GIN probe: ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join('/')}, node ${process.version}`);

  await insertRates(client);

  const db = client.db(MONGO_DB);
  await db.createCollection('events');
  const table = await tableOf('events');
  const coll = db.collection('events');
  const docs = makeDocs(DOCS, 42, USERS);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < docs.length; i += 1000) await coll.insertMany(docs.slice(i, i + 1000), { ordered: false });
  console.log(`loaded ${DOCS} docs (${USERS} users) in ${(ms(t0) / 1000).toFixed(0)} s (with GIN indexes)`);
  await pg.query(`ANALYZE ${MONGO_DB}.${table}`);

  const users = Array.from({ length: QUERIES }, (_, i) => `user_${(i * 7919) % USERS}`);
  const ids = Array.from({ length: QUERIES }, (_, i) => docs[(i * 104729) % DOCS]._id);
  const few = Math.min(20, QUERIES);

  // with GIN
  console.log(`EXPLAIN userId with GIN:\n    ${await explain(table, 'userId', users[0])}`);
  console.log(`EXPLAIN _id with GIN:\n    ${await explain(table, '_id', ids[0])}`);
  const plans = await preparedPlans(table, 'userId', users.slice(0, 60));
  console.log(`plan_cache_mode of new connections (FerretDB's): ${(await pg.query('SHOW plan_cache_mode')).rows[0].plan_cache_mode}`);
  console.log(`one prepared statement executed 60 times (as pgx does, plan_cache_mode auto): generic_plans ${plans.generic_plans}, custom_plans ${plans.custom_plans}`);
  for (const [what, filters, key] of [
    ['userId', users.map((u) => ({ userId: u })), 'userid'],
    ['_id', ids.map((id) => ({ _id: id })), 'id'],
  ]) {
    await sleep(2000);
    const before = await scans(table);
    const name = Object.keys(before).find((n) => n.endsWith(`_evp_gin_${key}`));
    const t = await timeFinds(coll, filters);
    const after = await idxScansAfter(table, name, before, filters.length);
    console.log(`find({${what}}) with GIN: ${fmt(t)}; first 10 ${fmt(t.slice(0, 10))}; last 50 ${fmt(t.slice(-50))}; idx_scan +${after[name] - before[name]} for ${filters.length} finds`);
  }
  const appShape = users.map((u) => ({
    userId: u,
    timestamp: { $gte: new Date(Date.UTC(2025, 0, 1)), $lt: new Date(Date.UTC(2025, 1, 1)) },
    $or: [{ timestamp: { $lt: new Date(Date.UTC(2025, 0, 20)) } }, { timestamp: new Date(Date.UTC(2025, 0, 20)), _id: { $lt: 'x' } }],
  }));
  const tApp = [];
  for (const f of appShape) {
    const q0 = process.hrtime.bigint();
    await coll.find(f).sort({ timestamp: -1, _id: -1 }).limit(101).toArray();
    tApp.push(ms(q0));
  }
  console.log(`users/:id/events query shape (userId + timestamp range + cursor $or, sort, limit 101) with GIN: ${fmt(tApp)}`);

  // without GIN
  for (const i of await ginIndexes(table)) await pg.query(`DROP INDEX ${MONGO_DB}.${i.indexrelname}`);
  console.log(`EXPLAIN userId without GIN:\n    ${await explain(table, 'userId', users[0])}`);
  console.log(`find({userId}) without GIN: ${fmt(await timeFinds(coll, users.slice(0, few).map((u) => ({ userId: u }))))}`);
  console.log(`find({_id}) without GIN: ${fmt(await timeFinds(coll, ids.slice(0, few).map((id) => ({ _id: id }))))}`);

  // index build time on the loaded table (what services.sh up pays for an existing collection)
  const b0 = process.hrtime.bigint();
  await pg.query(`SELECT public.evp_add_gin_indexes('${MONGO_DB}.${table}'::regclass)`);
  console.log(`building both GIN indexes on the loaded ${DOCS}-doc table: ${(ms(b0) / 1000).toFixed(2)} s`);
  await client.close();
}

async function cleanup() {
  if (pg) await pg.end().catch(() => {});
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  await pgAdmin(`DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`).catch((e) => console.error(`drop ${pgDb}: ${e.message}`));
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
}

main()
  .then(cleanup)
  .catch(async (e) => {
    console.error(`probe failed: ${e.stack || e.message}`);
    await cleanup();
    process.exit(1);
  });

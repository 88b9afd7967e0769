#!/usr/bin/env node
/*
 * FerretDB backend comparison: PostgreSQL vs SQLite, for the write pattern of the event worker
 * (insertMany of 100 event documents, ordered: false).
 *
 * Starts two private FerretDB instances (binary from `bash scripts/services.sh ferretdb-bin`) on
 * ports 27150 (postgresql, throw-away database ferretdb_bench_<pid>) and 27151 (sqlite, temp
 * folder), inserts the same documents into each, prints docs/s, then stops them and removes their
 * storage. Rounds alternate between backends so that machine noise hits both alike.
 *
 *   node scripts/ferretdb-backend-bench.js [--docs 20000] [--batch 100] [--rounds 3] [--no-indexes]
 *
 * Env: DATABASE_URL (PostgreSQL server to use, default postgresql://postgres@127.0.0.1:5432/...),
 *      BENCH_PG_PORT (27150), BENCH_SQLITE_PORT (27151).
 */
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { MongoClient, BSON } = require('mongodb');
const { Client: PgClient } = require('pg');

const ROOT = path.resolve(__dirname, '..');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const DOCS = arg('docs', 20000);
const BATCH = arg('batch', 100);
const ROUNDS = arg('rounds', 3);
const INDEXES = !process.argv.includes('--no-indexes');
const PG_PORT = Number(process.env.BENCH_PG_PORT || 27150);
const SQLITE_PORT = Number(process.env.BENCH_SQLITE_PORT || 27151);

const pgBase = new URL(process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/event_processor');
pgBase.search = '';
const benchDb = `ferretdb_bench_${process.pid}`;
const pgAdminUrl = Object.assign(new URL(pgBase), { pathname: '/postgres' }).toString();
const pgFerretUrl = Object.assign(new URL(pgBase), { pathname: `/${benchDb}`, protocol: 'postgres:' }).toString();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- documents --------------------------------------------------------------------------------

// Small deterministic PRNG so both backends (and reruns) get identical documents.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EVENT_TYPES = ['page_view', 'click', 'add_to_cart', 'purchase', 'signup', 'login', 'search', 'video_play'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'PL', 'ES', 'IT', 'SE', 'BR'];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0',
];

function makeDocs(n, seed, users = 5000) {
  const r = rng(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const hex = (len) => Array.from({ length: len }, () => Math.floor(r() * 16).toString(16)).join('');
  const t0 = Date.UTC(2025, 0, 1);
  const docs = [];
  for (let i = 0; i < n; i++) {
    const ts = new Date(t0 + Math.floor(r() * 30 * 86400e3));
    const eventType = pick(EVENT_TYPES);
    docs.push({
      _id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      eventType,
      userId: `user_${Math.floor(r() * users)}`,
      sessionId: `sess_${hex(16)}`,
      timestamp: ts,
      metadata: {
        source: pick(['web', 'ios', 'android']),
        appVersion: `3.${Math.floor(r() * 20)}.${Math.floor(r() * 10)}`,
        ip: `10.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
        country: pick(COUNTRIES),
        userAgent: pick(AGENTS),
      },
      payload: {
        page: `/products/${Math.floor(r() * 1000)}`,
        referrer: r() < 0.5 ? 'https://www.google.com/' : null,
        durationMs: Math.floor(r() * 60000),
        ...(eventType === 'purchase' ? { amount: Math.round(r() * 50000) / 100 } : {}),
        tags: [pick(['promo', 'organic', 'email', 'ads']), pick(['new', 'returning'])],
      },
      priority: Math.floor(r() * 3),
      receivedAt: new Date(ts.getTime() + Math.floor(r() * 2000)),
    });
  }
  return docs;
}

// ---- FerretDB processes -------------------------------------------------------------------------

const children = [];
let tmpDir = null;
let pgDbCreated = false;

async function pgAdmin(sql) {
  const c = new PgClient({ connectionString: pgAdminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function startFerret(bin, name, port, handlerArgs, logDir = tmpDir) {
  const logPath = path.join(logDir, `${name}.log`);
  const out = fs.openSync(logPath, 'a');
  const child = spawn(bin, ['-listen', `127.0.0.1:${port}`, ...handlerArgs], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.push(child);
  child.logPath = logPath;
  return child;
}

async function connect(name, port, child) {
  const uri = `mongodb://127.0.0.1:${port}/bench?directConnection=true`;
  const deadline = Date.now() + 30000;
  let lastErr;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1000, maxPoolSize: 4 });
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
      return client;
    } catch (e) {
      lastErr = e;
      await client.close().catch(() => {});
      await sleep(200);
    }
  }
  const tail = fs.existsSync(child.logPath) ? fs.readFileSync(child.logPath, 'utf8').split('\n').slice(-15).join('\n') : '';
  throw new Error(`${name} FerretDB on :${port} did not answer (${lastErr && lastErr.message}); log ${child.logPath}:\n${tail}`);
}

async function cleanup() {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await Promise.race([new Promise((r) => c.once('exit', r)), sleep(10000)]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
  }
  if (pgDbCreated) {
    await pgAdmin(`DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`).catch((e) => console.error(`drop ${benchDb}: ${e.message}`));
    pgDbCreated = false;
  }
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = null;
}

// ---- measurement --------------------------------------------------------------------------------

async function insertRound(client, collName, docs) {
  const coll = client.db('bench').collection(collName);
  await coll.drop().catch(() => {});
  await client.db('bench').createCollection(collName);
  if (INDEXES) {
    await coll.createIndexes([
      { key: { userId: 1, timestamp: -1 }, name: 'userId_timestamp' },
      { key: { eventType: 1, timestamp: -1 }, name: 'eventType_timestamp' },
    ]);
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < docs.length; i += BATCH) {
    await coll.insertMany(docs.slice(i, i + BATCH), { ordered: false });
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const count = await coll.countDocuments({});
  if (count !== docs.length) throw new Error(`${collName}: expected ${docs.length} documents, found ${count}`);
  // one read, for orientation: an analytics-style aggregation over the whole collection
  const q0 = process.hrtime.bigint();
  await coll.aggregate([{ $match: { eventType: 'purchase' } }, { $group: { _id: '$metadata.country', n: { $sum: 1 } } }]).toArray();
  const aggMs = Number(process.hrtime.bigint() - q0) / 1e6;
  await coll.drop();
  return { secs, rate: docs.length / secs, aggMs };
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main() {
  const bin = execFileSync('bash', [path.join(ROOT, 'scripts/services.sh'), 'ferretdb-bin'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferretdb-bench-'));
  const sqliteDir = path.join(tmpDir, 'sqlite');
  fs.mkdirSync(sqliteDir);

  await pgAdmin(`CREATE DATABASE ${benchDb}`);
  pgDbCreated = true;

  const pgChild = startFerret(bin, 'postgresql', PG_PORT, ['-handler', 'postgresql', '-postgresql-url', pgFerretUrl]);
  const sqChild = startFerret(bin, 'sqlite', SQLITE_PORT, ['-handler', 'sqlite', '-sqlite-url', `file:${sqliteDir}/`]);
  const clients = {
    postgresql: await connect('postgresql', PG_PORT, pgChild),
    sqlite: await connect('sqlite', SQLITE_PORT, sqChild),
  };

  const docs = makeDocs(DOCS, 42);
  const avgSize = Math.round(docs.slice(0, 1000).reduce((s, d) => s + BSON.calculateObjectSize(d), 0) / Math.min(1000, docs.length));
  console.log(
    `FerretDB backend bench: ${DOCS} docs (~${avgSize} B BSON each), insertMany batches of ${BATCH}, ordered:false, ` +
      `${INDEXES ? '2 secondary indexes' : 'no secondary index'}, ${ROUNDS} round(s) each; ` +
      `${os.cpus().length} CPUs, node ${process.version}`,
  );

  // warm-up: first statements on a fresh backend pay for catalog setup
  for (const [name, client] of Object.entries(clients)) await insertRound(client, 'warmup', docs.slice(0, 500)).catch((e) => {
    throw new Error(`${name} warm-up: ${e.message}`);
  });

  const results = { postgresql: [], sqlite: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? ['postgresql', 'sqlite'] : ['sqlite', 'postgresql'];
    for (const name of order) {
      const r = await insertRound(clients[name], `events_r${round}`, docs);
      results[name].push(r);
      console.log(`  round ${round} ${name.padEnd(10)} ${r.rate.toFixed(0).padStart(7)} docs/s  (${r.secs.toFixed(2)} s; aggregate ${r.aggMs.toFixed(0)} ms)`);
    }
  }
  for (const c of Object.values(clients)) await c.close();

  const summary = {};
  for (const [name, rs] of Object.entries(results)) {
    summary[name] = { docsPerSec: Math.round(median(rs.map((r) => r.rate))), aggregateMs: Math.round(median(rs.map((r) => r.aggMs))) };
  }
  const [fast, slow] = summary.sqlite.docsPerSec >= summary.postgresql.docsPerSec ? ['sqlite', 'postgresql'] : ['postgresql', 'sqlite'];
  console.log('median:');
  for (const [name, s] of Object.entries(summary)) {
    console.log(`  ${name.padEnd(10)} ${String(s.docsPerSec).padStart(7)} docs/s   aggregate over ${DOCS} docs: ${s.aggregateMs} ms`);
  }
  console.log(`faster for inserts: ${fast} (${(summary[fast].docsPerSec / summary[slow].docsPerSec).toFixed(2)}x ${slow})`);
  console.log(JSON.stringify({ date: new Date().toISOString(), docs: DOCS, batch: BATCH, rounds: ROUNDS, indexes: INDEXES, avgDocBytes: avgSize, cpus: os.cpus().length, ...summary }));
}

// scripts/ferretdb-gin-probe.js reuses the documents and the FerretDB process helpers.
module.exports = { makeDocs, startFerret, connect, pgAdmin, pgBase, sleep, median };

if (require.main === module) {
  let exiting = false;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, async () => {
      if (exiting) return;
      exiting = true;
      await cleanup();
      process.exit(130);
    });
  }

  main()
    .then(cleanup)
    .catch(async (e) => {
      console.error(`bench failed: ${e.stack || e.message}`);
      await cleanup();
      process.exit(1);
    });
}

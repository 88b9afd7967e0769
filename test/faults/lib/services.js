'use strict';
// Services the suite owns: its PostgreSQL database (users, keys), a private redis-server, a
// private FerretDB shard, a TCP proxy in front of PostgreSQL, and read access to the shards.
// The shared Redis / PostgreSQL / FerretDB shards are never stopped or reconfigured.
const { execFile, execFileSync } = require('node:child_process');
const { promisify } = require('node:util');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('pg');
const { MongoClient } = require('mongodb');
const { CLI_JS, REPO_ROOT, pgUrl, PRIVATE_FERRETDB_DATABASE } = require('./config');
const { Child, cleanEnv } = require('./procs');
const { freePort, tcpOpen, waitFor, sleep } = require('./util');

const execFileP = promisify(execFile);

async function ensurePgDatabase(db) {
  const admin = new Client({ connectionString: pgUrl('postgres'), connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${db}"`);
  } finally {
    await admin.end();
  }
}

/** Creates (if missing) and migrates a PostgreSQL database with the project's migration runner. */
async function migrateDatabase(db) {
  await ensurePgDatabase(db);
  await execFileP(process.execPath, [path.join(REPO_ROOT, 'scripts', 'db-migrate.js')], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv(), DATABASE_URL: pgUrl(db), ENV_FILE: '/nonexistent/.env' },
  });
}

/** `node dist/cli/cli.js <args> --json` → parsed JSON output. */
async function cli(args, { databaseUrl, redisUrl }) {
  try {
    const { stdout } = await execFileP(process.execPath, [CLI_JS, ...args, '--json'], {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ENV_FILE: '/nonexistent/.env', NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) },
    });
    return JSON.parse(stdout.trim().split('\n').pop());
  } catch (err) {
    // The CLI never prints secrets on failure; its stderr says what went wrong.
    throw new Error(`cli ${args[0]} failed: ${err.stderr || err.message}`);
  }
}

async function pgCount(db, table) {
  const c = new Client({ connectionString: pgUrl(db), connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM "${table}"`);
    return rows[0].n;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------

/** redis-server on a free port with its own data directory (AOF settings chosen by the scenario). */
class PrivateRedis {
  constructor(logDir, { appendfsync = 'always' } = {}) {
    this.logDir = logDir;
    this.appendfsync = appendfsync;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evp-faults-redis-'));
    this.port = 0;
    this.child = undefined;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    if (!this.child) {
      const args = [
        '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
        '--appendonly', 'yes', '--appendfsync', this.appendfsync, '--save', '', '--daemonize', 'no',
        '--protected-mode', 'no', '--loglevel', 'notice',
      ];
      this.child = new Child('redis-private', 'redis-server', args, { env: cleanEnv(), logFile: path.join(this.logDir, 'redis-private.log') });
    }
    this.child.start();
    await waitFor(`private redis on :${this.port}`, async () => {
      if (!this.child.running) throw Object.assign(new Error(`redis-server exited:\n${this.child.tail()}`), { fatal: true });
      const { stdout } = await execFileP('redis-cli', ['-p', String(this.port), 'PING']).catch(() => ({ stdout: '' }));
      return stdout.trim() === 'PONG';
    }, 20_000, 100);
  }

  /** SIGTERM = SHUTDOWN (AOF flushed); SIGKILL = crash. */
  async stop(signal = 'SIGTERM') {
    return this.child?.stop(signal);
  }

  async destroy() {
    await this.stop('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let ferretBinary;
function ferretdbBinary() {
  ferretBinary ??= execFileSync('bash', ['scripts/services.sh', 'ferretdb-bin'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop();
  return ferretBinary;
}

/** A FerretDB process of our own (PostgreSQL backend, database ferretdb_faults_private). */
class PrivateFerretDb {
  constructor(logDir) {
    this.logDir = logDir;
    this.port = 0;
    this.child = undefined;
  }

  async start() {
    if (!this.child) {
      await ensurePgDatabase(PRIVATE_FERRETDB_DATABASE);
      this.port = await freePort();
      const args = ['-listen', `127.0.0.1:${this.port}`, '-handler', 'postgresql', '-postgresql-url', pgUrl(PRIVATE_FERRETDB_DATABASE), '-log-level', 'error'];
      this.child = new Child('ferretdb-private', ferretdbBinary(), args, { env: cleanEnv(), logFile: path.join(this.logDir, 'ferretdb-private.log') });
    }
    this.child.start();
    await waitFor(`private FerretDB on :${this.port}`, async () => {
      if (!this.child.running) throw Object.assign(new Error(`ferretdb exited:\n${this.child.tail()}`), { fatal: true });
      return tcpOpen(this.port);
    }, 20_000, 100);
  }

  hostPort() {
    return `127.0.0.1:${this.port}`;
  }

  async stop(signal = 'SIGKILL') {
    return this.child?.stop(signal);
  }
}

/**
 * TCP proxy to PostgreSQL that the scenario can break:
 *   up        forwards;
 *   refuse    no listener (connection refused) and every open connection cut;
 *   blackhole accepts connections and never answers (a hung server / dropped packets).
 */
class PgProxy {
  constructor(targetPort = 5432, targetHost = '127.0.0.1') {
    this.target = { port: targetPort, host: targetHost };
    this.port = 0;
    this.mode = 'down';
    this.server = undefined;
    this.sockets = new Set();
  }

  async listen() {
    if (!this.port) this.port = await freePort();
    this.server = net.createServer((client) => this.onClient(client));
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
  }

  onClient(client) {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.mode === 'blackhole') return; // never forwards, never answers
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async up() {
    this.cutAll();
    if (!this.server) await this.listen();
    this.mode = 'up';
  }

  async refuse() {
    this.mode = 'refuse';
    await this.closeServer();
    this.cutAll();
  }

  async blackhole() {
    this.cutAll();
    if (!this.server) await this.listen();
    this.mode = 'blackhole';
  }

  cutAll() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async closeServer() {
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise((resolve) => srv.close(() => resolve()));
  }

  async destroy() {
    this.mode = 'down';
    const closing = this.closeServer();
    this.cutAll();
    await closing;
  }

  url(db) {
    return `postgresql://postgres@127.0.0.1:${this.port}/${db}`;
  }
}

// ---------------------------------------------------------------------------------------------

/** Read-side view of the shards (native driver, one client per shard URI). */
class ShardSet {
  constructor(uris) {
    this.uris = uris;
    this.clients = uris.map((u) => new MongoClient(u, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, directConnection: true }));
  }

  db(i) {
    return this.clients[i].db();
  }

  /**
   * Documents in `events` per shard, cheaply (collection statistics, no scan on MongoDB; on
   * FerretDB v1 every count scans, and collStats is the cheapest of them): for progress only.
   */
  async approxCounts() {
    return Promise.all(this.clients.map((_, i) => this.approxCount(i)));
  }

  async approxCount(i) {
    const db = this.db(i);
    try {
      const s = await db.command({ collStats: 'events' });
      return Number(s.count ?? 0);
    } catch (err) {
      if (/not found|does not exist|ns not found/i.test(err.message)) return 0;
      if (err.name === 'MongoServerError') return db.collection('events').estimatedDocumentCount();
      throw err;
    }
  }

  /** Documents in `events` on shard `i`. */
  async count(i) {
    return this.db(i).collection('events').countDocuments({});
  }

  /** Documents in `events` per shard. */
  async counts() {
    return Promise.all(this.clients.map((c) => c.db().collection('events').countDocuments({})));
  }

  async dlqCount() {
    return this.db(0).collection('events_dlq').countDocuments({});
  }

  /** Every stored event: `[shard, _id, userId, doc?]` rows, plus the DLQ documents. */
  async collect({ full = false } = {}) {
    const stored = [];
    for (let i = 0; i < this.clients.length; i++) {
      const projection = full ? {} : { _id: 1, userId: 1 };
      const docs = await this.db(i).collection('events').find({}, { projection }).toArray();
      for (const d of docs) stored.push({ shard: i, id: d._id, userId: d.userId, doc: full ? d : undefined });
    }
    const dlq = await this.db(0).collection('events_dlq').find({}).toArray();
    return { stored, dlq };
  }

  async dropAll() {
    for (const c of this.clients) await c.db().dropDatabase().catch(() => undefined);
  }

  async close() {
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
  }
}

module.exports = { ensurePgDatabase, migrateDatabase, cli, pgCount, PrivateRedis, PrivateFerretDb, PgProxy, ShardSet, sleep };

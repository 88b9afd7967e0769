'use strict';
// The isolated world of one bench run, and everything it starts:
//   - Redis logical DB 10 (FLUSHDB at start and between steps), a fresh stream key;
//   - a fresh Mongo database `evp_bench_<runId>` on each of the three shards (dropped at the end);
//   - PostgreSQL database `event_processor_bench` (migrated with `npm run db:migrate`'s script), a
//     fresh user and API key created with the operator CLI — the real auth code path;
//   - API / worker processes (`node dist/main.js`, NODE_ENV=production, LOG_LEVEL=info) and the
//     bare-Fastify baseline, logs under bench/results/logs/.
const { execFile } = require('node:child_process');
const { createHash, randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const util = require('node:util');
const Redis = require('ioredis');
// The driver mongoose itself uses (mongodb is not a direct dependency).
const { MongoClient } = require('mongoose').mongo;
const { Client: PgClient } = require('pg');
const procs = require('./procs');
const { progress } = require('./log');

const execFileP = promisify(execFile);
const REPO = procs.REPO;
const RESULTS_DIR = path.join(REPO, 'bench', 'results');
const LOG_DIR = path.join(RESULTS_DIR, 'logs');

// DB 10: no test uses it (tests take 0–9 and 11–12, the fault suite 13–15). BENCH_REDIS_DB overrides.
const BENCH_REDIS_DB = Number(process.env.BENCH_REDIS_DB ?? 10);
const BENCH_PG_DATABASE = 'event_processor_bench';
/** Leftovers of crashed runs older than this are removed at start. */
const STALE_MS = 6 * 3600_000;

/** Settings from the environment, then .env (like scripts/services.sh), then the defaults. */
function baseSettings() {
  let fileEnv = {};
  const envFile = path.join(REPO, '.env');
  if (fs.existsSync(envFile)) fileEnv = util.parseEnv(fs.readFileSync(envFile, 'utf8'));
  const get = (k, d) => process.env[k] || fileEnv[k] || d;
  return {
    redisUrl: get('REDIS_URL', 'redis://127.0.0.1:6379'),
    databaseUrl: get('DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/event_processor'),
    mongoShardUris: get(
      'MONGO_SHARD_URIS',
      'mongodb://127.0.0.1:27017/event_processor,mongodb://127.0.0.1:27018/event_processor,mongodb://127.0.0.1:27019/event_processor',
    )
      .split(',')
      .map((s) => s.trim()),
  };
}

function withPath(url, pathname) {
  const u = new URL(url);
  u.pathname = pathname;
  return u.toString();
}

/** process.env without the application's variables: children get exactly what we give them. */
function cleanEnv() {
  const ours = /^(ROLE|PORT|HEALTH_PORT|REDIS_URL|DATABASE_URL|MONGO_SHARD_URIS|JWT_SECRET|LOG_LEVEL|NODE_ENV|STREAM_|CONSUMER_GROUP|DEDUP_|BATCH_|READ_COUNT|CLAIM_IDLE_MS|MAX_|TRUST_PROXY|ENV_FILE|NODE_OPTIONS)/;
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !ours.test(k)));
}

function runIdNow() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}t${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}_${randomBytes(2).toString('hex')}`;
}

/**
 * The lock is the bench's Redis database, not the checkout: every run FLUSHDBs it, so two runs from
 * two checkouts (worktrees) on one machine would wipe each other's streams and rollups (seen: an
 * analytics run counted 160,000 of its 1,000,000 events while another checkout drained). One lock
 * file per Redis URL + DB in the machine's temp folder; BENCH_REDIS_DB gives a run its own.
 */
let LOCK_FILE = null;
function lockFileFor(redisUrl) {
  return path.join(os.tmpdir(), `evp-bench-${createHash('sha256').update(redisUrl).digest('hex').slice(0, 16)}.lock`);
}

function acquireLock(redisUrl) {
  LOCK_FILE = lockFileFor(redisUrl);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(LOCK_FILE, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(LOCK_FILE, 'utf8'));
      let holderAlive = false;
      try {
        process.kill(pid, 0);
        holderAlive = pid !== process.pid;
      } catch {
        holderAlive = false;
      }
      // Two runs would flush each other's Redis data and share the CPUs: refuse rather than measure each other.
      if (holderAlive) throw new Error(`another bench run (pid ${pid}) uses the same Redis database (lock ${LOCK_FILE}); set BENCH_REDIS_DB to run beside it`);
      fs.rmSync(LOCK_FILE, { force: true });
    }
  }
}

function releaseLock() {
  if (!LOCK_FILE) return;
  try {
    if (fs.readFileSync(LOCK_FILE, 'utf8') === String(process.pid)) fs.rmSync(LOCK_FILE);
  } catch {
    // not ours or gone
  }
}

class BenchEnv {
  constructor(plan) {
    this.plan = plan;
    this.base = baseSettings();
    this.runId = runIdNow();
    this.mongoDb = `evp_bench_${this.runId}`;
    this.streamKey = `bench_stream_${this.runId}`;
    this.redisUrl = withPath(this.base.redisUrl, `/${BENCH_REDIS_DB}`);
    this.databaseUrl = withPath(this.base.databaseUrl, `/${BENCH_PG_DATABASE}`);
    this.mongoUris = this.base.mongoShardUris.map((u) => withPath(u, `/${this.mongoDb}`));
    this.jwtSecret = randomBytes(32).toString('base64url');
    this.email = `bench-${this.runId.replace(/_/g, '-')}@bench.invalid`;
    this.logDir = LOG_DIR;
    this.redis = undefined;
    this.mongo = [];
    this.apiKey = undefined;
    this.apiKeyId = undefined;
    this.userId = undefined;
  }

  async setup() {
    if (!fs.existsSync(path.join(REPO, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
    acquireLock(this.redisUrl);
    if (!this.plan.keep) fs.rmSync(LOG_DIR, { recursive: true, force: true });
    fs.mkdirSync(LOG_DIR, { recursive: true });

    progress('setup', 'services: bash scripts/services.sh up');
    await execFileP('bash', ['scripts/services.sh', 'up'], { cwd: REPO, env: process.env, maxBuffer: 8 << 20 });

    this.redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
    await this.redis.connect();
    const found = await this.redis.dbsize();
    if (found > 0) {
      const sample = (await this.redis.scan('0', 'COUNT', 20))[1].slice(0, 5);
      progress('setup', `warning: Redis DB ${BENCH_REDIS_DB} held ${found} keys (e.g. ${sample.join(', ')}); if something else uses this DB it will disturb the bench (set BENCH_REDIS_DB)`);
    }
    await this.redis.flushdb();
    this.mongo = await Promise.all(this.mongoUris.map((uri) => MongoClient.connect(uri, { serverSelectionTimeoutMS: 10_000 })));
    await this.dropStaleDatabases();

    progress('setup', `PostgreSQL: migrating ${BENCH_PG_DATABASE}`);
    await execFileP(process.execPath, ['scripts/db-migrate.js'], {
      cwd: REPO,
      env: { ...cleanEnv(), DATABASE_URL: this.databaseUrl, ENV_FILE: '/nonexistent/.env' },
    });
    await this.removeStaleUsers();

    progress('setup', `creating user ${this.email} and an API key with the operator CLI`);
    const password = randomBytes(18).toString('base64url');
    // '--password=…': a base64url password may start with '-', which parseArgs would take for an option.
    const user = await this.cli(['user:create', '--email', this.email, `--password=${password}`, '--role', 'OPERATOR', '--name', 'bench']);
    this.userId = user.id;
    const key = await this.cli(['apikey:create', '--email', this.email, '--name', `bench ${this.runId}`]);
    this.apiKey = key.key;
    this.apiKeyId = key.id;
    progress('setup', `run ${this.runId}: Redis DB ${BENCH_REDIS_DB}, Mongo database ${this.mongoDb} on ${this.mongo.length} shards, stream ${this.streamKey}`);
  }

  async cli(args) {
    const { stdout } = await execFileP(process.execPath, ['dist/cli/cli.js', ...args, '--json'], {
      cwd: REPO,
      env: this.appEnv({}),
    });
    return JSON.parse(stdout.trim().split('\n').pop());
  }

  /** Environment of a product process (production settings, this run's data stores). */
  appEnv(extra) {
    return {
      ...cleanEnv(),
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      ENV_FILE: '/nonexistent/.env',
      REDIS_URL: this.redisUrl,
      DATABASE_URL: this.databaseUrl,
      MONGO_SHARD_URIS: this.mongoUris.join(','),
      JWT_SECRET: this.jwtSecret,
      STREAM_KEY: this.streamKey,
      ...extra,
    };
  }

  /**
   * An API process. MAX_STREAM_BACKLOG is raised because the ingestion steps run without a
   * worker: the backlog check still runs (same cost), it just never refuses.
   * @param {{name?: string, preload?: string, nodeArgs?: string[], env?: object}} o
   */
  async startApi(o = {}) {
    const port = await procs.freePort();
    const nodeArgs = [...(o.nodeArgs ?? [])];
    if (o.preload) nodeArgs.push('-r', path.join(REPO, 'bench', 'support', o.preload));
    const proc = procs.startNode({
      name: o.name ?? 'api',
      script: 'dist/main.js',
      nodeArgs,
      logDir: this.logDir,
      env: this.appEnv({ ROLE: 'api', PORT: String(port), MAX_STREAM_BACKLOG: '1000000000', ...o.env }),
    });
    proc.port = port;
    await procs.waitHttp(port, '/api/ready', { proc });
    return proc;
  }

  /** A worker process (ROLE=worker, default BATCH_SIZE etc.). */
  async startWorker(o = {}) {
    const port = await procs.freePort();
    const nodeArgs = [...(o.nodeArgs ?? [])];
    if (o.preload) nodeArgs.push('-r', path.join(REPO, 'bench', 'support', o.preload));
    const proc = procs.startNode({
      name: o.name ?? 'worker',
      script: 'dist/main.js',
      nodeArgs,
      logDir: this.logDir,
      env: this.appEnv({ ROLE: 'worker', HEALTH_PORT: String(port), ...o.env }),
    });
    proc.port = port;
    await procs.waitHttp(port, '/api/ready', { proc });
    return proc;
  }

  async startBare() {
    const port = await procs.freePort();
    const proc = procs.startNode({
      name: 'bare-fastify',
      script: 'bench/servers/bare-fastify.js',
      logDir: this.logDir,
      env: { ...cleanEnv(), PORT: String(port), NODE_ENV: 'production' },
    });
    proc.port = port;
    await procs.waitHttp(port, '/ready', { proc });
    return proc;
  }

  /** Empties Redis DB 12 (stream, dedup keys, counters, rollups, caches). */
  async flushRedis() {
    await this.redis.flushdb('ASYNC');
  }

  /** Drops the events collection on every shard (the worker re-creates it and its indexes). */
  async dropEvents() {
    await Promise.all(
      this.mongo.map((c) =>
        c
          .db(this.mongoDb)
          .collection('events')
          .drop()
          .catch((err) => {
            if (!/ns not found|NamespaceNotFound|does not exist/i.test(err.message)) throw err;
          }),
      ),
    );
  }

  async countEvents() {
    const counts = await Promise.all(this.mongo.map((c) => c.db(this.mongoDb).collection('events').countDocuments({})));
    return counts.reduce((a, b) => a + b, 0);
  }

  async dropStaleDatabases() {
    const now = Date.now();
    for (const client of this.mongo) {
      const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
      for (const { name } of databases) {
        const m = /^evp_bench_(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})_/.exec(name);
        if (!m || name === this.mongoDb) continue;
        const at = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
        if (now - at > STALE_MS) {
          progress('setup', `dropping ${name} left by an earlier run`);
          await client.db(name).dropDatabase();
        }
      }
    }
  }

  async pg(fn) {
    const client = new PgClient({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  async removeStaleUsers() {
    await this.pg((c) => c.query(`DELETE FROM users WHERE email LIKE 'bench-%@bench.invalid' AND created_at < now() - interval '6 hours'`)).catch(() => undefined);
  }

  async cleanup() {
    await procs.stopAll();
    const keep = this.plan.keep;
    const steps = [];
    if (!keep) {
      steps.push(Promise.all(this.mongo.map((c) => c.db(this.mongoDb).dropDatabase())));
      if (this.redis) steps.push(this.redis.flushdb());
      if (this.userId) steps.push(this.pg((c) => c.query('DELETE FROM users WHERE id = $1', [this.userId])));
    }
    const results = await Promise.allSettled(steps);
    for (const r of results) if (r.status === 'rejected') progress('cleanup', `warning: ${r.reason?.message ?? r.reason}`);
    await Promise.allSettled(this.mongo.map((c) => c.close()));
    if (this.redis) this.redis.disconnect();
    releaseLock();
    if (keep) progress('cleanup', `kept Mongo database ${this.mongoDb}, Redis DB ${BENCH_REDIS_DB}, logs in ${path.relative(REPO, LOG_DIR)}`);
  }
}

module.exports = { BenchEnv, RESULTS_DIR, LOG_DIR, BENCH_REDIS_DB, BENCH_PG_DATABASE, releaseLock };

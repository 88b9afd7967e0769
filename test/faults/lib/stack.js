'use strict';
// One scenario's isolated world: its own Redis database (or a private redis-server), stream key,
// Mongo database name on the shards, and the API / worker processes it starts.
const path = require('node:path');
const Redis = require('ioredis');
const { JWT_SECRET, MONGO_HOSTS } = require('./config');
const { AppProcess } = require('./procs');
const { ShardSet } = require('./services');
const { freePort } = require('./util');

class Stack {
  /**
   * ctx: {name, logDir, suffix, redisUrl, databaseUrl}. `shardHosts` replaces the shared shard
   * hosts (e.g. one private FerretDB among them).
   */
  constructor(ctx, { shardHosts = MONGO_HOSTS, redisUrl = ctx.redisUrl, databaseUrl = ctx.databaseUrl, env = {} } = {}) {
    this.ctx = ctx;
    this.mongoDb = `evp_faults_${ctx.name.replace(/[^a-z0-9]/gi, '_')}_${ctx.suffix}`;
    this.shardUris = shardHosts.map((h) => `mongodb://${h}/${this.mongoDb}`);
    this.stream = `faults_${ctx.name.replace(/[^a-z0-9]/gi, '_')}_${ctx.suffix}`;
    this.group = 'event-processors';
    this.redisUrl = redisUrl;
    this.databaseUrl = databaseUrl;
    this.extraEnv = env;
    this.procs = [];
    this.shards = new ShardSet(this.shardUris);
    // The harness's own connection: retries forever so a Redis restart does not break it.
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false, retryStrategy: () => 200 });
    this.redis.on('error', () => undefined);
  }

  env(overrides = {}) {
    return {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      ENV_FILE: '/nonexistent/.env',
      REDIS_URL: this.redisUrl,
      DATABASE_URL: this.databaseUrl,
      MONGO_SHARD_URIS: this.shardUris.join(','),
      JWT_SECRET,
      STREAM_KEY: this.stream,
      CONSUMER_GROUP: this.group,
      ...this.extraEnv,
      ...overrides,
    };
  }

  async api(name = 'api', overrides = {}) {
    const port = await freePort();
    const p = new AppProcess(name, this.env({ ROLE: 'api', PORT: String(port), ...overrides }), this.ctx.logDir);
    this.procs.push(p);
    return p;
  }

  async worker(name = 'worker', overrides = {}) {
    const port = await freePort();
    const p = new AppProcess(name, this.env({ ROLE: 'worker', HEALTH_PORT: String(port), LOG_LEVEL: 'info', ...overrides }), this.ctx.logDir);
    this.procs.push(p);
    return p;
  }

  /**
   * Writes deliberately bad entries straight into the stream (the API would refuse them):
   * unparseable JSON, an event without userId, an event whose timestamp is not a date. Each must
   * end in the DLQ. Returns Map entryId → kind, merged into `into`.
   */
  async injectPoison(into, n = 3) {
    const now = String(Date.now());
    for (let i = 0; i < n; i++) {
      const tag = `${this.ctx.suffix}-${into.size}`;
      const kind = ['unparseable', 'no-userId', 'bad-timestamp'][i % 3];
      const e =
        kind === 'unparseable'
          ? `{"eventId":"poison-${tag}", not json`
          : kind === 'no-userId'
            ? JSON.stringify({ eventId: `poison-${tag}`, eventType: 'poison', sessionId: 's', timestamp: new Date().toISOString(), priority: 1 })
            : JSON.stringify({ eventId: `poison-${tag}`, eventType: 'poison', userId: `poison-user-${i}`, sessionId: 's', timestamp: 'yesterday-ish', priority: 1 });
      const id = await this.redis.xadd(this.stream, '*', 'e', e, 'k', '', 'r', now);
      into.set(id, kind);
    }
    return into;
  }

  async stopAll(signal = 'SIGTERM') {
    await Promise.all(this.procs.map((p) => p.stop(signal)));
  }

  /** Stops processes, drops the scenario's Mongo database and Redis keys. */
  async teardown({ keepData = false } = {}) {
    await this.stopAll('SIGTERM');
    if (!keepData) {
      await this.shards.dropAll();
      await this.redis.del(this.stream, `${this.stream}:transient-failures`).catch(() => undefined);
    }
    await this.shards.close();
    this.redis.disconnect();
  }

  logFile(name) {
    return path.join(this.ctx.logDir, `${name}.log`);
  }
}

module.exports = { Stack };

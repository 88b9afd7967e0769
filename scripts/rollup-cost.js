#!/usr/bin/env node
'use strict';
// What the worker's rollup write costs per event, on the CPU of this process (building the
// script call, ioredis encoding) and of Redis (INFO cpu), for a build in dist/ — or for another
// build (`DIST=/path/to/other/dist`) to compare two versions on the same machine and data.
//
//   npm run build && redis-server --port 6390 --save '' --daemonize yes
//   REDIS_URL=redis://127.0.0.1:6390 node scripts/rollup-cost.js
//
// The Redis it is pointed at is FLUSHED: never point it at a Redis that holds data. The data:
// EVENTS events (default 120,000, the bench's drain size) of 20,000 users over the last 5
// minutes with the bench's Zipf-like mix of 36 types, split by shard (userId mod 3) into flushes
// of 100, as the drain scenario sees them. The first half fills the buckets (so repeat users take
// the merge path); the second half is measured.
const path = require('node:path');
const Redis = require('ioredis');

const DIST = path.resolve(process.env.DIST || path.join(__dirname, '..', 'dist'));
const { RedisRollupWriter } = require(path.join(DIST, 'analytics/rollups/redis-rollup.writer.js'));
const { RedisKeys } = require(path.join(DIST, 'redis/redis-keys.js'));

const EVENTS = Number(process.env.EVENTS || 120_000);
const FLUSH = 100;
const USERS = 20_000;
const SHARDS = 3;

function events() {
  let seed = 7;
  const r = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const types = Array.from({ length: 36 }, (_, i) => `type.${i}`);
  const weights = types.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const pickType = () => {
    let x = r() * total;
    for (let i = 0; i < weights.length; i++) if ((x -= weights[i]) <= 0) return types[i];
    return types[0];
  };
  const now = Date.now();
  const perShard = Array.from({ length: SHARDS }, () => []);
  for (let n = 0; n < EVENTS; n++) {
    const u = (n * 7919) % USERS;
    perShard[u % SHARDS].push({
      _id: `rc-${n}-${now}`,
      eventType: pickType(),
      userId: `user_${String(u).padStart(6, '0')}`,
      sessionId: `sess_${u.toString(36)}_${Math.floor(r() * 4)}`,
      timestamp: new Date(now - Math.floor(r() * 300_000)),
    });
  }
  const flushes = [];
  const rounds = Math.max(...perShard.map((docs) => Math.ceil(docs.length / FLUSH)));
  for (let b = 0; b < rounds; b++) {
    for (let s = 0; s < SHARDS; s++) {
      const docs = perShard[s].slice(b * FLUSH, (b + 1) * FLUSH);
      if (docs.length > 0) flushes.push({ shard: { index: s, name: `mongo-shard-${s}` }, docs });
    }
  }
  return flushes;
}

async function redisCpuMicros(redis) {
  const info = await redis.info('cpu');
  const field = (k) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)[1]);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

(async () => {
  const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6390');
  await redis.flushdb();
  const writer = new RedisRollupWriter(redis, new RedisKeys('events_stream', 1));
  const flushes = events();
  const half = Math.floor(flushes.length / 2);
  for (const f of flushes.slice(0, half)) await writer.apply(f.shard, f.docs);

  const measured = flushes.slice(half);
  const n = measured.reduce((a, f) => a + f.docs.length, 0);
  const cpu0 = process.cpuUsage();
  const redis0 = await redisCpuMicros(redis);
  const t0 = performance.now();
  for (const f of measured) await writer.apply(f.shard, f.docs);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const redisMicros = (await redisCpuMicros(redis)) - redis0;
  const memory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
  const round = (v) => Math.round(v * 10) / 10;
  console.log(
    JSON.stringify({
      dist: DIST,
      measuredEvents: n,
      workerCpuMicrosPerEvent: round((cpu.user + cpu.system) / n),
      redisCpuMicrosPerEvent: round(redisMicros / n),
      wallMicrosPerEvent: round((wall * 1000) / n),
      redisUsedMemoryMb: round(memory / 1e6),
    }),
  );
  await redis.flushdb();
  await redis.quit();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});

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
// EVENTS events (default 120,000, the bench's drain size) from the bench's generator (20,000
// users, its event mix, timestamps over the last 5 minutes) as the worker's documents, routed
// to 3 shards and cut into flushes of 100, as the drain scenario's worker sees them. The first half fills the buckets (so repeat users take
// the merge path); the second half is measured.
const path = require('node:path');
const Redis = require('ioredis');

const DIST = path.resolve(process.env.DIST || path.join(__dirname, '..', 'dist'));
const { RedisRollupWriter } = require(path.join(DIST, 'analytics/rollups/redis-rollup.writer.js'));
const { RedisKeys } = require(path.join(DIST, 'redis/redis-keys.js'));
const { chunk, documentsPerShard } = require('../bench/lib/documents');
const { EventGenerator } = require('../bench/lib/payloads');

const EVENTS = Number(process.env.EVENTS || 120_000);
const FLUSH = 100;
const SHARDS = 3;

/**
 * The bench's documents (bench/lib: its event mix and users, the worker's document and shard
 * routing), in flushes of 100 per shard, taking the shards in turn.
 */
function flushes() {
  const gen = new EventGenerator({ users: 20_000 });
  const perShard = documentsPerShard({ gen, count: EVENTS, shards: SHARDS, apiKeyId: null }).map((docs) => chunk(docs, FLUSH));
  const out = [];
  for (let i = 0; i < Math.max(...perShard.map((c) => c.length)); i++) {
    perShard.forEach((c, index) => {
      if (c[i]) out.push({ shard: { index, name: `mongo-shard-${index}` }, docs: c[i] });
    });
  }
  return out;
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
  const all = flushes();
  const half = Math.floor(all.length / 2);
  for (const f of all.slice(0, half)) await writer.apply(f.shard, f.docs);

  const measured = all.slice(half);
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

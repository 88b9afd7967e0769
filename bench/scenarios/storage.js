'use strict';
// Storage ceiling (contract §7, issue 5): the same documents the worker would write, with the raw
// driver's insertMany in batches of BATCH_SIZE (100, the default), ordered: false, into the same
// three shards with the same indexes, routed like the worker. Two batches in flight per shard —
// the most the worker holds (BATCH_SIZE × shards × 2 + READ_COUNT entries). Then the same with
// the worker's rollup write (RedisRollupWriter.apply) after each insert, as the worker does it.
const { documentsPerShard, ensureEventIndexes, chunk, EVENTS_COLLECTION, dist } = require('../lib/documents');
const { progress, fmt } = require('../lib/log');
const { Samples } = require('../lib/stats');

const S = 'storage';
const BATCH_SIZE = 100;
const LANES_PER_SHARD = 2;

async function insertAll(ctx, perShard, { rollups, label }) {
  const { env } = ctx;
  const collections = env.mongo.map((c) => c.db(env.mongoDb).collection(EVENTS_COLLECTION));
  await Promise.all(collections.map((c) => ensureEventIndexes(c)));
  const total = perShard.reduce((n, d) => n + d.length, 0);
  const batchLatency = new Samples();
  let done = 0;
  const started = performance.now();
  const ticker = setInterval(() => {
    const s = (performance.now() - started) / 1000;
    progress(S, `${label}: ${fmt(done)}/${fmt(total)} docs, ${fmt(done / s)} docs/s`);
  }, 2000);
  try {
    await Promise.all(
      perShard.map(async (docs, shardIndex) => {
        const queue = chunk(docs, BATCH_SIZE);
        const shard = { index: shardIndex, name: `mongo-shard-${shardIndex}` };
        const lane = async () => {
          for (let batch = queue.shift(); batch; batch = queue.shift()) {
            const t = performance.now();
            await collections[shardIndex].insertMany(batch, { ordered: false });
            if (rollups) await rollups.apply(shard, batch);
            batchLatency.push(performance.now() - t);
            done += batch.length;
          }
        };
        await Promise.all(Array.from({ length: LANES_PER_SHARD }, lane));
      }),
    );
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - started) / 1000;
  return { docs: total, seconds, docsPerSecond: total / seconds, batchLatencyMs: batchLatency.summary() };
}

/**
 * One raw insertMany measurement of `count` fresh documents into empty events collections (the
 * drain scenario interleaves these with its drains, see drain.js).
 */
async function rawRound(ctx, count, label) {
  const { env, gen } = ctx;
  await env.dropEvents();
  const r = await insertAll(ctx, documentsPerShard({ gen, count, shards: env.mongo.length, apiKeyId: env.apiKeyId }), { label });
  await env.dropEvents();
  return r;
}

async function run(ctx) {
  const { plan, env, report, gen } = ctx;
  const make = () =>
    documentsPerShard({ gen, count: plan.storageEvents, shards: env.mongo.length, apiKeyId: env.apiKeyId });

  progress(S, `raw insertMany of ${fmt(plan.storageEvents)} worker-shaped documents, batches of ${BATCH_SIZE}, ${LANES_PER_SHARD} in flight per shard`);
  const raw = await rawRound(ctx, plan.storageEvents, 'raw insertMany');

  const { RedisRollupWriter } = dist('analytics/rollups/redis-rollup.writer.js');
  const { RedisKeys } = dist('redis/redis-keys.js');
  const rollups = new RedisRollupWriter(env.redis, new RedisKeys(env.streamKey, 1));
  progress(S, 'the same with the worker rollup write after each insert');
  const withRollups = await insertAll(ctx, make(), { rollups, label: 'insertMany + rollups' });
  await env.dropEvents();
  await env.flushRedis();

  ctx.results.storageRaw = raw.docsPerSecond;
  report.figure({ id: 'storage.raw.docs_per_s', scenario: S, name: `raw insertMany, batches of ${BATCH_SIZE} (storage ceiling)`, value: raw.docsPerSecond, unit: 'docs/s' });
  report.figure({
    id: 'storage.raw_rollups.docs_per_s',
    scenario: S,
    name: 'raw insertMany + rollup write per batch',
    value: withRollups.docsPerSecond,
    unit: 'docs/s',
    baseline: { name: 'raw insertMany', value: raw.docsPerSecond },
    ratio: Math.round((withRollups.docsPerSecond / raw.docsPerSecond) * 1000) / 1000,
    note: 'rollup cost measured outside the worker (same documents, same code)',
  });
  report.detail(S, { batchSize: BATCH_SIZE, lanesPerShard: LANES_PER_SHARD, raw, withRollups });
}

module.exports = { run, name: S, rawRound };

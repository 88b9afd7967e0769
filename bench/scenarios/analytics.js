'use strict';
// Analytics latency (issue 6) on a pre-loaded data set: N events (default 1,000,000; quick 20,000)
// spread evenly over the last 7 days, USERS users, the load generator's event mix. The data set
// is written through the worker's own code (dist): toStoredDocument, routed with the
// ShardRouter's hash, insertMany into the three shards (with the worker's indexes), and
// RedisRollupWriter.apply with the same documents — batches of 1,000 instead of the worker's
// 100, only to load faster. Then, one request at a time on a keep-alive connection (latency, not
// throughput): /analytics/metrics?timeRange=7d with the answer cache emptied before each
// request (uncached) and served from it (cached, only HITs counted), and
// /analytics/users/:id/events for random users.
const http = require('node:http');
const { documentsPerShard, ensureEventIndexes, chunk, EVENTS_COLLECTION, dist } = require('../lib/documents');
const { progress, fmt } = require('../lib/log');
const { Samples } = require('../lib/stats');
const { userIdOf } = require('../lib/payloads');

const S = 'analytics';
const LOAD_BATCH = 1000;
const LOAD_CHUNK = 50_000;
const LANES_PER_SHARD = 2;

function get(agent, port, pathName, headers) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    http
      .get({ host: '127.0.0.1', port, path: pathName, agent, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: performance.now() - t }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function loadDataSet(ctx) {
  const { plan, env, gen } = ctx;
  const { RedisRollupWriter } = dist('analytics/rollups/redis-rollup.writer.js');
  const { RedisKeys } = dist('redis/redis-keys.js');
  const rollups = new RedisRollupWriter(env.redis, new RedisKeys(env.streamKey, 1));
  const collections = env.mongo.map((c) => c.db(env.mongoDb).collection(EVENTS_COLLECTION));
  await Promise.all(collections.map((c) => ensureEventIndexes(c)));

  const total = plan.analyticsEvents;
  const spanMs = plan.analyticsDays * 86_400_000;
  // Within the last 7 days, leaving a minute at each end so the 7d window surely holds them all.
  const end = Date.now() - 60_000;
  const start = end - spanMs + 120_000;
  const timestampOf = (i) => Math.floor(start + ((i + Math.random()) / total) * (end - start));
  const started = performance.now();
  let done = 0;
  let lastPrint = started;
  for (let offset = 0; offset < total; offset += LOAD_CHUNK) {
    const count = Math.min(LOAD_CHUNK, total - offset);
    const perShard = documentsPerShard({ gen, count, shards: env.mongo.length, apiKeyId: env.apiKeyId, timestampOf: (i) => timestampOf(offset + i) });
    await Promise.all(
      perShard.map(async (docs, shardIndex) => {
        const queue = chunk(docs, LOAD_BATCH);
        const shard = { index: shardIndex, name: `mongo-shard-${shardIndex}` };
        const lane = async () => {
          for (let batch = queue.shift(); batch; batch = queue.shift()) {
            await collections[shardIndex].insertMany(batch, { ordered: false });
            await rollups.apply(shard, batch);
            done += batch.length;
            const now = performance.now();
            if (now - lastPrint >= 5000) {
              lastPrint = now;
              progress(S, `loading the data set: ${fmt(done)}/${fmt(total)} events, ${fmt((done * 1000) / (now - started))} events/s`);
            }
          }
        };
        await Promise.all(Array.from({ length: LANES_PER_SHARD }, lane));
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  progress(S, `data set loaded: ${fmt(total)} events in ${seconds.toFixed(1)} s`);
  return { events: total, seconds, eventsPerSecond: total / seconds };
}

async function clearAnswerCache(redis) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'analytics:cache:*', 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

async function run(ctx) {
  const { plan, env, report } = ctx;
  await env.flushRedis();
  await env.dropEvents();
  const loaded = await loadDataSet(ctx);
  const api = await ctx.ensureApi();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { 'x-api-key': env.apiKey };
  const metricsPath = '/api/v1/analytics/metrics?timeRange=7d';

  // Warm-up and a correctness check: the 7d total must be the data set.
  await clearAnswerCache(env.redis);
  const first = await get(agent, api.port, metricsPath, headers);
  if (first.status !== 200) throw new Error(`metrics answered ${first.status}: ${first.body.slice(0, 300)}`);
  const totalEvents = JSON.parse(first.body).data.totalEvents;
  if (totalEvents !== loaded.events) progress(S, `WARNING: metrics?timeRange=7d says totalEvents=${totalEvents}, the data set has ${loaded.events}`);
  for (let i = 0; i < 3; i++) await get(agent, api.port, `/api/v1/analytics/users/${userIdOf(i)}/events`, headers);

  const uncached = new Samples(1024);
  const statuses = { uncached: {}, cached: {}, userEvents: {} };
  progress(S, `metrics?timeRange=7d uncached: ${plan.uncachedSamples} requests, cache emptied before each`);
  const budget = () => {
    const until = performance.now() + plan.sampleBudgetSeconds * 1000;
    return (i) => i < 20 || performance.now() < until;
  };
  let within = budget();
  for (let i = 0; i < plan.uncachedSamples && within(i); i++) {
    await clearAnswerCache(env.redis);
    const r = await get(agent, api.port, metricsPath, headers);
    statuses.uncached[r.status] = (statuses.uncached[r.status] ?? 0) + 1;
    if (r.status === 200 && r.headers['x-analytics-cache'] === 'MISS') uncached.push(r.ms);
  }

  const cached = new Samples(4096);
  progress(S, `metrics?timeRange=7d cached: ${plan.cachedSamples} requests`);
  let misses = 0;
  await get(agent, api.port, metricsPath, headers);
  within = budget();
  for (let i = 0; i < plan.cachedSamples && within(i); i++) {
    const r = await get(agent, api.port, metricsPath, headers);
    statuses.cached[r.status] = (statuses.cached[r.status] ?? 0) + 1;
    if (r.status === 200 && r.headers['x-analytics-cache'] === 'HIT') cached.push(r.ms);
    else misses++;
  }

  const userEvents = new Samples(4096);
  progress(S, `users/:id/events: ${plan.userEventsSamples} requests for random users`);
  let eventsReturned = 0;
  within = budget();
  for (let i = 0; i < plan.userEventsSamples && within(i); i++) {
    const user = userIdOf(Math.floor(Math.random() * plan.users));
    const r = await get(agent, api.port, `/api/v1/analytics/users/${user}/events`, headers);
    statuses.userEvents[r.status] = (statuses.userEvents[r.status] ?? 0) + 1;
    if (r.status === 200) {
      userEvents.push(r.ms);
      eventsReturned += JSON.parse(r.body).data.events.length;
    }
  }
  agent.destroy();

  const size = `${fmt(loaded.events)} events`;
  // Latencies are of 200 answers only; any other answer is named in the note (and in details).
  const failed = (st) => {
    const bad = Object.entries(st).filter(([code]) => code !== '200');
    return bad.length > 0 ? { note: `non-200 answers: ${bad.map(([c, n]) => `${n}× ${c}`).join(', ')}` } : {};
  };
  report.figure({ id: 'analytics.metrics7d.uncached.p95', scenario: S, name: `metrics?timeRange=7d uncached p95 (${size})`, value: uncached.percentile(95), unit: 'ms', target: { op: '<', value: 200, unit: 'ms', source: 'issue 6 (1M events)' }, ...failed(statuses.uncached) });
  report.figure({ id: 'analytics.metrics7d.cached.p95', scenario: S, name: `metrics?timeRange=7d cached p95 (${size})`, value: cached.percentile(95), unit: 'ms', target: { op: '<', value: 5, unit: 'ms', source: 'issue 6' }, ...failed(statuses.cached) });
  report.figure({ id: 'analytics.user_events.p95', scenario: S, name: `users/:id/events p95 (${size})`, value: userEvents.percentile(95), unit: 'ms', target: { op: '<', value: 50, unit: 'ms', source: 'issue 6 (1M events)' }, ...failed(statuses.userEvents) });
  report.detail(S, {
    dataSet: { ...loaded, users: plan.users, days: plan.analyticsDays, loadBatch: LOAD_BATCH, writtenThrough: 'toStoredDocument + insertMany + RedisRollupWriter.apply (dist)' },
    metricsTotalEvents: totalEvents,
    uncachedMs: uncached.summary(),
    cachedMs: cached.summary(),
    cachedMisses: misses,
    userEventsMs: userEvents.summary(),
    userEventsAverageReturned: userEvents.length ? Math.round((eventsReturned / userEvents.length) * 10) / 10 : 0,
    statuses,
  });
  await env.flushRedis();
  await env.dropEvents();
}

module.exports = { run, name: S };

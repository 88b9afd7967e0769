'use strict';
const { parseArgs } = require('node:util');

const SCENARIOS = ['ingest', 'redis', 'storage', 'drain', 'lag', 'analytics'];

const USAGE = `Usage: npm run bench -- [--quick] [--only a,b] [options]

Scenarios (in run order): ${SCENARIOS.join(', ')}
  ingest     bare-Fastify baseline, single-event ingest (with and without auth), batches 10/100/1000, API RSS
  redis      redis-benchmark -P 32 XADD (Redis ceiling; skipped when the binary is absent)
  storage    raw driver insertMany into the three shards (storage ceiling), and with rollups
  drain      worker drain with 1, 2, 3 worker processes, and 1 worker without rollups
  lag        end-to-end lag (202 -> document visible) at ~50% of the 1-worker drain rate
  analytics  metrics?timeRange=7d uncached/cached and users/:id/events on a pre-loaded data set

Options:
  --quick                    every scenario for a few seconds on small data (CI)
  --only <list>              comma-separated scenarios to run
  --duration <s>             measured seconds per load step (default 10, quick 3)
  --analytics-events <n>     size of the analytics data set (default 1000000, quick 20000)
  --drain-events <n>         events pre-filled per drain measurement (default 120000, quick 10000)
  --storage-events <n>       documents per storage-ceiling measurement (default 200000, quick 10000)
  --cpu-prof                 CPU-profile the API during the ingest scenario; summary in the results
  --keep                     keep the Mongo database, Redis DB and logs (debugging)
  -h, --help`;

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      duration: { type: 'string' },
      'analytics-events': { type: 'string' },
      'drain-events': { type: 'string' },
      'storage-events': { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true, usage: USAGE };

  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : SCENARIOS;
  const unknown = only.filter((s) => !SCENARIOS.includes(s));
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);

  const quick = values.quick;
  const num = (name, fallback) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const duration = num('duration', quick ? 3 : 10);

  const plan = {
    quick,
    scenarios: SCENARIOS.filter((s) => only.includes(s)),
    cpuProf: values['cpu-prof'],
    keep: values.keep,
    connections: 50,
    // Load steps: a warm-up (JIT, connection setup) that is thrown away, then the measured part.
    warmupFirst: quick ? 1 : 5,
    warmup: quick ? 1 : 2,
    duration,
    // Paired comparisons (bare vs API, auth vs no auth) alternate in rounds so that a noisy
    // neighbour hits both sides alike.
    rounds: quick ? 1 : 3,
    batchSizes: [10, 100, 1000],
    batchDuration: values.duration ? duration : quick ? 3 : 15,
    redisBenchmarkRequests: quick ? 200_000 : 1_000_000,
    storageEvents: Math.round(num('storage-events', quick ? 10_000 : 200_000)),
    drainEvents: Math.round(num('drain-events', quick ? 10_000 : 120_000)),
    workerCounts: [1, 2, 3],
    // 58 + 2 s warm-up: the worker RSS is read after 60 s of steady load (issue 5).
    lagDuration: quick ? 5 : 58,
    analyticsEvents: Math.round(num('analytics-events', quick ? 20_000 : 1_000_000)),
    analyticsDays: 7,
    uncachedSamples: quick ? 10 : 30,
    cachedSamples: quick ? 100 : 500,
    userEventsSamples: quick ? 100 : 200,
    // Sequential latency samples stop early after this long (at least 20 are taken): a slow
    // endpoint on a big data set must not hold the run for many minutes.
    sampleBudgetSeconds: quick ? 20 : 90,
    users: 20_000,
  };
  return { help: false, plan };
}

module.exports = { parse, SCENARIOS, USAGE };

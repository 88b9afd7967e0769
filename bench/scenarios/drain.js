'use strict';
// Worker drain (issues 5 and 6): the stream is pre-filled with the product's ingest script
// (same Lua path as the API, see lib/direct-ingest.js) while the worker processes are already
// started and frozen (SIGSTOP) — so boot time is not measured — then continued (SIGCONT) and
// timed until the consumer group has everything acked. 1 worker with rollups and 1 with the
// rollup write stubbed out (bench/support/preload-no-rollups.js), alternating in rounds, then 2
// and 3 workers. Each drain
// starts from an empty Redis DB and empty events collections, and ends with a check that the
// stored documents equal the accepted events.
//
// The baseline of the 1-worker drain (raw insertMany, as in storage.js) is measured inside the
// same rounds, between the drain with rollups and the one without, with as many documents as a
// drain stores: raw insertMany varies by ±10% between rounds of one run here (5,125 / 5,913 /
// 6,099 docs/s) and slows as the collections grow (the storage scenario's 200,000 documents:
// 5,237), so a baseline taken once, at the start and on more data, was not the drain's.
const { createDirectIngest } = require('../lib/direct-ingest');
const { progress, fmt } = require('../lib/log');
const { rssMb, stop } = require('../lib/procs');
const { ratio, Samples } = require('../lib/stats');
const { streamProgress } = require('../lib/stream');
const { BENCH_REDIS_DB } = require('../lib/env');
const { workerLogIssues } = require('../lib/worker-logs');
const { cpuSnapshot, cpuBetween, describeCores } = require('../lib/cpu');
const { rawRound } = require('./storage');

const S = 'drain';
const GROUP = 'event-processors';
const DESIGN_RATE_PER_WORKER = 2_000;

async function drainOnce(ctx, { workers, preload, label, events }) {
  const { env, gen } = ctx;
  await env.flushRedis();
  await env.dropEvents();
  progress(S, `${label}: starting ${workers} worker process(es)`);
  const procs = await Promise.all(
    Array.from({ length: workers }, (_, i) => env.startWorker({ name: `worker-${label.replace(/[^a-z0-9]+/gi, '-')}-${i + 1}`, preload })),
  );
  for (const p of procs) p.child.kill('SIGSTOP');

  const direct = await createDirectIngest(env);
  let fill;
  try {
    fill = await direct.fill({ gen, total: events, batchSize: 100, concurrency: 16 });
  } finally {
    await direct.close();
  }
  const before = await streamProgress(env.redis, env.streamKey, GROUP);
  const expected = before.length;
  if (!before.group) throw new Error(`${label}: the consumer group is missing after the fill (was Redis DB ${BENCH_REDIS_DB} flushed by someone else?)`);
  progress(S, `${label}: stream pre-filled with ${fmt(expected)} entries (${fmt(fill.events / fill.seconds)} events/s through the ingest script); continuing the workers`);

  const pids = Object.fromEntries(procs.map((p, i) => [`worker${i + 1}`, p.pid]));
  const cpuBefore = await cpuSnapshot(env.redis, pids);
  const started = performance.now();
  for (const p of procs) p.child.kill('SIGCONT');
  let state;
  let lastPrint = started;
  for (;;) {
    state = await streamProgress(env.redis, env.streamKey, GROUP);
    if (state.lastGenerated !== before.lastGenerated) {
      throw new Error(`${label}: the stream changed under the bench (last id ${before.lastGenerated} → ${state.lastGenerated}); is another process using Redis DB ${BENCH_REDIS_DB}?`);
    }
    if (state.drained) break;
    const now = performance.now();
    if (now - lastPrint >= 2000) {
      lastPrint = now;
      const acked = state.acked ?? 0;
      progress(S, `${label}: ${fmt(acked)}/${fmt(expected)} acked, ${fmt((acked * 1000) / (now - started))} docs/s`);
    }
    if (now - started > 30 * 60_000) throw new Error(`${label}: not drained after 30 minutes (${JSON.stringify(state)})`);
    for (const p of procs) if (p.child.exitCode !== null) throw new Error(`${p.name} exited during the drain (see ${p.logPath})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  // Where the drain's CPU went (cores; "everythingElse" is mostly FerretDB and PostgreSQL).
  const cpu = cpuBetween(cpuBefore, await cpuSnapshot(env.redis, pids));
  const rss = procs.map((p) => rssMb(p.pid));
  await Promise.all(procs.map((p) => stop(p)));
  const stored = await env.countEvents();
  const issues = workerLogIssues(procs.map((p) => p.logPath));
  if (issues.total > 0) progress(S, `${label}: worker logs report ${JSON.stringify(issues.counts)}`);
  if (stored !== expected) progress(S, `WARNING ${label}: ${fmt(stored)} documents stored for ${fmt(expected)} accepted events`);
  const result = { workers, events: fill.events, accepted: expected, stored, seconds, docsPerSecond: expected / seconds, cpu, workerRssMb: rss, workerLogIssues: issues.counts };
  progress(S, `${label}: drained ${fmt(expected)} in ${seconds.toFixed(1)} s = ${fmt(result.docsPerSecond)} docs/s; cores: ${describeCores(cpu.cores)}; Redis script µs/event ${(cpu.scriptUsec / expected).toFixed(1)}`);
  return result;
}

async function run(ctx) {
  const { plan, report } = ctx;
  const runs = {};
  // One drain of each varies by ±5% from run to run here, as much as the rollup cost being
  // judged: the 1-worker drains with and without rollups alternate in rounds and the medians
  // (nearest rank: the middle one of 3) are reported; each round's drain is in the details.
  const rounds = [];
  for (let r = 0; r < plan.rounds; r++) {
    const tag = plan.rounds > 1 ? ` (round ${r + 1}/${plan.rounds})` : '';
    const withRollups = await drainOnce(ctx, { workers: 1, label: `1 worker${tag}`, events: plan.drainEvents });
    progress(S, `raw insertMany${tag}: ${fmt(plan.drainEvents)} documents`);
    const raw = await rawRound(ctx, plan.drainEvents, `raw insertMany${tag}`);
    progress(S, `raw insertMany${tag}: ${fmt(raw.docsPerSecond)} docs/s`);
    const without = await drainOnce(ctx, { workers: 1, preload: 'preload-no-rollups.js', label: `1 worker without rollups${tag}`, events: plan.drainEvents });
    rounds.push({ withRollups, raw, without, ratio: ratio(withRollups.docsPerSecond, without.docsPerSecond), rawRatio: ratio(withRollups.docsPerSecond, raw.docsPerSecond) });
  }
  const medianOf = (drains) => {
    const s = new Samples(drains.length);
    for (const d of drains) s.push(d.docsPerSecond);
    return { docsPerSecond: s.percentile(50), rounds: drains };
  };
  runs.w1 = medianOf(rounds.map((r) => r.withRollups));
  runs.w1NoRollups = medianOf(rounds.map((r) => r.without));
  const rawRuns = medianOf(rounds.map((r) => r.raw));
  for (const n of plan.workerCounts.filter((k) => k > 1)) {
    runs[`w${n}`] = await drainOnce(ctx, { workers: n, label: `${n} workers`, events: plan.drainEvents });
  }
  await ctx.env.flushRedis();
  await ctx.env.dropEvents();

  const raw = rawRuns.docsPerSecond;
  const storageRaw = ctx.results.storageRaw;
  const w1 = runs.w1.docsPerSecond;
  ctx.results.drainW1 = w1;
  report.figure({
    id: 'drain.w1.docs_per_s',
    scenario: S,
    name: `worker drain, 1 process${rounds.length > 1 ? ` (median of ${rounds.length})` : ''}`,
    value: w1,
    unit: 'docs/s',
    baseline: { name: `raw insertMany${rounds.length > 1 ? `, median of ${rounds.length} rounds` : ''} (interleaved)`, value: raw },
    ratio: ratio(w1, raw),
    target: { op: '>=', value: 0.8, on: 'ratio', source: 'issue 5' },
    note:
      `${rounds.length > 1 ? `per-round ratios ${rounds.map((r) => r.rawRatio).join(', ')}; ` : ''}` +
      `without rollups ${ratio(runs.w1NoRollups.docsPerSecond, raw)} of raw` +
      (storageRaw ? `; the storage scenario's raw insertMany (earlier in the run): ${fmt(storageRaw)} docs/s` : ''),
  });
  for (const n of plan.workerCounts.filter((k) => k > 1)) {
    const r = runs[`w${n}`].docsPerSecond;
    report.figure({
      id: `drain.w${n}.docs_per_s`,
      scenario: S,
      name: `worker drain, ${n} processes`,
      value: r,
      unit: 'docs/s',
      baseline: { name: '1 worker', value: w1 },
      ratio: ratio(r, w1),
      note: `${ratio(r, raw)} of raw insertMany`,
    });
  }
  report.figure({
    id: 'drain.w1.vs_design',
    scenario: S,
    name: 'worker drain, 1 process vs original design plan',
    value: w1,
    unit: 'docs/s',
    baseline: { name: 'design: 2,000 events/s per worker', value: DESIGN_RATE_PER_WORKER },
    ratio: ratio(w1, DESIGN_RATE_PER_WORKER),
  });
  report.figure({
    id: 'drain.rollup_cost',
    scenario: S,
    name: 'worker drain, 1 process, with rollups vs without',
    value: w1,
    unit: 'docs/s',
    baseline: { name: 'rollup write stubbed out', value: runs.w1NoRollups.docsPerSecond },
    ratio: ratio(w1, runs.w1NoRollups.docsPerSecond),
    target: { op: '>=', value: 0.8, on: 'ratio', source: 'issue 6' },
    ...(rounds.length > 1 ? { note: `medians of ${rounds.length} alternating rounds; per-round ratios ${rounds.map((r) => r.ratio).join(', ')}` } : {}),
  });
  const every = Object.values(runs).flatMap((r) => r.rounds ?? [r]);
  const lost = every.reduce((n, r) => n + Math.abs(r.accepted - r.stored), 0);
  report.figure({
    id: 'drain.stored_minus_accepted',
    scenario: S,
    name: 'all drains: |stored − accepted| documents',
    value: lost,
    unit: 'docs',
    target: { op: '<=', value: 0, unit: 'docs', source: 'the 202 promise (contract §4)' },
  });
  report.detail(S, { group: GROUP, runs, raw: rawRuns });
}

module.exports = { run, name: S, drainOnce };

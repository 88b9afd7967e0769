#!/usr/bin/env node
'use strict';
// CI sanity check of a bench run (never a performance threshold): the run finished without a
// failed scenario, after --since, on a described machine, and every figure of every scenario it
// ran is present, finite and non-zero (the integrity counts must be finite and may be zero).
//   node bench/check-results.js [--since <unix seconds>] [file]
const fs = require('node:fs');
const path = require('node:path');

const EXPECTED = {
  ingest: [
    'ingest.bare.single.rps', 'ingest.bare.single.p95', 'ingest.single.rps', 'ingest.single.p50', 'ingest.single.p95', 'ingest.single.p99',
    'ingest.auth.ratio', 'ingest.batch10.events_per_s', 'ingest.batch10.p95', 'ingest.batch100.events_per_s', 'ingest.batch100.p95',
    'ingest.batch1000.events_per_s', 'ingest.batch1000.p95', 'ingest.api.rss_mb', 'ingest.single.cpu_us_per_request', 'ingest.batch100.cpu_us_per_event',
  ],
  redis: ['redis.xadd.ops'],
  storage: ['storage.raw.docs_per_s', 'storage.raw_rollups.docs_per_s'],
  drain: ['drain.w1.docs_per_s', 'drain.w2.docs_per_s', 'drain.w3.docs_per_s', 'drain.w1.vs_design', 'drain.rollup_cost', 'drain.stored_minus_accepted'],
  lag: ['lag.p50', 'lag.p95', 'lag.p99', 'lag.worker.rss_mb', 'lag.missing'],
  analytics: ['analytics.metrics7d.uncached.p95', 'analytics.metrics7d.cached.p95', 'analytics.user_events.p95'],
};
/** Counts of things that must not happen: zero is the good value. */
const MAY_BE_ZERO = new Set(['drain.stored_minus_accepted', 'lag.missing']);
/** Figures that may be skipped, and why. */
const MAY_BE_SKIPPED = { 'redis.xadd.ops': /redis-benchmark not installed/ };

function main(argv) {
  let since = 0;
  let file = path.join(__dirname, 'results', 'latest.json');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--since') since = Number(argv[++i]) * 1000;
    else file = argv[i];
  }
  const problems = [];
  let results;
  try {
    results = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`bench check: cannot read ${file}: ${err.message}`);
    return 1;
  }
  const finished = Date.parse(results.run?.finishedAt ?? '');
  if (!Number.isFinite(finished) || finished < since) problems.push(`results are not from this run (finished ${results.run?.finishedAt ?? 'never'})`);
  for (const e of results.errors ?? []) problems.push(`scenario ${e.scenario} failed: ${String(e.message).split('\n')[0]}`);
  const m = results.machine ?? {};
  if (!m.cpuModel || !(m.cores > 0) || !m.node || !m.redis || !m.ferretdb || !m.postgresql) problems.push(`machine info incomplete: ${JSON.stringify(m)}`);

  const byId = new Map((results.figures ?? []).map((f) => [f.id, f]));
  const scenarios = results.run?.plan?.scenarios ?? Object.keys(EXPECTED);
  let checked = 0;
  for (const scenario of scenarios) {
    for (const id of EXPECTED[scenario] ?? []) {
      const f = byId.get(id);
      if (!f) {
        problems.push(`${id}: missing`);
        continue;
      }
      if (f.status === 'skipped') {
        if (!(MAY_BE_SKIPPED[id] && MAY_BE_SKIPPED[id].test(f.note ?? ''))) problems.push(`${id}: skipped (${f.note})`);
        continue;
      }
      const v = f.value;
      const sane = typeof v === 'number' && Number.isFinite(v) && (MAY_BE_ZERO.has(id) ? v >= 0 : v > 0);
      if (!sane) problems.push(`${id}: value ${JSON.stringify(v)} is not a ${MAY_BE_ZERO.has(id) ? 'finite count' : 'finite non-zero number'}`);
      if ('ratio' in f && f.ratio !== null && !(Number.isFinite(f.ratio) && f.ratio > 0)) problems.push(`${id}: ratio ${f.ratio} is not finite and positive`);
      checked++;
    }
  }
  if (problems.length > 0) {
    console.error(`bench check FAILED (${problems.length} problem(s)) in ${file}:`);
    for (const p of problems) console.error(`  - ${p}`);
    return 1;
  }
  console.log(`bench check OK: ${results.run.mode} run ${results.run.id}, ${scenarios.length} scenario(s), ${checked} figures present, finite and non-zero`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

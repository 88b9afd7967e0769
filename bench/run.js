#!/usr/bin/env node
'use strict';
// `npm run bench` — the benchmark harness (contract §7, issue 8). See README "## Performance".
//
// Starts what it measures itself (API and worker processes from dist/, NODE_ENV=production,
// LOG_LEVEL=info) against the local services, on a fresh Mongo database, stream key, Redis DB 12
// and bench user; runs the scenarios; writes bench/results/latest.json (+ latest.md) and prints a
// markdown table on stdout (progress lines go to stderr); cleans up after itself.
require('reflect-metadata');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parse, USAGE } = require('./lib/args');
const { BenchEnv, RESULTS_DIR, releaseLock } = require('./lib/env');
const { machineInfo } = require('./lib/machine');
const { progress, elapsedSeconds } = require('./lib/log');
const { EventGenerator } = require('./lib/payloads');
const procs = require('./lib/procs');
const { summarizeProfile, formatSummary } = require('./lib/profile');
const { Report } = require('./lib/report');
const { ratio } = require('./lib/stats');

const SCENARIO_MODULES = {
  ingest: () => require('./scenarios/ingest'),
  redis: () => require('./scenarios/redis'),
  storage: () => require('./scenarios/storage'),
  drain: () => require('./scenarios/drain'),
  lag: () => require('./scenarios/lag'),
  analytics: () => require('./scenarios/analytics'),
};

async function main() {
  let parsed;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${parsed.usage}\n`);
    return 0;
  }
  const { plan } = parsed;
  const env = new BenchEnv(plan);
  const report = new Report();
  const startedAt = new Date();
  const profileDir = path.join(RESULTS_DIR, 'profiles');
  const ctx = { plan, env, report, gen: null, results: {}, keys: null, api: null, profiled: false, profileDir, profilerArgs };
  ctx.ensureApi = async () => {
    if (ctx.api && procs.alive(ctx.api)) return ctx.api;
    const profile = plan.cpuProf && !ctx.profiled;
    if (profile) fs.rmSync(profileDir, { recursive: true, force: true });
    progress('setup', `starting the API (ROLE=api, NODE_ENV=production, LOG_LEVEL=info${profile ? ', --cpu-prof' : ''})`);
    ctx.api = await env.startApi({ name: profile ? 'api-profiled' : 'api', nodeArgs: profile ? profilerArgs(profileDir) : [] });
    return ctx.api;
  };

  let interrupted = false;
  const onSignal = (signal) => {
    if (interrupted) return;
    interrupted = true;
    progress('bench', `${signal}: stopping processes and cleaning up`);
    env
      .cleanup()
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    procs.killAllNow();
    releaseLock();
  });

  const timing = {};
  let machine = null;
  try {
    await env.setup();
    machine = await machineInfo(env);
    const busy = machine.loadAverageAtStart[0] > machine.cores * 0.5;
    progress('setup', `${machine.cpuModel}, ${machine.cores} cores, load average ${machine.loadAverageAtStart.join(' ')}${busy ? ' — the machine is busy: figures will be low and noisy' : ''}`);
    ctx.gen = new EventGenerator({ users: plan.users });
    const { RedisKeys } = require(path.join(procs.REPO, 'dist', 'redis', 'redis-keys.js'));
    ctx.keys = new RedisKeys(env.streamKey, 1);

    for (const name of plan.scenarios) {
      const t = Date.now();
      progress(name, 'start');
      try {
        await SCENARIO_MODULES[name]().run(ctx);
      } catch (err) {
        report.error(name, err);
        progress(name, `FAILED: ${err.stack ?? err}`);
        await recover(ctx);
      }
      if (name === 'ingest' && plan.cpuProf && ctx.api) await collectProfile(ctx, profileDir);
      timing[name] = Math.round((Date.now() - t) / 100) / 10;
      progress(name, `done in ${timing[name]} s`);
    }
    crossFigures(ctx);
  } catch (err) {
    report.error('setup', err);
    progress('bench', `FAILED: ${err.stack ?? err}`);
  } finally {
    if (machine) machine.loadAverageAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
    await env.cleanup().catch((err) => progress('cleanup', `failed: ${err.message}`));
  }

  const finishedAt = new Date();
  const results = {
    schema: 1,
    run: {
      id: env.runId,
      mode: plan.quick ? 'quick' : 'full',
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: Math.round(elapsedSeconds()),
      scenarioSeconds: timing,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      plan,
    },
    machine,
    payload: ctx.gen ? ctx.gen.sizeStats() : null,
    figures: report.figures,
    details: report.details,
    errors: report.errors,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), json);
  fs.writeFileSync(path.join(RESULTS_DIR, `run-${env.runId}.json`), json);
  const table = report.markdown({ quick: plan.quick });
  const header = machine
    ? `Event Processor bench (${results.run.mode}, ${results.run.durationSeconds} s) on ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB; Node ${machine.node}, Redis ${machine.redis}, FerretDB ${machine.ferretdb} (${machine.ferretdbBackend}), PostgreSQL ${machine.postgresql}; load average ${machine.loadAverageAtStart.join('/')} → ${machine.loadAverageAtEnd.join('/')}`
    : 'Event Processor bench';
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.md'), `${header}\n\n${table}\n`);
  process.stdout.write(`\n${header}\n\n${table}\n\nResults: ${path.relative(procs.REPO, path.join(RESULTS_DIR, 'latest.json'))}\n`);
  if (report.errors.length > 0) {
    process.stderr.write(`\n${report.errors.length} scenario(s) failed: ${report.errors.map((e) => e.scenario).join(', ')}\n`);
    return 1;
  }
  return 0;
}

/** node flags of a profiled API (the ingest scenario's second API gets them too, so ratios stay fair). */
function profilerArgs(dir) {
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

/** After a failed scenario: stop everything it may have left running, empty the data stores. */
async function recover(ctx) {
  await procs.stopAll();
  ctx.api = null;
  await ctx.env.flushRedis().catch(() => undefined);
  await ctx.env.dropEvents().catch(() => undefined);
}

async function collectProfile(ctx, dir) {
  ctx.profiledPid = ctx.api.pid;
  await procs.stop(ctx.api);
  ctx.api = null;
  ctx.profiled = true;
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) {
    progress('ingest', 'no CPU profile was written (did the API exit gracefully?)');
    return;
  }
  // Ours is the profile written by the API that served the ingest steps (the no-auth API's pid differs).
  const file = files.find((f) => f.includes(`.${ctx.profiledPid}.`)) ?? files[0];
  const summary = summarizeProfile(path.join(dir, file), 20);
  summary.file = path.relative(procs.REPO, summary.file);
  ctx.report.detail('profile', { api: summary, files: files.map((f) => path.relative(procs.REPO, path.join(dir, f))) });
  process.stderr.write(`${formatSummary(summary)}\n`);
}

/** Figures that relate two scenarios. */
function crossFigures(ctx) {
  const byId = new Map(ctx.report.figures.map((f) => [f.id, f]));
  const batch = byId.get('ingest.batch100.events_per_s');
  const xadd = byId.get('redis.xadd.ops');
  if (batch?.value && xadd?.value) {
    ctx.report.figure({
      id: 'redis.batch100_vs_xadd',
      scenario: 'redis',
      name: 'API batch of 100 events/s vs the Redis ceiling',
      value: batch.value,
      unit: 'events/s',
      baseline: { name: 'redis-benchmark XADD', value: xadd.value, unit: 'XADD/s' },
      ratio: ratio(batch.value, xadd.value),
    });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);

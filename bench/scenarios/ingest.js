'use strict';
// Ingestion (issues 4 and 3): bare-Fastify baseline vs the API for single events, the API with a
// cached API key vs the same API without the key check, batches of 10/100/1000 against the bare
// baseline, and the API's RSS after the load. No worker runs: only the front door is measured.
const { cpuSnapshot, cpuBetween, describeCores } = require('../lib/cpu');
const { load, LoadTotals } = require('../lib/load');
const { progress, fmt } = require('../lib/log');
const { rssMb, stop } = require('../lib/procs');
const { ratio } = require('../lib/stats');

const S = 'ingest';

async function counters(ctx) {
  const [ingested, duplicates] = await ctx.env.redis.mget(ctx.keys.counter(0, 'ingested'), ctx.keys.counter(0, 'duplicates'));
  return { ingested: Number(ingested ?? 0), duplicates: Number(duplicates ?? 0) };
}

function non2xx(statuses) {
  return Object.entries(statuses)
    .filter(([code]) => Number(code) < 200 || Number(code) >= 300)
    .reduce((n, [, v]) => n + v, 0);
}

/**
 * One load step with the CPU accounting of the step's measured part: cores used by the target
 * process, Redis, the load generator and everything else, and Redis time in scripts.
 */
async function step(ctx, proc, options) {
  let before;
  const res = await load({
    ...options,
    beforeMeasure: async () => {
      if (options.beforeMeasure) await options.beforeMeasure();
      before = await cpuSnapshot(ctx.env.redis, { [proc.name]: proc.pid });
    },
  });
  const after = await cpuSnapshot(ctx.env.redis, { [proc.name]: proc.pid });
  res.cpu = cpuBetween(before, after);
  progress(S, `${options.label}: ${fmt(res.rps)} req/s, p95 ${fmt(res.latency.percentile(95), 1)} ms; cores: ${describeCores(res.cpu.cores)}`);
  return res;
}

async function run(ctx) {
  const { plan, env, report, gen } = ctx;
  const headers = { 'x-api-key': env.apiKey };
  const api = await ctx.ensureApi();
  let apiLoadSeconds = 0;

  progress(S, 'starting the bare-Fastify baseline and a second API without the API key check');
  const bare = await env.startBare();
  const principal = { kind: 'apiKey', userId: env.userId, role: 'OPERATOR', apiKeyId: env.apiKeyId };
  const noAuth = await env.startApi({
    name: 'api-noauth',
    preload: 'preload-no-auth.js',
    env: { BENCH_PRINCIPAL: JSON.stringify(principal) },
    // Profiled like the main API when --cpu-prof is on, so the auth ratio compares like with like.
    nodeArgs: plan.cpuProf ? ctx.profilerArgs(ctx.profileDir) : [],
  });

  // --- single events: bare / API / API without auth, alternating rounds ---
  const single = { bare: new LoadTotals(), api: new LoadTotals(), noAuth: new LoadTotals() };
  const cpu = { bare: [], api: [], noAuth: [] };
  const targets = [
    ['bare', bare, 'bare Fastify'],
    ['api', api, 'API'],
    ['noAuth', noAuth, 'API without auth'],
  ];
  for (let r = 0; r < plan.rounds; r++) {
    for (const [key, proc, label] of targets) {
      const warmup = r === 0 ? plan.warmupFirst : plan.warmup;
      const res = await step(ctx, proc, {
        scenario: S,
        label: `single event, ${label}${plan.rounds > 1 ? ` (round ${r + 1}/${plan.rounds})` : ''}`,
        port: proc.port,
        path: '/api/v1/events',
        headers,
        body: () => gen.single(),
        connections: plan.connections,
        warmup,
        duration: plan.duration,
      });
      single[key].add(res);
      cpu[key].push(res.cpu);
      if (key === 'api') apiLoadSeconds += warmup + res.seconds;
    }
  }
  await stop(noAuth);
  await env.flushRedis();

  const bareRps = single.bare.rps;
  const apiRps = single.api.rps;
  report.figure({ id: 'ingest.bare.single.rps', scenario: S, name: 'bare Fastify, single event (baseline)', value: bareRps, unit: 'req/s' });
  report.figure({ id: 'ingest.bare.single.p95', scenario: S, name: 'bare Fastify, single event p95', value: single.bare.latency.percentile(95), unit: 'ms' });
  report.figure({
    id: 'ingest.single.rps',
    scenario: S,
    name: 'single-event ingest',
    value: apiRps,
    unit: 'req/s',
    baseline: { name: 'bare Fastify', value: bareRps },
    ratio: ratio(apiRps, bareRps),
    target: { op: '>=', value: 0.6, on: 'ratio', source: 'issue 4' },
  });
  for (const p of [50, 95, 99]) {
    report.figure({
      id: `ingest.single.p${p}`,
      scenario: S,
      name: `single-event ingest p${p}`,
      value: single.api.latency.percentile(p),
      unit: 'ms',
      ...(p === 95 ? { target: { op: '<=', value: 20, unit: 'ms', source: 'issue 4' } } : {}),
    });
  }
  report.figure({
    id: 'ingest.auth.ratio',
    scenario: S,
    name: 'single-event ingest, cached API key vs no auth',
    value: apiRps,
    unit: 'req/s',
    baseline: { name: 'same API, key check removed', value: single.noAuth.rps },
    ratio: ratio(apiRps, single.noAuth.rps),
    target: { op: '>=', value: 0.9, on: 'ratio', source: 'issue 3' },
  });
  // CPU time of the process under test per answered request: what a request costs, whatever
  // else the machine was doing (the req/s figures depend on how much CPU was left to us).
  const cpuPerRequest = (key, name) => {
    const seconds = cpu[key].reduce((a, c) => a + (c.cores[name] ?? 0) * c.wallSeconds, 0);
    return single[key].ok > 0 ? (seconds * 1e6) / single[key].ok : null;
  };
  const apiUs = cpuPerRequest('api', api.name);
  const bareUs = cpuPerRequest('bare', bare.name);
  const noAuthUs = cpuPerRequest('noAuth', noAuth.name);
  report.figure({
    id: 'ingest.single.cpu_us_per_request',
    scenario: S,
    name: 'single-event ingest: API CPU per request',
    value: apiUs,
    unit: 'µs',
    baseline: { name: 'bare Fastify', value: bareUs },
    ratio: ratio(apiUs, bareUs),
    note: `without the key check: ${fmt(noAuthUs)} µs; 1e6 / this = req/s one free core could serve`,
  });
  const apiScript = cpu.api.reduce((a, c) => ({ calls: a.calls + c.scriptCalls, usec: a.usec + c.scriptUsec }), { calls: 0, usec: 0 });
  report.detail(S, {
    single: {
      bare: { ...single.bare.toJSON(), cpu: cpu.bare },
      api: { ...single.api.toJSON(), cpu: cpu.api, redisScriptUsecPerRequest: apiScript.calls ? Math.round((apiScript.usec / apiScript.calls) * 10) / 10 : null },
      apiWithoutAuth: { ...single.noAuth.toJSON(), cpu: cpu.noAuth },
    },
  });

  const rssAfterSingle = rssMb(api.pid);

  // --- batches ---
  const batches = {};
  for (const size of plan.batchSizes) {
    const body = () => gen.batch(size);
    const bareRes = await step(ctx, bare, {
      scenario: S,
      label: `batch of ${size}, bare Fastify`,
      port: bare.port,
      path: '/api/v1/events/batch',
      headers,
      body,
      eventsPerRequest: size,
      connections: plan.connections,
      warmup: plan.warmup,
      duration: plan.batchDuration,
    });
    let before;
    const apiRes = await step(ctx, api, {
      scenario: S,
      label: `batch of ${size}, API`,
      port: api.port,
      path: '/api/v1/events/batch',
      headers,
      body,
      eventsPerRequest: size,
      connections: plan.connections,
      warmup: plan.warmup,
      duration: plan.batchDuration,
      beforeMeasure: async () => {
        before = await counters(ctx);
      },
    });
    const after = await counters(ctx);
    apiLoadSeconds += plan.warmup + apiRes.seconds;
    // Empty the stream and dedup keys between sizes (no worker drains them here).
    await env.flushRedis();

    const acceptedPerSecond = (after.ingested - before.ingested) / apiRes.seconds;
    const handled = after.ingested - before.ingested + (after.duplicates - before.duplicates);
    const scriptUsecPerEvent = handled > 0 ? apiRes.cpu.scriptUsec / handled : null;
    report.figure({
      id: `ingest.batch${size}.events_per_s`,
      scenario: S,
      name: `batch of ${size}: events/s answered 2xx`,
      value: apiRes.eventsPerSecond,
      unit: 'events/s',
      baseline: { name: 'bare Fastify', value: bareRes.eventsPerSecond },
      ratio: ratio(apiRes.eventsPerSecond, bareRes.eventsPerSecond),
      ...(size === 100 ? { target: { op: '>=', value: 100_000, unit: 'events/s', source: 'issue 4' } } : {}),
      note: `new (not duplicate) events accepted: ${fmt(acceptedPerSecond)}/s`,
    });
    report.figure({
      id: `ingest.batch${size}.p95`,
      scenario: S,
      name: `batch of ${size}: p95`,
      value: apiRes.latency.percentile(95),
      unit: 'ms',
      baseline: { name: 'bare Fastify', value: bareRes.latency.percentile(95) },
      ...(size === 100 ? { target: { op: '<=', value: 50, unit: 'ms', source: 'issue 4' } } : {}),
    });
    batches[size] = {
      api: {
        seconds: apiRes.seconds,
        rps: apiRes.rps,
        eventsPerSecond: apiRes.eventsPerSecond,
        acceptedPerSecond,
        statuses: apiRes.statuses,
        warmupStatuses: apiRes.warmupStatuses,
        errors: apiRes.errors,
        latencyMs: apiRes.latency.summary(),
        counters: { before, after },
        cpu: apiRes.cpu,
        redisScriptUsecPerEvent: scriptUsecPerEvent === null ? null : Math.round(scriptUsecPerEvent * 100) / 100,
        rssMbAfter: rssMb(api.pid),
      },
      bare: { seconds: bareRes.seconds, rps: bareRes.rps, eventsPerSecond: bareRes.eventsPerSecond, statuses: bareRes.statuses, latencyMs: bareRes.latency.summary(), cpu: bareRes.cpu },
    };
    const perEvent = (res, name) => (res.ok > 0 ? (res.cpu.cores[name] * res.cpu.wallSeconds * 1e6) / (res.ok * size) : null);
    const apiCpuUs = perEvent(apiRes, api.name);
    const bareCpuUs = perEvent(bareRes, bare.name);
    report.figure({
      id: `ingest.batch${size}.cpu_us_per_event`,
      scenario: S,
      name: `batch of ${size}: API CPU per event`,
      value: apiCpuUs,
      unit: 'µs',
      baseline: { name: 'bare Fastify', value: bareCpuUs },
      ratio: ratio(apiCpuUs, bareCpuUs),
    });
    if (size === 100 && scriptUsecPerEvent) {
      report.figure({
        id: 'ingest.batch100.redis_us_per_event',
        scenario: S,
        name: 'batch of 100: Redis time in the ingest script per event',
        value: scriptUsecPerEvent,
        unit: 'µs',
        note: `Redis alone could run the script for ~${fmt(1e6 / scriptUsecPerEvent)} events/s on one core (INFO commandstats, server-wide)`,
      });
    }
    const bad = non2xx(apiRes.statuses) + non2xx(apiRes.warmupStatuses);
    if (bad > 0) progress(S, `warning: batch of ${size}: ${bad} non-2xx answers from the API (measured ${JSON.stringify(apiRes.statuses)}, warm-up ${JSON.stringify(apiRes.warmupStatuses)})`);
  }
  report.detail(S, { batches, apiRssMbAfterSingle: rssAfterSingle });
  await stop(bare);

  const rss = rssMb(api.pid);
  report.figure({
    id: 'ingest.api.rss_mb',
    scenario: S,
    name: `API RSS after ${Math.round(apiLoadSeconds)} s of load`,
    value: rss,
    unit: 'MB',
    target: { op: '<=', value: 300, unit: 'MB', source: 'issue 4 (after 60 s of load)' },
    judge: apiLoadSeconds >= 60,
    ...(apiLoadSeconds < 60 ? { note: 'under 60 s of load: reported, not judged' } : {}),
  });
  const bad = non2xx(single.api.statuses) + non2xx(single.noAuth.statuses);
  if (bad > 0) progress(S, `warning: ${bad} non-2xx answers on single-event ingest (${JSON.stringify(single.api.statuses)})`);
}

module.exports = { run, name: S };

#!/usr/bin/env node
// Fault-injection suite (`npm run test:faults`, issue 8). Drives real API and worker processes
// (`node dist/main.js`, NODE_ENV=production) against real Redis, PostgreSQL and FerretDB shards,
// breaks something in each scenario, and checks the invariant from the client side and the
// database side. Needs `npm run build` (dist/) and `npm run services:up`.
//
//   node test/faults/run.js                 CI-sized run (< 10 minutes on 2 cores)
//   node test/faults/run.js --full          the issue's sizes (100k events for the worker kill test, …)
//   node test/faults/run.js --only 1,redis  some scenarios, by number or name part
//   node test/faults/run.js --keep          keep each scenario's Mongo database and stream
//
// Writes test/faults/results/latest.json and logs/<scenario>/*.log beside it; exits 1 if any
// invariant fails.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { randomBytes } = require('node:crypto');
const Redis = require('ioredis');
const { CLI_JS, FAULTS_DATABASE, MAIN_JS, REDIS_BASE, REDIS_DBS, RESULTS_DIR, pgUrl } = require('./lib/config');
const { killAll, killAllSync } = require('./lib/procs');
const { cli, migrateDatabase } = require('./lib/services');
const { log } = require('./lib/util');

const SCENARIOS = [
  require('./scenarios/01-worker-sigkill'),
  require('./scenarios/02-shard-outage'),
  require('./scenarios/03-redis-restart'),
  require('./scenarios/04-api-restart'),
  require('./scenarios/05-postgres-down'),
  require('./scenarios/06-backpressure'),
  require('./scenarios/07-bad-input'),
  require('./scenarios/08-edge-input'),
];

function selectScenarios(only) {
  if (!only) return SCENARIOS;
  const wanted = only.split(',').map((s) => s.trim()).filter(Boolean);
  return SCENARIOS.filter((s) => wanted.some((w) => String(s.id) === w || s.name.includes(w)));
}

function printTable(rows) {
  const head = ['#', 'scenario', 'sent', 'accepted', 'stored', 'DLQ', 'lost', 'duplicated', '5xx', 'result', 'time'];
  const body = rows.map((r) => [
    String(r.id), r.scenario, String(r.sent), String(r.accepted), String(r.stored), String(r.dlq), String(r.lost),
    String(r.duplicated), String(r.fiveXX), r.pass ? 'pass' : 'FAIL', `${Math.round(r.seconds)} s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i >= 2 && i <= 8 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i >= 2 && i <= 8 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`);
  for (const b of body) console.log(line(b));
}

async function main() {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 14).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return 0;
  }
  for (const f of [MAIN_JS, CLI_JS]) {
    if (!fs.existsSync(f)) {
      console.error(`faults: ${path.relative(process.cwd(), f)} is missing: run \`npm run build\` first`);
      return 2;
    }
  }
  const scenarios = selectScenarios(values.only);
  if (scenarios.length === 0) {
    console.error(`faults: no scenario matches --only ${values.only}`);
    return 2;
  }

  const runId = randomBytes(3).toString('hex');
  const logRoot = path.join(RESULTS_DIR, 'logs');
  fs.rmSync(logRoot, { recursive: true, force: true });
  fs.mkdirSync(logRoot, { recursive: true });
  const started = Date.now();
  log(`run ${runId}: ${scenarios.length} scenario(s), ${values.full ? 'full' : 'CI'} size; logs in ${path.relative(process.cwd(), logRoot)}/`);

  // One migrated database, one ADMIN and one API key for the whole run (created through the CLI,
  // as an operator would). Scenario 5 puts a proxy in front of the same database.
  const databaseUrl = pgUrl(FAULTS_DATABASE);
  await migrateDatabase(FAULTS_DATABASE);
  const adminRedis = `${REDIS_BASE}/${REDIS_DBS[0]}`;
  const admin = { email: `faults-admin-${runId}@example.com`, password: `pw-${randomBytes(12).toString('hex')}` };
  await cli(['user:create', '--email', admin.email, '--password', admin.password, '--role', 'ADMIN'], { databaseUrl, redisUrl: adminRedis });
  const apiKey = (await cli(['apikey:create', '--email', admin.email, '--name', `faults-${runId}`], { databaseUrl, redisUrl: adminRedis })).key;
  log(`database ${FAULTS_DATABASE} migrated; admin ${admin.email} and an API key created`);

  const rows = [];
  for (let i = 0; i < scenarios.length; i++) {
    const s = scenarios[i];
    const redisDb = REDIS_DBS[i % REDIS_DBS.length];
    const redisUrl = `${REDIS_BASE}/${redisDb}`;
    // The scenario's own logical database: empty at start (it is reserved for this suite).
    const r = new Redis(redisUrl);
    await r.flushdb();
    r.disconnect();
    const ctx = {
      id: s.id,
      name: s.name,
      full: values.full,
      keep: values.keep,
      suffix: `${runId}${s.id}`,
      logDir: path.join(logRoot, `${s.id}-${s.name}`),
      redisUrl,
      redisDb,
      databaseUrl,
      apiKey,
      admin,
      runId,
    };
    fs.mkdirSync(ctx.logDir, { recursive: true });
    log(`--- ${s.id}. ${s.title}`);
    const t = Date.now();
    let row;
    try {
      row = await s.run(ctx);
    } catch (err) {
      row = { scenario: s.name, sent: 0, accepted: 0, stored: 0, dlq: 0, lost: 0, duplicated: 0, fiveXX: 0, pass: false, failures: [`scenario crashed: ${err.stack || err.message}`], details: {} };
    }
    await killAll();
    if (!values.keep) {
      // Dedup keys, rollups (kept for up to 402 days) and caches of the scenario: gone with it.
      const r2 = new Redis(redisUrl);
      await r2.flushdb().catch(() => undefined);
      r2.disconnect();
    }
    row.id = s.id;
    row.seconds = (Date.now() - t) / 1000;
    rows.push(row);
    log(`${row.pass ? 'PASS' : 'FAIL'} ${s.id}. ${s.name} in ${Math.round(row.seconds)} s: sent ${row.sent}, accepted ${row.accepted}, stored ${row.stored}, DLQ ${row.dlq}, lost ${row.lost}, duplicated ${row.duplicated}, 5xx ${row.fiveXX}`);
    for (const f of row.failures) log(`  ✗ ${f}`);
    for (const n of row.notes ?? []) log(`  · ${n}`);
  }

  const seconds = (Date.now() - started) / 1000;
  console.log('');
  printTable(rows);
  const passed = rows.filter((r) => r.pass).length;
  const result = {
    runId,
    finishedAt: new Date().toISOString(),
    size: values.full ? 'full' : 'ci',
    seconds: Math.round(seconds),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
    passed,
    failed: rows.length - passed,
    scenarios: rows,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nresults: ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'latest.json'))} (${Math.round(seconds)} s)`);
  console.log(`faults: ${passed} passed, ${rows.length - passed} failed`);
  return passed === rows.length ? 0 : 1;
}

process.on('SIGINT', () => {
  killAllSync();
  process.exit(130);
});
process.on('exit', killAllSync);

main()
  .then((code) => process.exit(code))
  .catch((err) => {
    console.error(`faults: ${err.stack || err.message}`);
    killAllSync();
    console.log('faults: 0 passed, 1 failed');
    process.exit(1);
  });

'use strict';
// Redis ceiling (contract §7): `redis-benchmark -P 32 XADD` with an entry shaped like ours
// (skipped when the binary is absent). What the ingest script itself costs Redis per event is
// measured during the ingest scenario (INFO commandstats), see scenarios/ingest.js.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const { progress, fmt } = require('../lib/log');
const { BENCH_REDIS_DB } = require('../lib/env');

const execFileP = promisify(execFile);
const S = 'redis';

function findRedisBenchmark() {
  for (const dir of ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]) {
    const p = path.join(dir, 'redis-benchmark');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

async function run(ctx) {
  const { plan, env, report, gen } = ctx;
  const bin = findRedisBenchmark();
  if (!bin) {
    report.skip('redis.xadd.ops', S, 'redis-benchmark -P 32 XADD (Redis ceiling)', 'redis-benchmark not installed');
  } else {
    const url = new URL(env.redisUrl);
    const key = `bench_rb_${env.runId}`;
    // One stream entry as the API writes it: e = event JSON, k = API key id, r = receive time.
    const sample = JSON.parse(gen.batch(1)).events[0];
    const args = ['-h', url.hostname, '-p', url.port || '6379', '--dbnum', String(BENCH_REDIS_DB), '-c', String(plan.connections), '-P', '32', '-n', String(plan.redisBenchmarkRequests), '-q'];
    const shown = `redis-benchmark ${args.join(' ')} XADD <key> * e <event json> k <id> r <ms>`;
    if (url.password) args.push('-a', decodeURIComponent(url.password));
    args.push('XADD', key, '*', 'e', JSON.stringify(sample), 'k', env.apiKeyId, 'r', String(Date.now()));
    progress(S, `redis-benchmark -P 32 -n ${fmt(plan.redisBenchmarkRequests)} XADD (entry of ${JSON.stringify(sample).length} bytes)`);
    const { stdout, stderr } = await execFileP(bin, args, { maxBuffer: 1 << 20, timeout: 300_000 });
    await env.redis.unlink(key);
    // -q prints "XADD …: 412371.12 requests per second, p50=3.223 msec" (possibly after \r updates).
    const text = `${stdout}\n${stderr}`.replace(/\r/g, '\n');
    const m = /([\d.]+) requests per second(?:, p50=([\d.]+) msec)?/.exec(text.split('\n').filter((l) => /requests per second/.test(l)).pop() ?? '');
    if (!m) throw new Error(`could not parse redis-benchmark output: ${text.slice(-300)}`);
    report.figure({ id: 'redis.xadd.ops', scenario: S, name: 'redis-benchmark -P 32 XADD (Redis ceiling)', value: Number(m[1]), unit: 'XADD/s' });
    report.detail(S, { redisBenchmark: { command: shown, requestsPerSecond: Number(m[1]), p50Ms: m[2] ? Number(m[2]) : null } });
  }
}

module.exports = { run, name: S };

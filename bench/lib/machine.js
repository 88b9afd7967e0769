'use strict';
// What the figures were measured on: CPU, cores, memory, Node, Redis, FerretDB (version and
// backend), PostgreSQL, and how busy the machine was (load average at start and end).
const { execFile } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const execFileP = promisify(execFile);

async function safe(fn, fallback = null) {
  try {
    return await fn();
  } catch {
    return fallback;
  }
}

async function machineInfo(env) {
  const cpus = os.cpus();
  const repo = path.resolve(__dirname, '..', '..');
  const info = {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
  info.redis = await safe(async () => /redis_version:(\S+)/.exec(await env.redis.info('server'))[1]);
  info.ferretdb = await safe(async () => (await env.mongo[0].db('admin').command({ buildInfo: 1 })).ferretdbVersion ?? null);
  info.mongoWireVersion = await safe(async () => (await env.mongo[0].db('admin').command({ buildInfo: 1 })).version);
  info.ferretdbBackend = await safe(async () => {
    const { stdout } = await execFileP('bash', ['scripts/services.sh', 'status'], { cwd: repo });
    const backends = [...stdout.matchAll(/shard \d+.*?\b(postgresql|sqlite)\b/g)].map((m) => m[1]);
    if (backends.length > 0) return [...new Set(backends)].join(', ');
    return /shard \d+.*\bok\b/.test(stdout) ? 'not started by services.sh (reused endpoint)' : null;
  });
  info.postgresql = await safe(() => env.pg(async (c) => (await c.query('SHOW server_version')).rows[0].server_version));
  info.shards = env.mongoUris.map((u) => new URL(u).host);
  info.packages = {};
  for (const name of ['fastify', 'autocannon', 'mongoose', 'mongodb', 'ioredis', '@nestjs/core']) {
    info.packages[name] = await safe(() => require(`${name}/package.json`).version);
  }
  info.git = await safe(async () => {
    const commit = (await execFileP('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo })).stdout.trim();
    const dirty = (await execFileP('git', ['status', '--porcelain', '--', 'src'], { cwd: repo })).stdout.trim() !== '';
    return { commit, srcDirty: dirty };
  });
  return info;
}

module.exports = { machineInfo };

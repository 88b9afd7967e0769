'use strict';
// Where the CPU went during a measured step: cores used by each process we started (from
// /proc/<pid>/stat), by Redis (INFO cpu), by this process (the load generator), and by the whole
// machine (/proc/stat) — the rest is PostgreSQL/FerretDB and whatever else runs on the machine.
// Also the Redis time spent in scripts (INFO commandstats: evalsha/eval).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  // Linux default
}

function processCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3 → index 0; utime is field 14 → index 11, stime index 12.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return null;
  }
}

function machineCpu() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / clockTicks, total: total / clockTicks };
  } catch {
    return null;
  }
}

const field = (text, name) => {
  const m = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};

async function redisStats(redis) {
  const [cpu, commands] = await Promise.all([redis.info('cpu'), redis.info('commandstats')]);
  const script = { calls: 0, usec: 0 };
  for (const m of commands.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    script.calls += Number(m[2]);
    script.usec += Number(m[3]);
  }
  return { cpu: field(cpu, 'used_cpu_sys') + field(cpu, 'used_cpu_user'), script };
}

/** @param {Record<string, number>} pids  name → pid */
async function cpuSnapshot(redis, pids) {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    procs: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)])),
    redis: await redisStats(redis).catch(() => null),
    loadGenerator: (usage.user + usage.system) / 1e6,
    machine: machineCpu(),
  };
}

const r2 = (v) => Math.round(v * 100) / 100;

/** Cores used by each part between two snapshots, and Redis µs per script call. */
function cpuBetween(a, b) {
  const wall = (b.at - a.at) / 1000;
  const cores = {};
  let ours = 0;
  for (const name of Object.keys(a.procs)) {
    if (a.procs[name] === null || b.procs[name] === null) continue;
    cores[name] = r2((b.procs[name] - a.procs[name]) / wall);
    ours += cores[name];
  }
  if (a.redis && b.redis) {
    cores.redis = r2((b.redis.cpu - a.redis.cpu) / wall);
    ours += cores.redis;
  }
  cores.loadGenerator = r2((b.loadGenerator - a.loadGenerator) / wall);
  ours += cores.loadGenerator;
  if (a.machine && b.machine) {
    const busy = (b.machine.busy - a.machine.busy) / wall;
    cores.machineBusy = r2(busy);
    cores.everythingElse = r2(Math.max(0, busy - ours));
  }
  const calls = a.redis && b.redis ? b.redis.script.calls - a.redis.script.calls : 0;
  const usec = a.redis && b.redis ? b.redis.script.usec - a.redis.script.usec : 0;
  return { wallSeconds: r2(wall), cores, scriptCalls: calls, scriptUsec: usec };
}

function describeCores(cores) {
  return Object.entries(cores)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

module.exports = { cpuSnapshot, cpuBetween, describeCores, processCpuSeconds };

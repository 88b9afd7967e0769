'use strict';
// Child processes the bench starts (API, workers, the bare-Fastify baseline): spawned with an
// exact environment, output appended to a log file handed over as a file descriptor (the bench
// process never touches it, so logging costs only the child), stopped by pid — never by name.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');

const REPO = path.resolve(__dirname, '..', '..');
const running = new Set();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @param {object} o
 * @param {string} o.name       log file name and label
 * @param {string} o.script     path relative to the repository
 * @param {object} o.env        complete environment of the child
 * @param {string[]} [o.nodeArgs]
 * @param {string} o.logDir
 */
function startNode(o) {
  fs.mkdirSync(o.logDir, { recursive: true });
  const logPath = path.join(o.logDir, `${o.name}.log`);
  const fd = fs.openSync(logPath, 'a');
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), path.join(REPO, o.script)], {
    cwd: REPO,
    env: o.env,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const proc = {
    name: o.name,
    child,
    pid: child.pid,
    logPath,
    exited: once(child, 'exit').then(([code, signal]) => ({ code, signal })),
  };
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  return proc;
}

const alive = (proc) => proc.child.exitCode === null && proc.child.signalCode === null;

function tail(file, bytes = 2000) {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString();
  } catch {
    return '';
  }
}

/** Polls http://127.0.0.1:port/urlPath until it answers `status`; fails early if the process died. */
async function waitHttp(port, urlPath, { status = 200, timeoutMs = 60_000, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && !alive(proc)) throw new Error(`${proc.name} exited during start-up:\n${tail(proc.logPath)}`);
    const res = await fetch(`http://127.0.0.1:${port}${urlPath}`).catch(() => undefined);
    if (res) await res.arrayBuffer().catch(() => undefined);
    if (res?.status === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${urlPath} on port ${port}${proc ? `:\n${tail(proc.logPath)}` : ''}`);
}

/** Resident set size in MB (Linux /proc), or null. */
function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function stop(proc, { signal = 'SIGTERM', graceMs = 15_000 } = {}) {
  if (!alive(proc)) return proc.exited;
  // A stopped (SIGSTOP) process must be continued to handle SIGTERM.
  proc.child.kill('SIGCONT');
  proc.child.kill(signal);
  const timer = setTimeout(() => {
    if (alive(proc)) proc.child.kill('SIGKILL');
  }, graceMs);
  const result = await proc.exited;
  clearTimeout(timer);
  return result;
}

async function stopAll() {
  await Promise.all([...running].map((p) => stop(p, { graceMs: 10_000 })));
}

/** Synchronous last resort (process exit): SIGKILL whatever is still running. */
function killAllNow() {
  for (const p of running) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

module.exports = { REPO, freePort, startNode, waitHttp, rssMb, stop, stopAll, killAllNow, alive, tail };

'use strict';
// Child processes of the suite: `node dist/main.js` in a role, redis-server, FerretDB. Every one
// is tracked so the runner can end exactly the processes it started (by pid) whatever happens.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { once } = require('node:events');
const { MAIN_JS, REPO_ROOT } = require('./config');
const { waitFor, sleep } = require('./util');

/** Every child started by the suite and not yet exited. */
const live = new Set();

/** Environment of a child: ours minus anything the app reads, so only what a scenario sets applies. */
function cleanEnv() {
  const ours = /^(ROLE|PORT|HEALTH_PORT|REDIS_URL|DATABASE_URL|MONGO_SHARD_URIS|JWT_SECRET|LOG_LEVEL|NODE_ENV|STREAM_|CONSUMER_GROUP|DEDUP_|BATCH_|READ_COUNT|CLAIM_IDLE_MS|MAX_|TRUST_PROXY|ENV_FILE)/;
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !ours.test(k)));
}

/** A child process whose output goes to a log file; `exited` resolves with {code, signal}. */
class Child {
  constructor(name, command, args, { env, logFile, cwd = REPO_ROOT }) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.env = env;
    this.logFile = logFile;
    this.cwd = cwd;
    this.proc = undefined;
    this.exited = Promise.resolve({ code: null, signal: null });
    this.starts = 0;
  }

  start() {
    if (this.running) throw new Error(`${this.name} is already running`);
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    const fd = fs.openSync(this.logFile, 'a');
    fs.writeSync(fd, `\n--- start #${this.starts + 1} ${new Date().toISOString()}: ${this.command} ${this.args.join(' ')}\n`);
    this.proc = spawn(this.command, this.args, { cwd: this.cwd, env: this.env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.starts += 1;
    const proc = this.proc;
    live.add(proc);
    this.exited = once(proc, 'exit').then(([code, signal]) => {
      live.delete(proc);
      return { code, signal };
    });
    return this;
  }

  get running() {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid() {
    return this.proc?.pid;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `killAfterMs` if it lingers). */
  async stop(signal = 'SIGTERM', killAfterMs = 15_000) {
    if (!this.running) return this.exited;
    const proc = this.proc;
    proc.kill(signal);
    const timer = setTimeout(() => proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL'), killAfterMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  kill() {
    return this.stop('SIGKILL');
  }

  tail(lines = 30) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

/**
 * `node dist/main.js` in one role. The port that answers /api/ready is PORT for the API and
 * HEALTH_PORT for a worker (contract §6).
 */
class AppProcess extends Child {
  constructor(name, env, logDir) {
    super(name, process.execPath, [MAIN_JS], { env: { ...cleanEnv(), ...env }, logFile: path.join(logDir, `${name}.log`) });
    this.port = Number(env.ROLE === 'worker' ? env.HEALTH_PORT : env.PORT);
  }

  /**
   * Waits until the process serves HTTP: for the API until /api/ready is 200; for a worker until
   * /api/live is 200 (Nest listens only after onApplicationBootstrap, so the consumer runs by
   * then). A worker's /api/ready follows the Mongoose connection states, which on FerretDB flap
   * for a while after every start (see README, "Fault injection"); waiting for it would only
   * slow the suite down.
   */
  async waitReady(timeoutMs = 60_000) {
    const probePath = this.env.ROLE === 'worker' ? '/api/live' : '/api/ready';
    await waitFor(
      `${this.name} ${probePath} on :${this.port}`,
      async () => {
        if (!this.running) throw Object.assign(new Error(`${this.name} exited:\n${this.tail()}`), { fatal: true });
        const res = await fetch(`http://127.0.0.1:${this.port}${probePath}`).catch(() => undefined);
        return res?.status === 200;
      },
      timeoutMs,
      150,
    ).catch((err) => {
      throw new Error(`${err.message}\n--- ${this.logFile} (tail)\n${this.tail()}`);
    });
    return this;
  }

  async startReady(timeoutMs) {
    this.start();
    return this.waitReady(timeoutMs);
  }
}

/** Ends every child still running (SIGKILL): used when a scenario fails halfway, and on exit. */
async function killAll() {
  const procs = [...live];
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.race([Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? once(p, 'exit') : null))), sleep(5000)]);
}

function killAllSync() {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

module.exports = { Child, AppProcess, cleanEnv, killAll, killAllSync };

'use strict';
// Small helpers shared by the fault-injection runner and its scenarios.
const net = require('node:net');
const { once } = require('node:events');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns a truthy value; throws with `what` after `timeoutMs`. An error
 * with `fatal: true` stops the wait at once (e.g. the process being waited for exited).
 */
async function waitFor(what, probe, timeoutMs = 30_000, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      if (err && err.fatal) throw err;
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
function tcpOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

const t0 = Date.now();
/** Progress lines: elapsed seconds since the runner started, then the message. */
function log(...parts) {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  console.log(`[faults ${s}s] ${parts.join(' ')}`);
}

function randomInt(lo, hi) {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

function pick(arr) {
  return arr[Math.floor(Math.random() * arr.length)];
}

module.exports = { sleep, waitFor, freePort, tcpOpen, log, randomInt, pick };

'use strict';
// Minimal HTTP client over node:http with keep-alive: full control over raw bodies and headers
// (the bad-input corpus needs both), and connection errors reported as values, not exceptions.
const http = require('node:http');

/** Bodies above this size wait EARLY_ANSWER_WAIT_MS after the headers for an early refusal. */
const EARLY_ANSWER_BYTES = 1024 * 1024;
const EARLY_ANSWER_WAIT_MS = 500;

function createAgent(maxSockets = 64) {
  return new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 1000 });
}

/**
 * Sends one request. `body`: object (sent as JSON), string or Buffer (sent as is). Resolves with
 * `{status, headers, text, json}` for any HTTP answer, or `{error}` (ECONNREFUSED, ECONNRESET,
 * TIMEOUT, …) when no complete answer came back — the client cannot know whether the server acted.
 */
function request({ port, method = 'GET', path, headers = {}, body, timeoutMs = 10_000, agent, host = '127.0.0.1' }) {
  return new Promise((resolve) => {
    let payload;
    const h = { ...headers };
    if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding')) h['content-length'] = payload.length;
    }
    let settled = false;
    const done = (v) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(v);
      }
    };
    let req;
    try {
      req = http.request({ host, port, method, path, headers: h, agent }, onResponse);
    } catch (err) {
      // node:http refuses to send some malformed requests at all (e.g. invalid header characters).
      resolve({ error: `CLIENT_REFUSED ${err.code || err.message}` });
      return;
    }
    function onResponse(res) {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        done({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (err) => done({ error: err.code || err.message }));
      res.on('aborted', () => done({ error: 'ABORTED' }));
    }
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
    }, timeoutMs);
    req.on('error', (err) => {
      // A server may answer (413) and close before the client has sent a large body: the write
      // then fails with EPIPE/ECONNRESET although the answer is on its way. Give it a moment.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') setTimeout(() => done({ error: err.code }), 300);
      else done({ error: err.code || err.message });
    });
    if (payload && payload.length > EARLY_ANSWER_BYTES) {
      // A server refuses an oversized body from its Content-Length and closes the connection
      // (Fastify sends 413 with "Connection: close"). Sending the body anyway races that close:
      // the server's RST can discard the 413 before it is read (seen once in CI as EPIPE). So
      // send the headers, give an early answer a moment, and only then the body.
      req.flushHeaders();
      let answered = false;
      req.once('response', () => (answered = true));
      setTimeout(() => {
        if (!answered && !settled) req.end(payload);
      }, EARLY_ANSWER_WAIT_MS);
    } else if (payload) req.end(payload);
    else req.end();
  });
}

/** Retry-After in ms (seconds or an HTTP date), or undefined. */
function retryAfterMs(res) {
  const v = res.headers?.['retry-after'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return n * 1000;
  const d = Date.parse(v);
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : undefined;
}

module.exports = { createAgent, request, retryAfterMs };

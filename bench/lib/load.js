'use strict';
// HTTP load from autocannon (programmatic, in this process): a fixed number of connections, a
// warm-up that is thrown away, then a measured run of fixed duration. Latencies come from
// autocannon's per-response event (it reports no p95 itself) and are kept raw for exact
// percentiles; status codes are counted individually (202 vs 200 duplicates vs 429/5xx).
const autocannon = require('autocannon');
const { Samples, round } = require('./stats');
const { progress, fmt } = require('./log');

function runOnce(opts, onResponse) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (onResponse) instance.on('response', onResponse);
  });
}

/**
 * @param {object} o
 * @param {string} o.scenario   name for progress lines
 * @param {string} o.label      what is being measured (progress lines)
 * @param {number} o.port
 * @param {string} o.path
 * @param {object} o.headers
 * @param {() => string} o.body  called once per request
 * @param {number} o.connections
 * @param {number} o.warmup     seconds (0 = none)
 * @param {number} o.duration   seconds measured
 * @param {number} [o.eventsPerRequest]  for the events/s column of progress lines
 * @param {() => Promise<void>} [o.beforeMeasure]  after the warm-up, right before measuring
 */
async function load(o) {
  const base = {
    url: `http://127.0.0.1:${o.port}`,
    connections: o.connections,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: o.path,
        headers: { 'content-type': 'application/json', ...o.headers },
        setupRequest: (req) => {
          req.body = o.body();
          return req;
        },
      },
    ],
  };
  // Warm-up answers are not measured, but their status codes are kept (a 429/503 there matters).
  const warmupStatuses = {};
  if (o.warmup > 0) {
    await runOnce({ ...base, duration: o.warmup }, (_client, statusCode) => {
      warmupStatuses[statusCode] = (warmupStatuses[statusCode] ?? 0) + 1;
    });
  }
  if (o.beforeMeasure) await o.beforeMeasure();

  const latency = new Samples();
  const statuses = {};
  let ok = 0;
  let lastOk = 0;
  let lastAt = Date.now();
  const started = Date.now();
  const perRequest = o.eventsPerRequest ?? 1;
  const ticker = setInterval(() => {
    const now = Date.now();
    const rate = ((ok - lastOk) * 1000) / (now - lastAt);
    lastOk = ok;
    lastAt = now;
    const events = perRequest > 1 ? `, ${fmt(rate * perRequest)} events/s` : '';
    progress(o.scenario, `${o.label}: ${Math.round((now - started) / 1000)}/${o.duration} s, ${fmt(rate)} req/s${events}, p95 so far ${fmt(latency.percentile(95), 1)} ms`);
  }, o.progressEverySeconds ? o.progressEverySeconds * 1000 : 2000);
  let result;
  try {
    result = await runOnce({ ...base, duration: o.duration }, (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        latency.push(responseTime);
      }
    });
  } finally {
    clearInterval(ticker);
  }
  const seconds = result.duration;
  return {
    seconds,
    ok,
    statuses,
    warmupStatuses,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: ok / seconds,
    eventsPerSecond: (ok * perRequest) / seconds,
    latency,
  };
}

/** Sums several measured runs of the same target (paired rounds). */
class LoadTotals {
  constructor() {
    this.seconds = 0;
    this.ok = 0;
    this.statuses = {};
    this.warmupStatuses = {};
    this.errors = 0;
    this.timeouts = 0;
    this.latency = new Samples();
    this.rounds = [];
  }

  add(r) {
    this.seconds += r.seconds;
    this.ok += r.ok;
    this.errors += r.errors;
    this.timeouts += r.timeouts;
    for (const [k, v] of Object.entries(r.statuses)) this.statuses[k] = (this.statuses[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.warmupStatuses ?? {})) this.warmupStatuses[k] = (this.warmupStatuses[k] ?? 0) + v;
    this.latency.append(r.latency);
    this.rounds.push(round(r.rps));
  }

  get rps() {
    return this.seconds > 0 ? this.ok / this.seconds : NaN;
  }

  toJSON() {
    return {
      seconds: round(this.seconds, 2),
      ok: this.ok,
      rps: round(this.rps),
      roundsRps: this.rounds,
      statuses: this.statuses,
      warmupStatuses: this.warmupStatuses,
      errors: this.errors,
      timeouts: this.timeouts,
      latencyMs: this.latency.summary(),
    };
  }
}

module.exports = { load, LoadTotals };

'use strict';
// The client side of every load scenario: a small load generator with bounded concurrency and a
// bounded event count / run time. Every event carries a client-chosen eventId, and a failed
// request (503, other 5xx, 429, connection error, timeout) is retried with the SAME eventId
// until the server gives a definitive answer (202 accepted / 200 duplicate) or the deadline
// passes. Each answer is written into a ledger from which the invariant is checked.
const { randomBytes } = require('node:crypto');
const { createAgent, request, retryAfterMs } = require('./http');
const { sleep, randomInt, pick } = require('./util');

const EVENT_TYPES = [
  'page.view', 'page.scroll', 'button.click', 'form.submit', 'search', 'cart.add', 'cart.remove', 'checkout.start',
  'checkout.complete', 'login', 'logout', 'signup', 'video.play', 'video.pause', 'share', 'comment.create', 'like',
  'notification.open', 'app.open', 'app.background',
];

/** Generates valid events with unique ids `<prefix>-<n>` (about 250–450 bytes of JSON each). */
class EventFactory {
  constructor(prefix, { users = 2000 } = {}) {
    this.prefix = prefix;
    this.users = users;
    this.seq = 0;
  }

  next() {
    const n = this.seq++;
    const user = randomInt(0, this.users - 1);
    return {
      eventId: `${this.prefix}-${n}`,
      eventType: pick(EVENT_TYPES),
      userId: `user-${user}`,
      sessionId: `s-${user}-${randomInt(0, 9)}`,
      timestamp: new Date(Date.now() - randomInt(0, 3_600_000)).toISOString(),
      priority: randomInt(0, 10),
      metadata: { source: pick(['web', 'ios', 'android']), version: `1.${randomInt(0, 30)}.${randomInt(0, 9)}`, locale: pick(['en-US', 'de-DE', 'fr-FR', 'ja-JP']) },
      payload: { path: `/p/${randomBytes(6).toString('hex')}`, value: randomInt(0, 10_000), tags: [pick(['a', 'b', 'c']), pick(['x', 'y'])], ok: Math.random() < 0.9 },
    };
  }
}

/**
 * Per eventId: what the client saw. `accepted202`/`dup200` count definitive answers;
 * `ambiguous` is true once an attempt ended without a complete HTTP answer (then the server may
 * or may not have acted, and a later 200-duplicate is legitimate).
 */
class Ledger {
  constructor() {
    this.events = new Map();
    this.requests = 0;
    this.statuses = new Map();
    this.codes = new Map(); // "429 BACKPRESSURE" → count
    this.errors = new Map();
    this.unexpected = []; // answers a good event must never get (4xx other than 429, malformed 2xx)
    this.fiveXX = 0; // 5xx other than 503: a defect by the contract
    this.fiveXXSamples = [];
    this.s503 = 0;
    this.s429 = 0;
    this.retries = 0;
    this.deliberateDuplicates = 0;
  }

  entry(id) {
    let e = this.events.get(id);
    if (!e) {
      e = { status: 'pending', attempts: 0, accepted202: 0, dup200: 0, ambiguous: false, firstDefinitive: undefined };
      this.events.set(id, e);
    }
    return e;
  }

  noteResponse(res) {
    this.requests += 1;
    if (res.error) {
      this.errors.set(res.error, (this.errors.get(res.error) ?? 0) + 1);
      return;
    }
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 400) {
      const key = `${res.status} ${res.json?.error?.code ?? '(no envelope)'}`;
      this.codes.set(key, (this.codes.get(key) ?? 0) + 1);
    }
    if (res.status === 503) this.s503 += 1;
    else if (res.status === 429) this.s429 += 1;
    else if (res.status >= 500) {
      this.fiveXX += 1;
      if (this.fiveXXSamples.length < 5) this.fiveXXSamples.push(`${res.status} ${res.text.slice(0, 300)}`);
    }
  }

  /** A definitive answer for one event: 'accepted' (202 / batch accepted) or 'duplicate'. */
  definitive(id, kind) {
    const e = this.entry(id);
    if (kind === 'accepted') e.accepted202 += 1;
    else e.dup200 += 1;
    if (e.firstDefinitive === undefined) e.firstDefinitive = { kind, ambiguousBefore: e.ambiguous };
    if (e.status === 'pending') e.status = kind;
  }

  summary() {
    let accepted = 0;
    let unresolved = 0;
    let doubleAccepted = 0;
    let phantom = 0;
    const phantomIds = [];
    const doubleIds = [];
    for (const [id, e] of this.events) {
      if (e.status === 'accepted' || e.status === 'duplicate') accepted += 1;
      else if (e.status === 'pending') unresolved += 1;
      if (e.accepted202 > 1) {
        doubleAccepted += 1;
        if (doubleIds.length < 5) doubleIds.push(id);
      }
      // The first definitive answer was "duplicate" although every earlier attempt got a
      // complete refusal (503/429): the server refused and kept the event anyway.
      if (e.firstDefinitive && e.firstDefinitive.kind === 'duplicate' && !e.firstDefinitive.ambiguousBefore && e.attempts > 1) {
        phantom += 1;
        if (phantomIds.length < 5) phantomIds.push(id);
      }
    }
    return {
      sent: this.events.size,
      accepted,
      unresolved,
      doubleAccepted,
      doubleIds,
      phantom,
      phantomIds,
      requests: this.requests,
      retries: this.retries,
      statuses: Object.fromEntries([...this.statuses].sort((a, b) => a[0] - b[0])),
      errors: Object.fromEntries(this.errors),
      errorCodes: Object.fromEntries(this.codes),
      s503: this.s503,
      s429: this.s429,
      fiveXX: this.fiveXX,
      fiveXXSamples: this.fiveXXSamples,
      unexpected: this.unexpected.length,
      unexpectedSamples: this.unexpected.slice(0, 5),
      deliberateDuplicates: this.deliberateDuplicates,
    };
  }

  acceptedIds() {
    const ids = new Set();
    for (const [id, e] of this.events) if (e.status === 'accepted' || e.status === 'duplicate') ids.add(id);
    return ids;
  }
}

/**
 * Runs producers until `count` events are definitively answered or `deadlineMs` passes.
 *
 * options: port (or getPort()), apiKey, count, concurrency, rate (events/s, 0 = unlimited),
 * batchShare (fraction of events sent through /events/batch), batchSize, duplicateRate (share
 * of accepted events re-sent on purpose, expecting 200 duplicate), deadlineMs, ledger, factory,
 * stop() (stop starting new events when it returns true).
 */
async function runLoad(opts) {
  const {
    apiKey,
    count,
    concurrency = 16,
    rate = 0,
    batchShare = 0.5,
    batchSize = 20,
    duplicateRate = 0.03,
    deadlineMs = 120_000,
    ledger = new Ledger(),
    factory,
    requestTimeoutMs = 10_000,
    headers = {},
  } = opts;
  const getPort = opts.getPort ?? (() => opts.port);
  const agent = createAgent(concurrency + 4);
  const deadline = Date.now() + deadlineMs;
  const started = Date.now();
  let issued = 0;

  const send = async (events) => {
    const single = events.length === 1 && !events[0].__batch;
    const res = await request({
      port: getPort(),
      method: 'POST',
      path: single ? '/api/v1/events' : '/api/v1/events/batch',
      headers: { 'x-api-key': apiKey, ...headers },
      body: single ? events[0] : { events },
      timeoutMs: requestTimeoutMs,
      agent,
    });
    ledger.noteResponse(res);
    return res;
  };

  /** Sends `events` until each has a definitive answer; returns the ids that ended accepted. */
  const deliver = async (events, { deliberate = false } = {}) => {
    let todo = events;
    let attempt = 0;
    while (todo.length > 0) {
      if (Date.now() > deadline) return;
      attempt += 1;
      if (attempt > 1) ledger.retries += 1;
      for (const ev of todo) ledger.entry(ev.eventId).attempts += 1;
      const res = await send(todo);
      let delay = 0;
      if (res.error) {
        for (const ev of todo) ledger.entry(ev.eventId).ambiguous = true;
        delay = Math.min(2000, 100 * attempt) * (0.5 + Math.random());
      } else if (res.status === 202 && todo.length === 1 && !todo[0].__batch && res.json?.data?.accepted === true) {
        ledger.definitive(todo[0].eventId, 'accepted');
        if (deliberate) ledger.entry(todo[0].eventId).deliberateAccepted = true;
        todo = [];
      } else if (res.status === 200 && todo.length === 1 && res.json?.data?.duplicate === true) {
        ledger.definitive(todo[0].eventId, 'duplicate');
        todo = [];
      } else if (res.status === 202 && Array.isArray(res.json?.data?.results)) {
        const results = res.json.data.results;
        const again = [];
        todo.forEach((ev, i) => {
          const r = results[i];
          if (r?.status === 'accepted' && r.eventId === ev.eventId) ledger.definitive(ev.eventId, 'accepted');
          else if (r?.status === 'duplicate' && r.eventId === ev.eventId) ledger.definitive(ev.eventId, 'duplicate');
          else if (r?.status === 'rejected' && r.error?.code === 'SERVICE_UNAVAILABLE') again.push(ev);
          else {
            ledger.entry(ev.eventId).status = 'refused';
            ledger.unexpected.push(`batch item ${ev.eventId}: ${JSON.stringify(r).slice(0, 300)}`);
          }
        });
        todo = again;
        if (again.length) delay = 300;
      } else if (res.status === 429 || res.status === 503) {
        const ra = retryAfterMs(res);
        if (ra === undefined) ledger.unexpected.push(`${res.status} without Retry-After: ${res.text.slice(0, 200)}`);
        delay = Math.min(3000, ra ?? 1000) * (0.5 + Math.random());
      } else if (res.status >= 500) {
        delay = 500;
      } else {
        // Any other answer to a valid event is a defect (e.g. 400 for a good event, 401 for a good key).
        for (const ev of todo) ledger.entry(ev.eventId).status = 'refused';
        ledger.unexpected.push(`${res.status} ${res.text.slice(0, 300)}`);
        return;
      }
      if (delay) await sleep(delay);
    }
  };

  const worker = async () => {
    while (Date.now() < deadline && issued < count && !(opts.stop && opts.stop())) {
      const batch = Math.random() < batchShare;
      const n = batch ? Math.min(batchSize, count - issued) : 1;
      // Reserve the events before pacing, so concurrent producers never overshoot `count`.
      const before = issued;
      issued += n;
      if (rate) {
        const wait = started + ((before + n) / rate) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
      }
      const events = Array.from({ length: n }, () => factory.next());
      if (batch) events.forEach((e) => Object.defineProperty(e, '__batch', { value: true, enumerable: false }));
      for (const ev of events) ledger.entry(ev.eventId);
      await deliver(events);
      // Deliberate re-sends of accepted events: each must be answered 200 duplicate.
      for (const ev of events) {
        if (Math.random() < duplicateRate && ledger.entry(ev.eventId).status !== 'pending' && Date.now() < deadline) {
          ledger.deliberateDuplicates += 1;
          const copy = { ...ev };
          await deliver([copy], { deliberate: true });
        }
      }
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return ledger;
}

module.exports = { EventFactory, Ledger, runLoad, EVENT_TYPES };

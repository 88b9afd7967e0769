'use strict';
// 8. Edge input (an addition to the issue's seven): events at the edges of what the contract
// allows (probes.js). Either answer is fine — a 4xx in the envelope, or a 202 after which the
// event is stored exactly once and reads back as sent. A 202 followed by the DLQ, a document that
// never arrives, or one stored with different content is a broken promise (contract §4).
const path = require('node:path');
const { REPO_ROOT } = require('../lib/config');
const { verify, waitForDrain } = require('../lib/check');
const { request } = require('../lib/http');
const { Ledger } = require('../lib/load');
const { judgeRefusal } = require('../lib/responses');
const { Stack } = require('../lib/stack');
const { log } = require('../lib/util');
const { buildProbes } = require('./probes');

const { unescapeFieldNames } = require(path.join(REPO_ROOT, 'dist', 'events', 'field-names.js'));

const canonical = (v) =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));

const parseSent = (text) => JSON.parse(text.replace(/^\uFEFF/, ''));

/** Differences between a probe as sent and its stored document (allowed normalizations aside). */
function storedDiff(sent, doc) {
  const diffs = [];
  for (const f of ['eventType', 'userId', 'sessionId']) {
    if (doc[f] !== sent[f]) diffs.push(`${f} ${JSON.stringify(sent[f]).slice(0, 60)} stored as ${JSON.stringify(doc[f]).slice(0, 60)}`);
  }
  if (doc.priority !== (sent.priority ?? 1)) diffs.push(`priority ${sent.priority} stored as ${doc.priority}`);
  // Sub-millisecond digits and the offset are normalized away by a Date: compare the instant in ms.
  const ts = Date.parse(sent.timestamp);
  if (!(doc.timestamp instanceof Date) || doc.timestamp.getTime() !== ts) diffs.push(`timestamp ${sent.timestamp} stored as ${doc.timestamp?.toISOString?.() ?? doc.timestamp}`);
  for (const f of ['metadata', 'payload']) {
    const want = sent[f] === null || sent[f] === undefined ? undefined : canonical(sent[f]);
    const got = doc[f] === null || doc[f] === undefined ? undefined : canonical(unescapeFieldNames(doc[f]));
    if (want !== got) diffs.push(`${f} ${String(want).slice(0, 80)} stored as ${String(got).slice(0, 80)}`);
  }
  if (doc._id !== sent.eventId) diffs.push(`_id ${doc._id}`);
  if (doc.apiKeyId === 'forged' || (doc.receivedAt instanceof Date && doc.receivedAt.getUTCFullYear() === 1970)) diffs.push('client-sent server fields were kept');
  return diffs;
}

module.exports = {
  id: 8,
  name: 'edge-input',
  title: 'Edge input (unicode, odd field names, limits): refused in the envelope, or stored exactly as sent',
  async run(ctx) {
    const stack = new Stack(ctx);
    try {
      const worker = await stack.worker('worker-0', { BATCH_TIMEOUT_MS: '200', CLAIM_IDLE_MS: '2000' });
      const api = await stack.api('api');
      await Promise.all([worker.startReady(), api.startReady()]);

      const probes = buildProbes(`probe-${ctx.suffix}`);
      const ledger = new Ledger();
      const results = [];
      for (const p of probes) {
        let body = p.body;
        const headers = { 'x-api-key': ctx.apiKey };
        if (body && typeof body === 'object' && !Buffer.isBuffer(body) && body.__contentType) {
          headers['content-type'] = body.__contentType;
          body = JSON.stringify(body.body);
        }
        const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : JSON.stringify(body);
        const eventId = parseSent(text).eventId;
        ledger.entry(eventId).attempts += 1;
        const res = await request({ port: api.port, method: 'POST', path: '/api/v1/events', headers, body, timeoutMs: 15_000 });
        ledger.noteResponse(res);
        const r = { name: p.name, eventId, status: res.status ?? res.error, code: res.json?.error?.code, text, problems: [] };
        if (res.status === 202 && res.json?.data?.eventId === eventId) ledger.definitive(eventId, 'accepted');
        else if (res.status >= 400 && res.status < 500) r.problems = judgeRefusal(res, { secrets: [ctx.apiKey] });
        else r.problems = [`unexpected answer ${res.status ?? res.error}: ${res.text?.slice(0, 200)}`];
        if (r.status !== 202) ledger.entry(eventId).status = 'refused';
        results.push(r);
      }
      const accepted = ledger.acceptedIds();
      log(`  probes: ${accepted.size} of ${probes.length} accepted, the rest refused`);
      const drain = await waitForDrain({ redis: stack.redis, stream: stack.stream, group: stack.group, shards: stack.shards, expected: accepted.size, timeoutMs: 45_000, quietMs: 8_000 });

      const { stored } = await stack.shards.collect({ full: true });
      const docs = new Map(stored.map((s) => [s.id, s.doc]));
      const { dlq } = await stack.shards.collect();
      const dlqByEvent = new Map(dlq.map((d) => [d.eventId, d]));
      for (const r of results) {
        if (!accepted.has(r.eventId)) continue;
        const doc = docs.get(r.eventId);
        if (doc) r.problems = storedDiff(parseSent(r.text), doc).map((d) => `accepted, stored differently: ${d}`);
        else if (dlqByEvent.has(r.eventId)) r.problems = [`accepted, then dead-lettered: ${dlqByEvent.get(r.eventId).error?.message?.slice(0, 160)}`];
        else r.problems = ['accepted, never stored (still pending)'];
      }
      for (const r of results) log(`    ${r.problems.length ? '✗' : '·'} ${r.name}: ${r.status}${r.code ? ` ${r.code}` : ''}${r.problems.length ? ` — ${r.problems.join('; ')}` : ''}`);
      const bad = results.filter((r) => r.problems.length);
      const row = await verify({
        name: ctx.name,
        ledger,
        shards: stack.shards,
        redis: stack.redis,
        stream: stack.stream,
        group: stack.group,
        drain,
        extraChecks: [{ name: 'every probe refused in the envelope, or stored exactly as sent', ok: bad.length === 0, detail: bad.map((r) => `[${r.name}] ${r.problems.join(', ')}`).join(' | ') }],
      });
      row.details.probes = results.map(({ text: _t, ...r }) => r);
      row.notes = [`${probes.length} probes: ${accepted.size} accepted, ${probes.length - accepted.size} refused`];
      return row;
    } finally {
      await stack.teardown({ keepData: ctx.keep }).catch(() => undefined);
    }
  },
};

'use strict';
// The invariant every load scenario ends with, from the client side (the ledger: what got a 202
// or a 200-duplicate, with which eventIds) and the database side (what is stored on every
// shard, what is in the DLQ):
//
//   stored + DLQ = accepted unique events; 0 duplicates; 0 lost; DLQ holds only the
//   deliberately bad entries (and all of them).
const path = require('node:path');
const { REPO_ROOT } = require('./config');
const { log, sleep } = require('./util');

// The router's own function (compiled): a document must live on the shard its userId names.
const { stableBucket } = require(path.join(REPO_ROOT, 'dist', 'common', 'hashing', 'stable-hash.js'));

/** XINFO GROUPS of `stream` for `group` → {pending, lag, entriesRead, lastDeliveredId}, or undefined. */
async function groupInfo(redis, stream, group) {
  const groups = await redis.xinfo('GROUPS', stream).catch((err) => {
    if (/no such key/i.test(err.message)) return [];
    throw err;
  });
  for (const g of groups) {
    const m = new Map();
    for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
    if (m.get('name') === group) {
      const lag = m.get('lag');
      return {
        pending: Number(m.get('pending')),
        lag: lag === null || lag === undefined ? null : Number(lag),
        entriesRead: m.get('entries-read'),
        lastDeliveredId: m.get('last-delivered-id'),
      };
    }
  }
  return undefined;
}

/** eventIds (and entry ids) of every entry still in the stream, read in pages. */
async function streamEventIds(redis, stream) {
  const eventIds = new Set();
  const entryIds = new Set();
  let start = '-';
  for (;;) {
    const page = await redis.xrange(stream, start, '+', 'COUNT', 5000);
    for (const [id, fields] of page) {
      entryIds.add(id);
      const i = fields.indexOf('e');
      const m = i >= 0 ? /"eventId":"([^"]+)"/.exec(fields[i + 1]) : null;
      if (m) eventIds.add(m[1]);
    }
    if (page.length < 5000) break;
    start = `(${page[page.length - 1][0]}`;
  }
  return { eventIds, entryIds };
}

/**
 * Waits until the workers are done: every accepted event and poison entry is stored or
 * dead-lettered and nothing is pending or undelivered — or until nothing has moved for
 * `quietMs` with an empty backlog (then the check reports what is missing), or `timeoutMs`.
 * Progress is read from the consumer group (cheap); documents are counted only when the group is
 * idle and every 15 s for the log, because any count scans the collection on FerretDB v1 (12 s for
 * 30k documents) and would compete with the workers for the shards.
 */
async function waitForDrain({ redis, stream, group, shards, expected, timeoutMs = 180_000, quietMs = 15_000 }) {
  const started = Date.now();
  let lastTotal = -1;
  let lastChange = Date.now();
  let lastCount = 0;
  let lastGroupKey = '';
  for (;;) {
    let gi;
    try {
      gi = await groupInfo(redis, stream, group);
    } catch (err) {
      log(`  drain: reading the consumer group failed (${err.message}); retrying`);
    }
    const idle = gi && gi.pending === 0 && (gi.lag === 0 || gi.lag === null);
    const groupKey = gi ? `${gi.pending}/${gi.lag}/${gi.lastDeliveredId}` : '';
    if (groupKey !== lastGroupKey) {
      lastGroupKey = groupKey;
      lastChange = Date.now();
    }
    if (idle || Date.now() - lastCount > 15_000) {
      lastCount = Date.now();
      try {
        const counts = await shards.approxCounts();
        const dlq = await shards.dlqCount();
        const stored = counts.reduce((a, b) => a + b, 0);
        const total = stored + dlq;
        if (total !== lastTotal) {
          lastTotal = total;
          lastChange = Date.now();
        }
        log(`  drain: stored ${stored} (${counts.join('/')}), dlq ${dlq}, expected ${expected}, pending ${gi?.pending ?? '?'}, lag ${gi?.lag ?? '?'}`);
        if (idle && total >= expected) return { drained: true, waitedMs: Date.now() - started, group: gi };
      } catch (err) {
        log(`  drain: counting failed (${err.message}); retrying`);
      }
    }
    if (idle && Date.now() - lastChange > quietMs) return { drained: false, waitedMs: Date.now() - started, group: gi };
    if (Date.now() - started > timeoutMs) return { drained: false, waitedMs: Date.now() - started, group: gi };
    await sleep(idle ? 2000 : 1000);
  }
}

/**
 * Computes the result row. `poison`: Map entryId → description of every deliberately bad entry
 * written to the stream. `extraChecks`: [{name, ok, detail}] from the scenario itself.
 */
async function verify({ name, ledger, shards, poison = new Map(), redis, stream, group, extraChecks = [], drain, ambiguousAllowance = 0 }) {
  const client = ledger.summary();
  const accepted = ledger.acceptedIds();
  const { stored, dlq } = await shards.collect();
  const gi = await groupInfo(redis, stream, group).catch(() => undefined);

  const byId = new Map();
  let misrouted = 0;
  const misroutedSamples = [];
  for (const row of stored) {
    byId.set(row.id, (byId.get(row.id) ?? 0) + 1);
    const want = stableBucket(String(row.userId), shards.uris.length);
    if (want !== row.shard) {
      misrouted += 1;
      if (misroutedSamples.length < 3) misroutedSamples.push(`${row.id} on shard ${row.shard}, router says ${want}`);
    }
  }
  const storedDuplicates = stored.length - byId.size;

  const dlqEventIds = new Set();
  let dlqGood = 0;
  const dlqGoodSamples = [];
  const dlqEntryIds = new Set();
  for (const d of dlq) {
    dlqEntryIds.add(d.entryId);
    if (d.eventId) dlqEventIds.add(d.eventId);
    if (!poison.has(d.entryId)) {
      dlqGood += 1;
      if (dlqGoodSamples.length < 3) dlqGoodSamples.push(`${d._id} eventId=${d.eventId} reason=${d.reason}: ${d.error?.message}`);
    }
  }
  let poisonMissing = [...poison.keys()].filter((id) => !dlqEntryIds.has(id));

  let storedAndDlq = 0;
  const missing = [];
  for (const id of accepted) {
    const inStore = byId.has(id);
    const inDlq = dlqEventIds.has(id);
    if (inStore && inDlq) storedAndDlq += 1;
    if (!inStore && !inDlq) missing.push(id);
  }
  // Missing events still in the stream were not lost, only not processed in time (reported apart).
  // (With nothing pending or undelivered, whatever is still in the stream was acknowledged: gone.)
  const none = { eventIds: new Set(), entryIds: new Set() };
  const groupIdle = gi && gi.pending === 0 && (gi.lag === 0 || gi.lag === null);
  const inStream = (missing.length || poison.size) && !groupIdle ? await streamEventIds(redis, stream).catch(() => none) : none;
  const undrained = missing.filter((id) => inStream.eventIds.has(id));
  const lostIds = missing.filter((id) => !inStream.eventIds.has(id));
  const lost = lostIds.length;
  const lostSamples = lostIds.slice(0, 5);
  let storedUnaccepted = 0;
  let storedUnresolved = 0;
  const storedUnacceptedSamples = [];
  for (const id of byId.keys()) {
    if (accepted.has(id)) continue;
    const e = ledger.events.get(id);
    if (e && e.status === 'pending') storedUnresolved += 1;
    else {
      storedUnaccepted += 1;
      if (storedUnacceptedSamples.length < 3) storedUnacceptedSamples.push(id);
    }
  }

  const acceptedStored = [...accepted].filter((id) => byId.has(id)).length;
  const acceptedDlq = [...accepted].filter((id) => !byId.has(id) && dlqEventIds.has(id)).length;
  const duplicated = storedDuplicates + storedAndDlq + client.doubleAccepted;

  const failures = [];
  const fail = (cond, msg) => cond && failures.push(msg);
  poisonMissing = poisonMissing.filter((id) => !inStream.entryIds.has(id));
  fail(lost > 0, `${lost} accepted events lost: neither stored, nor in the DLQ, nor in the stream (e.g. ${lostSamples.join(', ')})`);
  fail(undrained.length > 0, `${undrained.length} accepted events still in the stream, not stored when the drain gave up (e.g. ${undrained.slice(0, 3).join(', ')})`);
  fail(storedDuplicates > 0, `${storedDuplicates} duplicate documents across shards`);
  fail(storedAndDlq > 0, `${storedAndDlq} events both stored and dead-lettered`);
  fail(client.doubleAccepted > 0, `${client.doubleAccepted} eventIds answered 202 more than once (dedup failed; e.g. ${client.doubleIds.join(', ')})`);
  // A 503 that was in fact accepted. Inherent when Redis drops the connection after running the
  // ingest script but before its reply arrives (the API cannot know the outcome): a scenario that
  // kills Redis allows as many as could have been in flight; anywhere else it is a broken promise.
  fail(client.phantom > ambiguousAllowance, `${client.phantom} events refused (503/429) yet kept: their retry got 200 duplicate (e.g. ${client.phantomIds.join(', ')})${ambiguousAllowance ? `; at most ${ambiguousAllowance} can be explained by requests in flight when Redis went away` : ''}`);
  fail(dlqGood > 0, `${dlqGood} DLQ entries are not deliberately bad (${dlqGoodSamples.join(' | ')})`);
  fail(poisonMissing.length > 0, `${poisonMissing.length} deliberately bad entries missing from the DLQ (e.g. ${poisonMissing.slice(0, 3).join(', ')})`);
  fail(client.fiveXX > 0, `${client.fiveXX} 5xx answers other than 503 (${client.fiveXXSamples.join(' | ')})`);
  fail(client.unresolved > 0, `${client.unresolved} events never got a definitive answer before the deadline`);
  fail(client.unexpected > 0, `${client.unexpected} unexpected answers to valid requests (${client.unexpectedSamples.join(' | ')})`);
  fail(storedUnaccepted > 0, `${storedUnaccepted} stored events the client never had accepted (e.g. ${storedUnacceptedSamples.join(', ')})`);
  fail(misrouted > 0, `${misrouted} documents on the wrong shard (${misroutedSamples.join(' | ')})`);
  fail(!gi || gi.pending !== 0, `stream not fully acknowledged at the end (pending ${gi?.pending})`);
  fail(gi && gi.lag !== null && gi.lag !== 0, `stream entries never delivered (lag ${gi?.lag})`);
  fail(acceptedStored + acceptedDlq !== accepted.size && undrained.length === 0, `stored (${acceptedStored}) + DLQ (${acceptedDlq}) != accepted (${accepted.size})`);
  for (const c of extraChecks) fail(!c.ok, `${c.name}: ${c.detail}`);

  return {
    scenario: name,
    sent: client.sent,
    accepted: accepted.size,
    stored: byId.size,
    dlq: dlq.length,
    lost,
    duplicated,
    fiveXX: client.fiveXX,
    pass: failures.length === 0,
    failures,
    details: {
      client,
      storedDocuments: stored.length,
      storedPerShard: shards.uris.map((_, i) => stored.filter((r) => r.shard === i).length),
      acceptedInDlq: acceptedDlq,
      undrained: undrained.length,
      storedAndDlq,
      poison: poison.size,
      poisonInDlq: poison.size - poisonMissing.length,
      storedUnresolved,
      misrouted,
      finalGroup: gi,
      drain,
      checks: extraChecks,
    },
  };
}

module.exports = { groupInfo, waitForDrain, verify };

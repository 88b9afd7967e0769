'use strict';
// Consumer-group progress read from Redis (XINFO), to time a drain without touching the
// database: drained = the group has delivered the last generated entry and nothing is pending
// (the worker acks only after the document is written and the rollups applied).

const pairs = (flat) => {
  const o = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]] = flat[i + 1];
  return o;
};

const compareIds = (a, b) => {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
};

async function streamProgress(redis, stream, groupName) {
  const [info, groups] = await Promise.all([
    redis.xinfo('STREAM', stream).catch(() => null),
    redis.xinfo('GROUPS', stream).catch(() => []),
  ]);
  const s = info ? pairs(info) : { length: 0, 'last-generated-id': '0-0' };
  const g = groups.map(pairs).find((x) => x.name === groupName);
  const lastGenerated = s['last-generated-id'];
  const state = {
    length: Number(s.length),
    lastGenerated,
    group: Boolean(g),
    pending: g ? Number(g.pending) : null,
    entriesRead: g && g['entries-read'] !== null ? Number(g['entries-read']) : null,
    lastDelivered: g ? g['last-delivered-id'] : null,
  };
  state.drained = Boolean(g) && state.pending === 0 && compareIds(state.lastDelivered, lastGenerated) >= 0;
  state.acked = state.entriesRead === null ? null : state.entriesRead - state.pending;
  return state;
}

module.exports = { streamProgress };

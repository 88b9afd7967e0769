'use strict';
// Edge probes of scenario 7: events at the edges of what the contract allows (unicode, field
// names MongoDB cannot hold as is, limits, odd but valid timestamps). The contract does not say
// whether each is accepted, so either answer is fine — a 4xx in the envelope, or a 202 after
// which the event must be stored exactly once and read back as sent (not dead-lettered, not
// silently changed). A 202 followed by the DLQ means validation let through what storage refuses.

function base(id, over = {}) {
  return { eventId: id, eventType: 'probe.edge', userId: 'probe-user', sessionId: 'probe-session', timestamp: new Date().toISOString(), priority: 1, ...over };
}

function nested(depth) {
  let o = { leaf: 1 };
  for (let i = 1; i < depth; i++) o = { n: o };
  return o;
}

/** [{name, eventId, body: object | string | Buffer}] with eventIds unique to this run. */
function buildProbes(prefix) {
  const probes = [];
  let i = 0;
  const add = (name, make) => {
    const eventId = `${prefix}-${i++}`;
    probes.push({ name, eventId, body: make(eventId) });
  };
  add('metadata key with NUL', (id) => base(id, { metadata: { 'a\u0000b': 1 } }));
  add('metadata keys with $ and .', (id) => base(id, { metadata: { $where: '1', 'a.b': { $gt: 1 }, $: 1, '.': 2, 'x.': { '.y': 3 } } }));
  add('metadata key empty string', (id) => base(id, { metadata: { '': 1 } }));
  add('metadata keys with the escape characters themselves (＄ ． ％)', (id) => base(id, { metadata: { '＄x': 1, '．y': 2, '％z': 3, '％0': 4, '％．': 5 } }));
  add('metadata keys that differ only by escaping (a.b vs a．b)', (id) => base(id, { metadata: { 'a.b': 1, 'a．b': 2, 'a％．b': 3 } }));
  add('payload keys constructor / prototype / toString', (id) => base(id, { payload: { constructor: { a: 1 }, prototype: 1, toString: 'x', hasOwnProperty: 2, valueOf: null } }));
  add('payload with operator-shaped keys inside arrays', (id) => base(id, { payload: { arr: [{ $set: 1 }, { 'a.b': 2 }, [{ $inc: 3 }]] } }));
  add('escaped __proto__ key in metadata', (id) => JSON.stringify(base(id, { metadata: { x: 1 } })).replace('"metadata":{', '"metadata":{"\\u005f\\u005fproto__":{"polluted":1},'));
  add('userId with emoji, ZWJ, RTL override and combining marks', (id) => base(id, { userId: 'u-👩‍👩‍👧‍👦-\u202Eabc\u202C-e\u0301' }));
  add('userId with a lone surrogate (escaped)', (id) => JSON.stringify(base(id)).replace('"userId":"probe-user"', '"userId":"probe-\\ud800-user"'));
  add('userId with invalid UTF-8 bytes', (id) => {
    const [a, b] = JSON.stringify(base(id)).split('probe-user');
    return Buffer.concat([Buffer.from(a), Buffer.from([0x70, 0xff, 0xfe, 0x71]), Buffer.from(b)]);
  });
  add('userId of 128 astral characters (256 UTF-16 units)', (id) => base(id, { userId: '😀'.repeat(128) }));
  add('userId with a NUL character', (id) => base(id, { userId: 'u\u0000v' }));
  add('userId whitespace only', (id) => base(id, { userId: ' ' }));
  add('sessionId with control characters', (id) => base(id, { sessionId: '\t\n\r\u0007\u001b' }));
  add('sessionId of 128 characters', (id) => base(id, { sessionId: 's'.repeat(128) }));
  add('eventType of 100 characters', (id) => base(id, { eventType: `a${'b'.repeat(99)}` }));
  add('eventId of 128 characters with every allowed punctuation', (id) => base(`${id}.a:b-c_d`.padEnd(128, 'z')));
  add('timestamp 23 h 59 min ahead', (id) => base(id, { timestamp: new Date(Date.now() + 23 * 3600e3 + 59 * 60e3).toISOString() }));
  add('timestamp with a leap second (23:59:60)', (id) => base(id, { timestamp: '2016-12-31T23:59:60Z' }));
  add('timestamp in year 0001', (id) => base(id, { timestamp: '0001-01-01T00:00:00Z' }));
  add('timestamp +14:00 with nanoseconds', (id) => base(id, { timestamp: '2024-06-01T12:00:00.123456789+14:00' }));
  add('timestamp with lowercase t and z', (id) => base(id, { timestamp: '2024-06-01t12:00:00z' }));
  add('timestamp before 1970', (id) => base(id, { timestamp: '1969-07-20T20:17:40Z' }));
  add('metadata nested 32 deep (the limit)', (id) => base(id, { metadata: nested(32) }));
  add('numbers at the edges of IEEE 754', (id) => base(id, { payload: { big: 9007199254740993, huge: 1e308, tiny: 5e-324, neg0: -0, exp: 1e2, negBig: -1.7976931348623157e308 } }));
  add('event just under 32 KiB', (id) => base(id, { payload: { blob: 'x'.repeat(32 * 1024 - 400) } }));
  add('priority 0', (id) => base(id, { priority: 0 }));
  add('priority 10', (id) => base(id, { priority: 10 }));
  add('priority omitted (default 1)', (id) => {
    const e = base(id);
    delete e.priority;
    return e;
  });
  add('unknown top-level fields (_id, apiKeyId, receivedAt) are dropped', (id) => base(id, { _id: 'hijack', apiKeyId: 'forged', receivedAt: '1970-01-01T00:00:00Z', processedAt: 1, extra: { $where: 1 } }));
  add('payload array of 4000 numbers', (id) => base(id, { payload: { arr: Array.from({ length: 4000 }, (_, k) => k) } }));
  add('metadata key of 5000 characters', (id) => base(id, { metadata: { ['k'.repeat(5000)]: 1 } }));
  add('duplicate JSON keys (last wins)', (id) => JSON.stringify(base(id)).replace('"eventType":"probe.edge"', '"eventType":"probe.first","eventType":"probe.second"'));
  add('BOM before the JSON body', (id) => `\uFEFF${JSON.stringify(base(id))}`);
  add('metadata and payload empty objects', (id) => base(id, { metadata: {}, payload: {} }));
  add('metadata null', (id) => base(id, { metadata: null }));
  add('string values with NUL, U+2028 and a lone surrogate', (id) => JSON.stringify(base(id, { payload: { s: 'a\u0000b\u2028c' } })).replace('"payload":{', '"payload":{"lone":"\\udfff",'));
  add('content-type with charset=utf-8', (id) => ({ __contentType: 'application/json; charset=utf-8', body: base(id) }));
  add('content-type in upper case', (id) => ({ __contentType: 'APPLICATION/JSON', body: base(id) }));
  return probes;
}

module.exports = { buildProbes };

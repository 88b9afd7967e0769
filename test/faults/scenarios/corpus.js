'use strict';
// The bad-input corpus of scenario 7: requests every endpoint must refuse with a 4xx in the
// contract's envelope. Generated field by field from a valid event (every field × every wrong
// type, pattern and length violations), plus hand-written nasty cases: malformed JSON, wrong
// media types, oversized bodies, prototype pollution, NoSQL/SQL injection shapes, path traversal,
// forged and tampered JWTs, and transport-level garbage sent over a raw socket.
//
// A case: {group, name, method, path, headers?, body? (object | string | Buffer), raw? (Buffer
// sent as is over TCP), auth: 'key' | 'admin' | 'viewer' | 'none', expect?: status the contract
// names for it}. `expect` is given only where the contract is explicit.
const { createHmac, randomUUID } = require('node:crypto');

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An HS256 (or other HMAC) JWT signed with `secret`; used to forge tokens the API must refuse. */
function signJwt(payload, secret, alg = 'HS256') {
  const header = b64url({ alg, typ: 'JWT' });
  const body = b64url(payload);
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = hash ? createHmac(hash, secret).update(`${header}.${body}`).digest('base64url') : '';
  return `${header}.${body}.${sig}`;
}

function validEvent(i = 0) {
  return {
    eventId: `corpus-valid-${i}`,
    eventType: 'page.view',
    userId: 'corpus-user',
    sessionId: 'corpus-session',
    timestamp: new Date().toISOString(),
    priority: 1,
    metadata: { a: 1 },
    payload: { b: 'x' },
  };
}

const WRONG_TYPES = {
  number: 42,
  float: 4.2,
  boolean: true,
  null: null,
  array: ['x'],
  object: { $ne: null },
  emptyString: '',
};

const FIELD_TYPES = {
  eventType: 'string',
  userId: 'string',
  sessionId: 'string',
  timestamp: 'string',
  eventId: 'string',
  metadata: 'object',
  payload: 'object',
  priority: 'integer',
};

/** Wrong values per field beyond plain type errors. */
const FIELD_VIOLATIONS = {
  eventType: [
    ['too long', 'a'.repeat(101)], ['starts with digit', '1click'], ['space', 'page view'], ['slash', 'page/view'],
    ['mongo operator', '$where'], ['html', '<script>alert(1)</script>'], ['sql', "x'; DROP TABLE users; --"],
    ['non-ascii letter', 'événement'], ['emoji', 'click🙂'], ['NUL', 'a\u0000b'], ['newline', 'a\nb'], ['leading space', ' click'],
    ['RTL override', 'click\u202Eevil'], ['zero-width space', 'cl\u200Bick'],
  ],
  userId: [['too long', 'u'.repeat(129)], ['too long (multibyte)', 'é'.repeat(129)]],
  sessionId: [['too long', 's'.repeat(129)]],
  eventId: [
    ['too long', 'e'.repeat(129)], ['space', 'a b'], ['slash', 'a/b'], ['mongo operator', '$gt'], ['path traversal', '../../etc/passwd'],
    ['non-ascii', 'é'], ['emoji', '🙂'], ['newline', 'a\nb'], ['json injection', '{"$ne":null}'], ['redis glob', 'dedup:*'],
    ['NUL', 'a\u0000b'], ['braces (hash tag)', '{0}x'],
  ],
  timestamp: [
    ['not a date', 'not a date'], ['month 13', '2024-13-01T00:00:00Z'], ['Feb 30', '2024-02-30T00:00:00Z'], ['date only', '2024-01-01'],
    ['no offset', '2024-01-01T00:00:00'], ['hour 25', '2024-01-01T25:00:00Z'], ['two days ahead', () => new Date(Date.now() + 48 * 3600e3).toISOString()],
    ['year 9999', '9999-12-31T23:59:59Z'], ['leading space', ' 2024-01-01T00:00:00Z'], ['very long', `2024-01-01T00:00:00.${'1'.repeat(200)}Z`],
    ['epoch string', '1700000000000'], ['RFC 2822', 'Tue, 01 Jan 2024 00:00:00 GMT'], ['offset +25:00', '2024-01-01T00:00:00+25:00'],
    ['fullwidth digits', '２０２４-01-01T00:00:00Z'],
  ],
  priority: [['negative', -1], ['eleven', 11], ['fraction', 1.5], ['string digit', '5'], ['huge', 1e308], ['exponent', 1e3]],
  metadata: [['string', 'meta'], ['array of objects', [{ a: 1 }]]],
  payload: [['string', 'payload'], ['array of objects', [{ a: 1 }]]],
};

function nested(depth) {
  let o = { leaf: 1 };
  for (let i = 1; i < depth; i++) o = { n: o };
  return o;
}

/** Builds the corpus. t: {apiKey, adminToken, viewerToken, adminId, jwtSecret}. */
function buildCorpus(t) {
  const cases = [];
  const add = (c) => cases.push({ auth: 'none', headers: {}, ...c });
  const ev = (mut, i) => {
    const e = validEvent(i);
    mut(e);
    return e;
  };
  let n = 0;

  // --- ingestion, single: every field × every wrong type, then violations, then missing fields
  for (const [field, type] of Object.entries(FIELD_TYPES)) {
    for (const [tname, value] of Object.entries(WRONG_TYPES)) {
      if (type === 'object' && tname === 'object') continue; // an object is right for metadata/payload
      if (tname === 'null' && (field === 'metadata' || field === 'payload')) continue; // null is not "wrong" enough to be sure
      if (type === 'integer' && tname === 'number') continue; // 42 is just out of range: covered below
      add({ group: 'events', name: `single: ${field} is ${tname}`, method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e[field] = value), n++), expect: 400 });
    }
  }
  for (const [field, list] of Object.entries(FIELD_VIOLATIONS)) {
    for (const [vname, value] of list) {
      add({ group: 'events', name: `single: ${field} ${vname}`, method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e[field] = typeof value === 'function' ? value() : value), n++), expect: 400 });
    }
  }
  for (const field of ['eventType', 'userId', 'sessionId', 'timestamp']) {
    add({ group: 'events', name: `single: missing ${field}`, method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => delete e[field], n++), expect: 400 });
  }
  add({ group: 'events', name: 'single: metadata nested 33 deep', method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e.metadata = nested(33)), n++), expect: 400 });
  add({ group: 'events', name: 'single: payload nested 500 deep', method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e.payload = nested(500)), n++), expect: 400 });
  add({ group: 'events', name: 'single: event over 32 KiB', method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e.payload = { blob: 'x'.repeat(40 * 1024) }), n++), expect: 413 });
  add({ group: 'events', name: 'single: 2 MiB body', method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e.payload = { blob: 'y'.repeat(2 * 1024 * 1024) }), n++), expect: 413 });
  add({ group: 'events', name: 'single: 32 KiB of multibyte text', method: 'POST', path: '/api/v1/events', auth: 'key', body: ev((e) => (e.payload = { blob: '€'.repeat(12 * 1024) }), n++), expect: 413 });
  add({ group: 'events', name: 'single: __proto__ at top level', method: 'POST', path: '/api/v1/events', auth: 'key', body: `{"__proto__":{"polluted":true},${JSON.stringify(validEvent(n++)).slice(1)}`, expect: 400 });
  add({ group: 'events', name: 'single: __proto__ in metadata', method: 'POST', path: '/api/v1/events', auth: 'key', body: JSON.stringify(validEvent(n++)).replace('"metadata":{', '"metadata":{"__proto__":{"isAdmin":true},'), expect: 400 });
  add({ group: 'events', name: 'single: constructor.prototype in payload', method: 'POST', path: '/api/v1/events', auth: 'key', body: JSON.stringify(validEvent(n++)).replace('"payload":{', '"payload":{"constructor":{"prototype":{"polluted":1}},'), expect: 400 });
  for (const [name, body] of [
    ['JSON array', '[]'], ['JSON string', '"event"'], ['JSON number', '123'], ['JSON null', 'null'], ['JSON true', 'true'],
    ['truncated JSON', '{"eventType":"a"'], ['trailing comma', '{"eventType":"a",}'], ['single quotes', "{'eventType':'a'}"],
    ['NaN literal', '{"priority":NaN}'], ['comment', '{/* c */"eventType":"a"}'], ['trailing garbage', `${JSON.stringify(validEvent(n++))}xyz`],
    ['two documents', `${JSON.stringify(validEvent(n++))}${JSON.stringify(validEvent(n++))}`], ['empty body', ''], ['whitespace body', '   '],
    ['unquoted key', '{eventType:"a"}'], ['bad escape', '{"eventType":"\\x41"}'], ['unterminated string', '{"eventType":"abc}'],
    ['deep array nesting', `${'['.repeat(5000)}${']'.repeat(5000)}`], ['lone brace', '}'], ['BOM only', '\uFEFF'],
  ]) {
    add({ group: 'events', name: `single: malformed: ${name}`, method: 'POST', path: '/api/v1/events', auth: 'key', body, expect: 400 });
  }
  add({ group: 'events', name: 'single: invalid UTF-8 inside JSON structure', method: 'POST', path: '/api/v1/events', auth: 'key', body: Buffer.concat([Buffer.from('{"eventType":'), Buffer.from([0xc3, 0x28]), Buffer.from('}')]), expect: 400 });
  add({ group: 'events', name: 'single: UTF-16 encoded body', method: 'POST', path: '/api/v1/events', auth: 'key', body: Buffer.from(JSON.stringify(validEvent(n++)), 'utf16le'), expect: 400 });
  for (const [name, ct] of [
    ['text/plain', 'text/plain'], ['form', 'application/x-www-form-urlencoded'], ['multipart', 'multipart/form-data; boundary=x'],
    ['xml', 'application/xml'], ['octet-stream', 'application/octet-stream'], ['javascript', 'application/javascript'], ['garbage', 'foo'],
  ]) {
    add({ group: 'events', name: `single: content-type ${name}`, method: 'POST', path: '/api/v1/events', auth: 'key', headers: { 'content-type': ct }, body: JSON.stringify(validEvent(n++)), expect: 415 });
  }
  // Credentials.
  add({ group: 'events', name: 'single: no API key', method: 'POST', path: '/api/v1/events', body: validEvent(n++), expect: 401 });
  for (const [name, key] of [
    ['unknown key', `evp_${'A'.repeat(43)}`], ['empty key', ''], ['sql injection key', "' OR '1'='1"], ['nosql-shaped key', '{"$ne":null}'],
    ['10 KB key', `evp_${'k'.repeat(10_000)}`], ['UTF-8 key (raw bytes)', Buffer.from('evp_ключ').toString('latin1')], ['key with spaces', 'evp_ a b c'], ['bearer-shaped key', `Bearer ${t.adminToken}`],
    ['truncated real key', t.apiKey.slice(0, -1)], ['real key + 1 char', `${t.apiKey}x`], ['case-changed real key', t.apiKey.toUpperCase()],
  ]) {
    add({ group: 'events', name: `single: ${name}`, method: 'POST', path: '/api/v1/events', headers: { 'x-api-key': key }, body: validEvent(n++), expect: 401 });
  }
  add({ group: 'events', name: 'single: JWT instead of API key', method: 'POST', path: '/api/v1/events', auth: 'admin', body: validEvent(n++), expect: 401 });
  add({ group: 'events', name: 'single: two x-api-key headers', method: 'POST', path: '/api/v1/events', headers: { 'x-api-key': ['evp_wrong', t.apiKey] }, body: validEvent(n++), expect: 401 });
  for (const m of ['GET', 'PUT', 'PATCH', 'DELETE']) add({ group: 'events', name: `${m} /api/v1/events`, method: m, path: '/api/v1/events', auth: 'key', expect: 404 });

  // --- ingestion, batch
  const batchOf = (k) => ({ events: Array.from({ length: k }, (_, i) => validEvent(10_000 + n++ + i)) });
  for (const [name, body] of [
    ['empty object', {}], ['events empty', { events: [] }], ['events object', { events: {} }], ['events string', { events: 'x' }],
    ['events null', { events: null }], ['events number', { events: 3 }], ['top-level array', [validEvent(n++)]],
    ['1001 events', batchOf(1001)], ['events key misspelled', { evnets: [validEvent(n++)] }],
  ]) {
    add({ group: 'batch', name: `batch: ${name}`, method: 'POST', path: '/api/v1/events/batch', auth: 'key', body, expect: 400 });
  }
  add({ group: 'batch', name: 'batch: body over 5 MiB', method: 'POST', path: '/api/v1/events/batch', auth: 'key', body: { events: Array.from({ length: 200 }, (_, i) => ({ ...validEvent(20_000 + i), payload: { blob: 'z'.repeat(27 * 1024) } })) }, expect: 413 });
  add({ group: 'batch', name: 'batch: __proto__ envelope', method: 'POST', path: '/api/v1/events/batch', auth: 'key', body: `{"__proto__":{"x":1},"events":[${JSON.stringify(validEvent(n++))}]}`, expect: 400 });
  add({ group: 'batch', name: 'batch: __proto__ in an item', method: 'POST', path: '/api/v1/events/batch', auth: 'key', body: `{"events":[${JSON.stringify(validEvent(n++)).replace('"payload":{', '"payload":{"__proto__":{"x":1},')}]}`, expect: 400 });
  add({ group: 'batch', name: 'batch: malformed JSON', method: 'POST', path: '/api/v1/events/batch', auth: 'key', body: '{"events":[{"eventType":"a",]}', expect: 400 });
  add({ group: 'batch', name: 'batch: text/plain', method: 'POST', path: '/api/v1/events/batch', auth: 'key', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(batchOf(2)), expect: 415 });
  add({ group: 'batch', name: 'batch: no API key', method: 'POST', path: '/api/v1/events/batch', body: batchOf(2), expect: 401 });
  add({ group: 'batch', name: 'batch: unknown API key', method: 'POST', path: '/api/v1/events/batch', headers: { 'x-api-key': `evp_${'B'.repeat(43)}` }, body: batchOf(2), expect: 401 });
  add({ group: 'batch', name: 'GET /api/v1/events/batch', method: 'GET', path: '/api/v1/events/batch', auth: 'key', expect: 404 });

  // --- stats
  add({ group: 'stats', name: 'stats: anonymous', method: 'GET', path: '/api/v1/events/stats', expect: 401 });
  add({ group: 'stats', name: 'stats: unknown key', method: 'GET', path: '/api/v1/events/stats', headers: { 'x-api-key': 'evp_nope' }, expect: 401 });
  add({ group: 'stats', name: 'stats: garbage bearer', method: 'GET', path: '/api/v1/events/stats', headers: { authorization: 'Bearer a.b.c' }, expect: 401 });
  add({ group: 'stats', name: 'POST stats', method: 'POST', path: '/api/v1/events/stats', auth: 'key', body: {}, expect: 404 });

  // --- login
  const login = (name, body, expect = 400, extra = {}) => add({ group: 'login', name: `login: ${name}`, method: 'POST', path: '/api/auth/login', body, expect, ...extra });
  login('empty object', {});
  login('missing password', { email: 'a@example.com' });
  login('missing email', { password: 'x'.repeat(12) });
  login('email not an email', { email: 'not-an-email', password: 'x'.repeat(12) });
  login('email number', { email: 12, password: 'x'.repeat(12) });
  login('email array', { email: ['a@example.com'], password: 'x'.repeat(12) });
  login('nosql operator email', { email: { $ne: null }, password: 'x'.repeat(12) });
  login('nosql operator password', { email: t.adminEmail, password: { $gt: '' } });
  login('password number', { email: t.adminEmail, password: 123456789012 });
  login('password null', { email: t.adminEmail, password: null });
  login('password 100 KB', { email: t.adminEmail, password: 'p'.repeat(100_000) });
  login('email 10 KB', { email: `${'a'.repeat(10_000)}@example.com`, password: 'x'.repeat(12) });
  login('email with CRLF', { email: 'a@example.com\r\nBcc: x@example.com', password: 'x'.repeat(12) });
  login('sql injection email', { email: "admin@localhost' OR '1'='1' --", password: 'x'.repeat(12) });
  login('JSON array', [{ email: t.adminEmail, password: 'x' }]);
  login('malformed JSON', '{"email":');
  login('text/plain', JSON.stringify({ email: t.adminEmail, password: 'x'.repeat(12) }), 415, { headers: { 'content-type': 'text/plain' } });
  login('form-encoded', `email=${encodeURIComponent(t.adminEmail)}&password=x`, 415, { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  login('wrong password', { email: t.adminEmail, password: 'definitely-not-the-password' }, 401);
  login('unknown user', { email: `nobody-${randomUUID()}@example.com`, password: 'x'.repeat(12) }, 401);
  login('homoglyph email (Cyrillic a)', { email: t.adminEmail.replace('a', 'а'), password: 'x'.repeat(12) }, [400, 401]);
  login('__proto__ body', `{"__proto__":{"role":"ADMIN"},"email":"${t.adminEmail}","password":"wrong-password-123"}`);
  add({ group: 'login', name: 'GET login', method: 'GET', path: '/api/auth/login', expect: 404 });

  // --- me (JWT or key): forged and broken credentials
  const now = Math.floor(Date.now() / 1000);
  const tokens = [
    ['expired (real secret)', signJwt({ sub: t.adminId, email: t.adminEmail, role: 'ADMIN', iat: now - 7200, exp: now - 3600 }, t.jwtSecret)],
    ['unknown subject (real secret)', signJwt({ sub: randomUUID(), role: 'ADMIN', iat: now, exp: now + 3600 }, t.jwtSecret)],
    ['sql injection subject (real secret)', signJwt({ sub: "' OR 1=1 --", role: 'ADMIN', iat: now, exp: now + 3600 }, t.jwtSecret)],
    ['no subject (real secret)', signJwt({ role: 'ADMIN', iat: now, exp: now + 3600 }, t.jwtSecret)],
    ['subject is an object (real secret)', signJwt({ sub: { $ne: null }, role: 'ADMIN', iat: now, exp: now + 3600 }, t.jwtSecret)],
    ['not yet valid (real secret)', signJwt({ sub: t.adminId, role: 'ADMIN', iat: now, nbf: now + 3600, exp: now + 7200 }, t.jwtSecret)],
    ['HS512 with the real secret', signJwt({ sub: t.adminId, role: 'ADMIN', iat: now, exp: now + 3600 }, t.jwtSecret, 'HS512')],
    ['alg none', signJwt({ sub: t.adminId, role: 'ADMIN', iat: now, exp: now + 3600 }, '', 'none')],
    ['wrong secret', signJwt({ sub: t.adminId, role: 'ADMIN', iat: now, exp: now + 3600 }, 'not-the-secret-0123456789abcdefghijkl')],
    ['tampered payload (viewer → admin)', (() => {
      const [h, , s] = t.viewerToken.split('.');
      return `${h}.${b64url({ sub: t.adminId, role: 'ADMIN', iat: now, exp: now + 3600 })}.${s}`;
    })()],
    ['signature stripped', t.adminToken.split('.').slice(0, 2).join('.') + '.'],
    ['garbage', 'a.b.c'], ['not a JWT', 'hello'], ['10 KB token', 'x'.repeat(10_000)], ['empty', ''],
  ];
  for (const [name, token] of tokens) add({ group: 'me', name: `me: ${name}`, method: 'GET', path: '/api/auth/me', headers: { authorization: `Bearer ${token}` }, expect: 401 });
  add({ group: 'me', name: 'me: anonymous', method: 'GET', path: '/api/auth/me', expect: 401 });
  add({ group: 'me', name: 'me: Basic auth', method: 'GET', path: '/api/auth/me', headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }, expect: 401 });
  add({ group: 'me', name: 'me: Bearer with no token', method: 'GET', path: '/api/auth/me', headers: { authorization: 'Bearer ' }, expect: 401 });
  add({ group: 'me', name: 'me: unknown API key', method: 'GET', path: '/api/auth/me', headers: { 'x-api-key': `evp_${'C'.repeat(43)}` }, expect: 401 });
  add({ group: 'me', name: 'POST me', method: 'POST', path: '/api/auth/me', auth: 'admin', body: {}, expect: 404 });

  // --- api keys
  const keys = (name, c) => add({ group: 'api-keys', name: `api-keys: ${name}`, path: '/api/auth/api-keys', ...c });
  keys('create: anonymous', { method: 'POST', body: { name: 'x' }, expect: 401 });
  keys('create: viewer', { method: 'POST', auth: 'viewer', body: { name: 'x' }, expect: 403 });
  keys('create: with an API key instead of a JWT', { method: 'POST', auth: 'key', body: { name: 'x' }, expect: 401 });
  keys('create: empty body object', { method: 'POST', auth: 'admin', body: {}, expect: 400 });
  keys('create: name empty', { method: 'POST', auth: 'admin', body: { name: '' }, expect: 400 });
  keys('create: name 101 chars', { method: 'POST', auth: 'admin', body: { name: 'n'.repeat(101) }, expect: 400 });
  keys('create: name number', { method: 'POST', auth: 'admin', body: { name: 5 }, expect: 400 });
  keys('create: name object', { method: 'POST', auth: 'admin', body: { name: { $gt: '' } }, expect: 400 });
  keys('create: name with control characters', { method: 'POST', auth: 'admin', body: { name: 'evil\u0007\u001b[31m' }, expect: 400 });
  keys('create: expiresAt in the past', { method: 'POST', auth: 'admin', body: { name: 'x', expiresAt: '2000-01-01T00:00:00Z' }, expect: 400 });
  keys('create: expiresAt not a date', { method: 'POST', auth: 'admin', body: { name: 'x', expiresAt: 'tomorrow' }, expect: 400 });
  keys('create: expiresAt object', { method: 'POST', auth: 'admin', body: { name: 'x', expiresAt: { $gt: 1 } }, expect: 400 });
  keys('create: malformed JSON', { method: 'POST', auth: 'admin', body: '{"name":', expect: 400 });
  keys('create: text/plain', { method: 'POST', auth: 'admin', headers: { 'content-type': 'text/plain' }, body: '{"name":"x"}', expect: 415 });
  keys('list: userId not a uuid', { method: 'GET', path: '/api/auth/api-keys?userId=not-a-uuid', auth: 'admin', expect: 400 });
  keys('list: viewer', { method: 'GET', auth: 'viewer', expect: 403 });
  keys('list: anonymous', { method: 'GET', expect: 401 });
  keys('revoke: id not a uuid', { method: 'DELETE', path: '/api/auth/api-keys/not-a-uuid', auth: 'admin', expect: 404 });
  keys('revoke: sql injection id', { method: 'DELETE', path: `/api/auth/api-keys/${encodeURIComponent("1' OR '1'='1")}`, auth: 'admin', expect: 404 });
  keys('revoke: unknown uuid', { method: 'DELETE', path: `/api/auth/api-keys/${randomUUID()}`, auth: 'admin', expect: 404 });
  keys('revoke: viewer', { method: 'DELETE', path: `/api/auth/api-keys/${randomUUID()}`, auth: 'viewer', expect: 403 });
  keys('revoke: anonymous', { method: 'DELETE', path: `/api/auth/api-keys/${randomUUID()}`, expect: 401 });
  keys('PUT', { method: 'PUT', auth: 'admin', body: { name: 'x' }, expect: 404 });

  // --- users (ADMIN)
  const users = (name, c) => add({ group: 'users', name: `users: ${name}`, path: '/api/auth/users', ...c });
  const goodUser = () => ({ email: `corpus-${randomUUID()}@example.com`, password: 'a-long-password-123', role: 'VIEWER' });
  users('create: anonymous', { method: 'POST', body: goodUser(), expect: 401 });
  users('create: viewer', { method: 'POST', auth: 'viewer', body: goodUser(), expect: 403 });
  users('create: with an API key', { method: 'POST', auth: 'key', body: goodUser(), expect: 401 });
  users('create: empty object', { method: 'POST', auth: 'admin', body: {}, expect: 400 });
  users('create: bad email', { method: 'POST', auth: 'admin', body: { ...goodUser(), email: 'nope' }, expect: 400 });
  users('create: short password', { method: 'POST', auth: 'admin', body: { ...goodUser(), password: 'short' }, expect: 400 });
  users('create: role SUPERADMIN', { method: 'POST', auth: 'admin', body: { ...goodUser(), role: 'SUPERADMIN' }, expect: 400 });
  users('create: role lowercase', { method: 'POST', auth: 'admin', body: { ...goodUser(), role: 'admin' }, expect: 400 });
  users('create: role array', { method: 'POST', auth: 'admin', body: { ...goodUser(), role: ['ADMIN'] }, expect: 400 });
  users('create: name with control characters', { method: 'POST', auth: 'admin', body: { ...goodUser(), name: 'x\u0000y' }, expect: 400 });
  users('create: name 201 chars', { method: 'POST', auth: 'admin', body: { ...goodUser(), name: 'n'.repeat(201) }, expect: 400 });
  users('create: password 100 KB', { method: 'POST', auth: 'admin', body: { ...goodUser(), password: 'p'.repeat(100_000) }, expect: 400 });
  users('create: nosql email', { method: 'POST', auth: 'admin', body: { ...goodUser(), email: { $regex: '.*' } }, expect: 400 });
  users('create: duplicate of the admin (conflict)', { method: 'POST', auth: 'admin', body: { email: t.adminEmail, password: 'a-long-password-123', role: 'VIEWER' } });
  users('create: malformed JSON', { method: 'POST', auth: 'admin', body: '{"email":"a@b.c",,}', expect: 400 });
  users('get: not a uuid', { method: 'GET', path: '/api/auth/users/not-a-uuid', auth: 'admin', expect: 404 });
  users('get: path traversal', { method: 'GET', path: '/api/auth/users/..%2f..%2fetc%2fpasswd', auth: 'admin', expect: 404 });
  users('get: unknown uuid', { method: 'GET', path: `/api/auth/users/${randomUUID()}`, auth: 'admin', expect: 404 });
  users('get: viewer', { method: 'GET', auth: 'viewer', expect: 403 });
  users('patch: unknown uuid', { method: 'PATCH', path: `/api/auth/users/${randomUUID()}`, auth: 'admin', body: { role: 'VIEWER' }, expect: 404 });
  users('patch: not a uuid', { method: 'PATCH', path: '/api/auth/users/1%20OR%201=1', auth: 'admin', body: { role: 'VIEWER' }, expect: 404 });
  users('patch: role GOD', { method: 'PATCH', path: `/api/auth/users/${t.adminId}`, auth: 'admin', body: { role: 'GOD' }, expect: 400 });
  users('patch: status deleted', { method: 'PATCH', path: `/api/auth/users/${t.adminId}`, auth: 'admin', body: { status: 'DELETED' }, expect: 400 });
  users('patch: short password', { method: 'PATCH', path: `/api/auth/users/${t.adminId}`, auth: 'admin', body: { password: 'short' }, expect: 400 });
  users('patch: viewer promotes self', { method: 'PATCH', path: `/api/auth/users/${t.viewerId}`, auth: 'viewer', body: { role: 'ADMIN' }, expect: 403 });
  users('patch: text/plain', { method: 'PATCH', path: `/api/auth/users/${t.adminId}`, auth: 'admin', headers: { 'content-type': 'text/plain' }, body: '{"name":"x"}', expect: 415 });
  users('DELETE', { method: 'DELETE', path: `/api/auth/users/${t.adminId}`, auth: 'admin', expect: 404 });

  // --- analytics
  const an = (name, p, c = {}) => add({ group: 'analytics', name: `analytics: ${name}`, method: 'GET', path: `/api/v1/analytics/${p}`, auth: 'viewer', expect: 400, ...c });
  an('metrics anonymous', 'metrics?timeRange=1h', { auth: 'none', expect: 401 });
  an('metrics unknown key', 'metrics?timeRange=1h', { auth: 'none', headers: { 'x-api-key': 'evp_x' }, expect: 401 });
  an('metrics timeRange 2h', 'metrics?timeRange=2h');
  an('metrics timeRange empty', 'metrics?timeRange=');
  an('metrics timeRange repeated', 'metrics?timeRange=1h&timeRange=24h');
  an('metrics timeRange operator', 'metrics?timeRange[$ne]=1h');
  an('metrics unknown parameter', 'metrics?timeRange=1h&foo=bar');
  an('metrics from not a date', 'metrics?from=yesterday&to=2024-01-02T00:00:00Z');
  an('metrics from after to', 'metrics?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z');
  an('metrics range over 400 days', 'metrics?from=2020-01-01T00:00:00Z&to=2024-01-01T00:00:00Z');
  an('metrics eventType pattern', 'metrics?timeRange=1h&eventType=1bad');
  an('metrics eventType injection', `metrics?timeRange=1h&eventType=${encodeURIComponent('{"$gt":""}')}`);
  an('metrics eventType 101 chars', `metrics?timeRange=1h&eventType=${'a'.repeat(101)}`);
  an('metrics userId 129 chars', `metrics?timeRange=1h&userId=${'u'.repeat(129)}`);
  an('metrics userId operator', 'metrics?timeRange=1h&userId[$ne]=x');
  an('metrics from with percent-encoded NUL', 'metrics?from=2024-01-01T00:00:00Z%00&to=2024-01-02T00:00:00Z');
  an('timeseries interval second', 'timeseries?interval=second');
  an('timeseries interval uppercase', 'timeseries?interval=HOUR');
  an('timeseries from garbage', 'timeseries?interval=hour&from=%3Cscript%3E');
  an('timeseries minute interval over a year ago', 'timeseries?interval=minute&from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z');
  an('timeseries unknown parameter', 'timeseries?interval=hour&limit=5');
  an('timeseries anonymous', 'timeseries?interval=hour', { auth: 'none', expect: 401 });
  an('user events limit 0', 'users/u1/events?limit=0');
  an('user events limit 1001', 'users/u1/events?limit=1001');
  an('user events limit abc', 'users/u1/events?limit=abc');
  an('user events limit fraction', 'users/u1/events?limit=1.5');
  an('user events limit negative', 'users/u1/events?limit=-5');
  an('user events cursor garbage', 'users/u1/events?cursor=not-a-cursor');
  an('user events cursor 513 chars', `users/u1/events?cursor=${'c'.repeat(513)}`);
  an('user events from after to', 'users/u1/events?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z');
  an('user events unknown parameter', 'users/u1/events?sort=-1');
  an('user events anonymous', 'users/u1/events', { auth: 'none', expect: 401 });
  an('user events forged JWT', 'users/u1/events', { auth: 'none', headers: { authorization: `Bearer ${tokens[8][1]}` }, expect: 401 });
  an('POST metrics', 'metrics', { method: 'POST', body: {}, expect: 404 });

  // --- metrics endpoints (contract §6: JWT or API key)
  add({ group: 'metrics', name: 'metrics json: anonymous', method: 'GET', path: '/api/v1/metrics' });
  add({ group: 'metrics', name: 'metrics live: anonymous', method: 'GET', path: '/api/v1/metrics/live' });
  add({ group: 'metrics', name: 'metrics json: forged JWT', method: 'GET', path: '/api/v1/metrics', headers: { authorization: `Bearer ${tokens[7][1]}` } });

  // --- DLQ (OPERATOR, JWT)
  const dlq = (name, c) => add({ group: 'dlq', name: `dlq: ${name}`, path: '/api/v1/dlq', method: 'GET', auth: 'admin', expect: 400, ...c });
  dlq('list anonymous', { auth: 'none', expect: 401 });
  dlq('list viewer', { auth: 'viewer', expect: 403 });
  dlq('list with an API key', { auth: 'key', expect: 401 });
  dlq('list limit 0', { path: '/api/v1/dlq?limit=0' });
  dlq('list limit 1001', { path: '/api/v1/dlq?limit=1001' });
  dlq('list limit abc', { path: '/api/v1/dlq?limit=abc' });
  dlq('list cursor garbage', { path: '/api/v1/dlq?cursor=%7B%22%24gt%22%3A%22%22%7D' });
  dlq('list cursor 600 chars', { path: `/api/v1/dlq?cursor=${'c'.repeat(600)}` });
  dlq('replay anonymous', { method: 'POST', path: '/api/v1/dlq/replay', auth: 'none', body: { all: true }, expect: 401 });
  dlq('replay viewer', { method: 'POST', path: '/api/v1/dlq/replay', auth: 'viewer', body: { all: true }, expect: 403 });
  dlq('replay ids empty', { method: 'POST', path: '/api/v1/dlq/replay', body: { ids: [] } });
  dlq('replay ids string', { method: 'POST', path: '/api/v1/dlq/replay', body: { ids: 'x' } });
  dlq('replay ids numbers', { method: 'POST', path: '/api/v1/dlq/replay', body: { ids: [1, 2] } });
  dlq('replay ids operator', { method: 'POST', path: '/api/v1/dlq/replay', body: { ids: { $ne: null } } });
  dlq('replay 1001 ids', { method: 'POST', path: '/api/v1/dlq/replay', body: { ids: Array.from({ length: 1001 }, (_, i) => `0:${i}-0`) } });
  dlq('replay id 301 chars', { method: 'POST', path: '/api/v1/dlq/replay', body: { ids: ['i'.repeat(301)] } });
  dlq('replay all false', { method: 'POST', path: '/api/v1/dlq/replay', body: { all: false } });
  dlq('replay all "true"', { method: 'POST', path: '/api/v1/dlq/replay', body: { all: 'true' } });
  dlq('replay malformed JSON', { method: 'POST', path: '/api/v1/dlq/replay', body: '{"all":tru}' });
  dlq('replay text/plain', { method: 'POST', path: '/api/v1/dlq/replay', headers: { 'content-type': 'text/plain' }, body: '{"all":true}', expect: 415 });
  dlq('delete unknown id', { method: 'DELETE', path: '/api/v1/dlq/0:1-0', expect: 404 });
  dlq('delete traversal id', { method: 'DELETE', path: '/api/v1/dlq/..%2F..%2Fevents', expect: 404 });
  dlq('delete viewer', { method: 'DELETE', path: '/api/v1/dlq/0:1-0', auth: 'viewer', expect: 403 });
  dlq('delete anonymous', { method: 'DELETE', path: '/api/v1/dlq/0:1-0', auth: 'none', expect: 401 });

  // --- health and unknown routes
  for (const p of ['/api/health', '/api/ready', '/api/live']) {
    add({ group: 'health', name: `POST ${p}`, method: 'POST', path: p, body: {}, expect: 404 });
    add({ group: 'health', name: `DELETE ${p}`, method: 'DELETE', path: p, expect: 404 });
    add({ group: 'health', name: `GET ${p}/x`, method: 'GET', path: `${p}/x`, expect: 404 });
  }
  for (const p of ['/api', '/api/v2/events', '/admin', '/.env', '/.git/config', '/api/v1/events/../../../etc/passwd', '/api/v1/%2e%2e/%2e%2e/etc/passwd', '/api/health%00', `/${'x'.repeat(4000)}`, '/api/v1/events/stats/..;/..;/admin', '/wp-login.php', '/api/v1/analytics/users/u1/events/extra', '/api/v1/dlq/a/b']) {
    add({ group: 'routes', name: `unknown route ${p.length > 60 ? `${p.slice(0, 40)}…(${p.length})` : p}`, method: 'GET', path: p, auth: 'admin', expect: 404 });
  }

  // --- transport-level garbage (raw socket; Node/Fastify answer these before any route)
  const rawReq = (name, text) => add({ group: 'transport', name: `raw: ${name}`, rawBytes: Buffer.from(text, 'latin1') });
  rawReq('control character in a header', 'GET /api/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n');
  rawReq('unknown method BREW', 'BREW /api/live HTTP/1.1\r\nHost: x\r\n\r\n');
  rawReq('HTTP/9.9', 'GET /api/live HTTP/9.9\r\nHost: x\r\n\r\n');
  rawReq('Content-Length and Transfer-Encoding (smuggling)', 'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}');
  rawReq('20 KB header', `GET /api/live HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
  rawReq('70 KB URL', `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  rawReq('no Host header', 'GET /api/health HTTP/1.1\r\n\r\n');
  rawReq('Content-Length not a number', 'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}');
  rawReq('bad chunk size', 'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n');
  rawReq('malformed percent-encoding in the path', 'GET /api/%zz HTTP/1.1\r\nHost: x\r\n\r\n');
  return cases;
}

module.exports = { buildCorpus, signJwt, validEvent };

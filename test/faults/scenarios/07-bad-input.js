'use strict';
// 7. Bad-input corpus: a few hundred malformed, oversized, wrongly typed, injection-shaped and
// unicode-edge requests across every endpoint (corpus.js). Each must get a 4xx in the contract's
// envelope ({success:false, error:{code, message}}, x-request-id, no stack trace, no secret) — the
// status the contract names where it names one — and nothing may be stored: the stream, the
// shards, the DLQ and the users / api_keys tables are the same afterwards.
const { JWT_SECRET, FAULTS_DATABASE } = require('../lib/config');
const { createAgent, request } = require('../lib/http');
const { sendRaw } = require('../lib/raw-http');
const { freshIp, judgeRefusal } = require('../lib/responses');
const { cli, pgCount } = require('../lib/services');
const { Stack } = require('../lib/stack');
const { log, sleep } = require('../lib/util');
const { buildCorpus } = require('./corpus');

async function send(c, port, creds, agent) {
  if (c.rawBytes) return sendRaw(port, c.rawBytes);
  const headers = { 'x-forwarded-for': freshIp(), ...c.headers };
  if (c.auth === 'key') headers['x-api-key'] = creds.apiKey;
  else if (c.auth === 'admin') headers.authorization = `Bearer ${creds.adminToken}`;
  else if (c.auth === 'viewer') headers.authorization = `Bearer ${creds.viewerToken}`;
  return request({ port, method: c.method, path: c.path, headers, body: c.body, agent, timeoutMs: 15_000 });
}

async function snapshot(stack) {
  return {
    stream: await stack.redis.xlen(stack.stream),
    stored: (await stack.shards.counts()).reduce((a, b) => a + b, 0),
    dlq: await stack.shards.dlqCount(),
    users: await pgCount(FAULTS_DATABASE, 'users'),
    apiKeys: await pgCount(FAULTS_DATABASE, 'api_keys'),
  };
}

/** Logs in through the API (a fresh client address each time: the auth rate limit is per IP). */
async function login(port, user) {
  const res = await request({ port, method: 'POST', path: '/api/auth/login', headers: { 'x-forwarded-for': freshIp() }, body: { email: user.email, password: user.password } });
  if (res.status !== 200) throw new Error(`login ${user.email}: ${res.status ?? res.error} ${res.text ?? ''}`);
  return res.json.data;
}

module.exports = {
  id: 7,
  name: 'bad-input',
  title: 'Bad-input corpus across every endpoint → 4xx in the envelope, zero 5xx, nothing stored',
  async run(ctx) {
    const stack = new Stack(ctx);
    try {
      // The run's ADMIN (ctx.admin) and a VIEWER for the role checks.
      const viewer = { email: `faults-viewer-${ctx.runId}@example.com`, password: `pw-viewer-${ctx.runId}-0123` };
      await cli(['user:create', '--email', viewer.email, '--password', viewer.password, '--role', 'VIEWER'], { databaseUrl: ctx.databaseUrl, redisUrl: ctx.redisUrl });
      const worker = await stack.worker('worker-0', { BATCH_TIMEOUT_MS: '200' });
      const api = await stack.api('api', { TRUST_PROXY: 'true' });
      await Promise.all([worker.startReady(), api.startReady()]);
      const adminLogin = await login(api.port, ctx.admin);
      const viewerLogin = await login(api.port, viewer);
      const creds = {
        apiKey: ctx.apiKey,
        adminToken: adminLogin.token,
        viewerToken: viewerLogin.token,
        adminId: adminLogin.user.id,
        viewerId: viewerLogin.user.id,
        adminEmail: ctx.admin.email,
        jwtSecret: JWT_SECRET,
      };
      const secrets = [ctx.apiKey, ctx.admin.password, viewer.password, JWT_SECRET];

      const corpus = buildCorpus(creds);
      log(`  corpus: ${corpus.length} bad requests across ${new Set(corpus.map((c) => c.group)).size} endpoint groups`);
      const before = await snapshot(stack);
      const agent = createAgent(8);
      const results = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < corpus.length) {
            const c = corpus[next++];
            const res = await send(c, api.port, creds, agent);
            results.push({ c, res, problems: judgeRefusal(res, { expect: c.expect, secrets }) });
          }
        }),
      );
      agent.destroy();
      // Anything wrongly accepted is in the stream now and stored by the worker within moments.
      await sleep(3000);
      const after = await snapshot(stack);

      const failed = results.filter((r) => r.problems.length > 0);
      const fiveXX = results.filter((r) => r.res.status >= 500).length;
      const accepted = results.filter((r) => r.res.status >= 200 && r.res.status < 300).length;
      const byGroup = {};
      for (const r of results) {
        const g = (byGroup[r.c.group] ??= { requests: 0, failed: 0, statuses: {} });
        g.requests += 1;
        if (r.problems.length) g.failed += 1;
        const key = r.res.status ?? r.res.error;
        g.statuses[key] = (g.statuses[key] ?? 0) + 1;
      }
      log(`  corpus: ${results.length - failed.length}/${results.length} refused correctly; ${fiveXX} × 5xx`);
      for (const f of failed) log(`    ✗ [${f.c.group}] ${f.c.name}: ${f.problems.join('; ')}`);
      const changed = Object.keys(before).filter((k) => before[k] !== after[k]);

      const failures = [];
      if (failed.length) failures.push(`${failed.length} of ${results.length} bad requests not refused with a 4xx in the contract envelope (${[...new Set(failed.map((f) => f.c.group))].join(', ')})`);
      if (fiveXX) failures.push(`${fiveXX} × 5xx`);
      if (changed.length) failures.push(`something was stored: ${changed.map((k) => `${k} ${before[k]}→${after[k]}`).join(', ')}`);
      if (results.length < 200) failures.push(`only ${results.length} requests in the corpus`);
      return {
        scenario: ctx.name,
        sent: results.length,
        accepted,
        stored: after.stored - before.stored,
        dlq: after.dlq - before.dlq,
        lost: 0,
        duplicated: 0,
        fiveXX,
        pass: failures.length === 0,
        failures,
        notes: [`${results.length - failed.length}/${results.length} refused correctly`],
        details: {
          byGroup,
          failures: failed.map((f) => ({ group: f.c.group, name: f.c.name, status: f.res.status ?? f.res.error, problems: f.problems, body: f.res.text?.slice(0, 300) })),
          before,
          after,
        },
      };
    } finally {
      await stack.teardown({ keepData: ctx.keep }).catch(() => undefined);
    }
  },
};

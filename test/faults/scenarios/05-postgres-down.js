'use strict';
// 5. PostgreSQL unavailable: the API and the worker reach PostgreSQL through a TCP proxy the
// scenario controls (the shared server is never stopped). After a warm-up (the API key is then
// cached), the proxy first refuses connections (server down), then accepts and never answers
// (server hung), then forwards again. Ingestion with the cached key must keep working all along;
// login must answer 503 + Retry-After (not hang, not 500) and work again once PostgreSQL is back.
const { FAULTS_DATABASE } = require('../lib/config');
const { request, retryAfterMs } = require('../lib/http');
const { PgProxy } = require('../lib/services');
const { runLoadScenario } = require('../lib/scenario');
const { log, sleep } = require('../lib/util');

const REFUSE_MS = 15_000;
const HANG_MS = 15_000;
const LOGIN_TIMEOUT_MS = 20_000;

async function login(port, admin) {
  const t = Date.now();
  const res = await request({ port, method: 'POST', path: '/api/auth/login', body: { email: admin.email, password: admin.password }, timeoutMs: LOGIN_TIMEOUT_MS });
  return { res, ms: Date.now() - t };
}

const describe = ({ res, ms }) => (res.error ? `${res.error} after ${ms} ms` : `${res.status} ${res.json?.error?.code ?? ''} after ${ms} ms`);
const is503 = ({ res }) => res.status === 503 && res.json?.error?.code === 'SERVICE_UNAVAILABLE' && retryAfterMs(res) !== undefined;

module.exports = {
  id: 5,
  name: 'postgres-down',
  title: 'PostgreSQL unavailable (refused, then hung): cached API keys keep ingesting, login answers 503',
  run: (ctx) =>
    runLoadScenario(ctx, {
      async stack() {
        const proxy = new PgProxy();
        await proxy.up();
        return { stack: { databaseUrl: proxy.url(FAULTS_DATABASE) }, state: { proxy } };
      },
      async setup(stack) {
        const worker = await stack.worker('worker-0', { BATCH_TIMEOUT_MS: '200' });
        const api = await stack.api('api');
        await Promise.all([worker.startReady(), api.startReady()]);
        return { api, workers: [worker] };
      },
      load: ctx.full ? { events: 30_000, rate: 600, concurrency: 12 } : { events: 15_000, rate: 300, concurrency: 12 },
      async fault({ state, ctx: c, ledger, notes }) {
        const { proxy, api } = state;
        const checks = [];
        const before = await login(api.port, c.admin);
        checks.push({ name: 'login works before the outage', ok: before.res.status === 200, detail: describe(before) });
        await sleep(5_000); // the load has used (and so cached) the API key by now
        const s503Before = ledger.s503;

        log('  fault: PostgreSQL refuses connections');
        await proxy.refuse();
        await sleep(1_500);
        const refused = await login(api.port, c.admin);
        const unknownKey = await request({ port: api.port, method: 'POST', path: '/api/v1/events', headers: { 'x-api-key': `evp_${'A'.repeat(43)}` }, body: { eventType: 'x', userId: 'u', sessionId: 's', timestamp: new Date().toISOString() } });
        const health = await request({ port: api.port, path: '/api/health' });
        checks.push({ name: 'PostgreSQL refused: login answers 503 + Retry-After', ok: is503(refused), detail: describe(refused) });
        checks.push({ name: 'PostgreSQL refused: an unknown API key answers 503 (cannot be checked)', ok: unknownKey.status === 503, detail: `${unknownKey.status ?? unknownKey.error} ${unknownKey.json?.error?.code ?? ''}` });
        checks.push({ name: 'PostgreSQL refused: /api/health is 503 and names postgres', ok: health.status === 503 && /postgres/.test(health.text), detail: `${health.status} ${health.text.slice(0, 200)}` });
        await sleep(REFUSE_MS - 1_500);

        log('  fault: PostgreSQL hangs (connections accepted, never answered)');
        await proxy.blackhole();
        await sleep(1_000);
        const hung = await login(api.port, c.admin);
        checks.push({ name: `PostgreSQL hung: login answers 503 within ${LOGIN_TIMEOUT_MS / 1000} s`, ok: is503(hung), detail: describe(hung) });
        await sleep(Math.max(0, HANG_MS - 1_000 - hung.ms));

        log('  fault: PostgreSQL reachable again');
        await proxy.up();
        const upAt = Date.now();
        let after;
        while (Date.now() - upAt < 30_000) {
          after = await login(api.port, c.admin);
          if (after.res.status === 200) break;
          await sleep(1_000);
        }
        const recoveryMs = Date.now() - upAt;
        checks.push({ name: 'login works again within 30 s of PostgreSQL returning', ok: after.res.status === 200, detail: `${describe(after)}, ${recoveryMs} ms after` });
        const outage503 = ledger.s503 - s503Before;
        checks.push({ name: 'ingestion with the cached key kept working (no 503)', ok: outage503 === 0, detail: `${outage503} × 503 to ingestion` });
        notes.push(`login: refused → ${describe(refused)}; hung → ${describe(hung)}; recovered ${recoveryMs} ms after PostgreSQL returned`);
        return checks;
      },
      async cleanup(state) {
        await state.proxy?.destroy();
      },
      drainTimeoutMs: 180_000,
    }),
};

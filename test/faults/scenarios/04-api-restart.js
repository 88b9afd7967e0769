'use strict';
// 4. API restart under load: the only API process gets SIGTERM (graceful: stops accepting,
// finishes in-flight requests, exits 0 within 10 s), comes back, and later gets SIGKILL (in-flight
// requests die with it: the client cannot know whether they were accepted) and comes back again.
// Clients retry with the same eventIds: an answer lost with the process must turn into a
// 200-duplicate on the retry, never into a second copy.
const { runLoadScenario } = require('../lib/scenario');
const { log, sleep } = require('../lib/util');

module.exports = {
  id: 4,
  name: 'api-restart',
  title: 'API restart: SIGTERM, then SIGKILL of the API mid-load; clients retry with the same ids',
  run: (ctx) =>
    runLoadScenario(ctx, {
      async setup(stack) {
        const env = { BATCH_TIMEOUT_MS: '200' };
        const workers = [await stack.worker('worker-0', env), await stack.worker('worker-1', env)];
        const api = await stack.api('api');
        await Promise.all([...workers.map((w) => w.startReady()), api.startReady()]);
        return { api, workers };
      },
      load: ctx.full ? { events: 40_000, rate: 1_000, concurrency: 24 } : { events: 12_000, rate: 400, concurrency: 16 },
      async fault({ state, ledger, notes }) {
        const api = state.api;
        const errorsNow = () => Object.values(ledger.summary().errors).reduce((a, b) => a + b, 0);
        await sleep(7_000);
        log('  fault: SIGTERM to the API');
        const termAt = Date.now();
        const term = await api.stop('SIGTERM', 20_000);
        const termMs = Date.now() - termAt;
        await sleep(1_500);
        await api.startReady();
        log(`  fault: API exited ${term.code ?? term.signal} after ${termMs} ms, restarted; SIGKILL in 8 s`);
        await sleep(8_000);
        const before = errorsNow();
        await api.kill();
        await sleep(1_500);
        await api.startReady();
        log('  fault: API killed and restarted');
        notes.push(`graceful stop took ${termMs} ms (exit ${term.code ?? term.signal}); ${errorsNow()} connection errors retried in all`);
        return [
          { name: 'SIGTERM: the API exits 0 within 10 s', ok: term.code === 0 && termMs <= 10_000, detail: `exit ${term.code ?? term.signal} after ${termMs} ms` },
          { name: 'clients saw the SIGKILL (connection errors)', ok: errorsNow() > before, detail: `${errorsNow() - before} connection errors` },
        ];
      },
      drainTimeoutMs: 180_000,
    }),
};

'use strict';
// 3. Redis restart with persistence: a private redis-server (appendonly yes, appendfsync always)
// is the stream, dedup and auth-cache store. Mid-stream it is shut down (SIGTERM: SHUTDOWN, AOF
// flushed) and started again from the same directory; later it is killed (SIGKILL: a crash) and
// started again. Clients retry every failed request with the same eventId: with `always` every
// acknowledged append and dedup key survives, so nothing is lost and no retry is accepted twice.
const { PrivateRedis } = require('../lib/services');
const { runLoadScenario } = require('../lib/scenario');
const { log, sleep } = require('../lib/util');

const DOWN_MS = 3_000;

module.exports = {
  id: 3,
  name: 'redis-restart',
  title: 'Redis restart with persistence (AOF, appendfsync always): SHUTDOWN and a crash mid-stream',
  run: (ctx) =>
    runLoadScenario(ctx, {
      async stack() {
        const redis = new PrivateRedis(ctx.logDir, { appendfsync: 'always' });
        await redis.start();
        return { stack: { redisUrl: redis.url }, state: { redis } };
      },
      async setup(stack) {
        const env = { CLAIM_IDLE_MS: '5000', BATCH_TIMEOUT_MS: '200' };
        const workers = [await stack.worker('worker-0', env), await stack.worker('worker-1', env)];
        const api = await stack.api('api');
        await Promise.all([...workers.map((w) => w.startReady()), api.startReady()]);
        return { api, workers };
      },
      load: ctx.full ? { events: 40_000, rate: 800, concurrency: 16 } : { events: 12_000, rate: 300, concurrency: 12 },
      poisonAt: [0.1, 0.7],
      async fault({ state, ledger, notes }) {
        const felt = () => ledger.s503 + Object.values(ledger.summary().errors).reduce((a, b) => a + b, 0);
        await sleep(8_000);
        const before = felt();
        log('  fault: redis SHUTDOWN (SIGTERM)');
        const term = await state.redis.stop('SIGTERM');
        await sleep(DOWN_MS);
        await state.redis.start();
        log(`  fault: redis back (exit ${term.code ?? term.signal}); crash (SIGKILL) in 10 s`);
        await sleep(10_000);
        await state.redis.stop('SIGKILL');
        await sleep(DOWN_MS);
        await state.redis.start();
        log('  fault: redis back after the crash');
        // A request whose script ran just before Redis went away gets 503 although its events are
        // in the stream (the reply was lost with the connection): at most one request (a batch of
        // up to 20 events) per client per restart.
        state.ambiguousAllowance = 2 * (ctx.full ? 16 : 12) * 20;
        const failedRequests = felt() - before;
        notes.push(`${failedRequests} requests failed (503 or connection error) during the two restarts and were retried`);
        return [
          { name: 'clients saw the outages (503 / connection errors)', ok: failedRequests > 0, detail: `${failedRequests} failed requests` },
          { name: 'the API recovered by itself (no process restarts)', ok: state.api.starts === 1 && state.workers.every((w) => w.starts === 1 && w.running), detail: 'a process exited' },
        ];
      },
      async cleanup(state) {
        await state.redis?.destroy();
      },
      drainTimeoutMs: 240_000,
    }),
};

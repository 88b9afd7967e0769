'use strict';
// 6. Backpressure: MAX_STREAM_BACKLOG is small and the only worker is stopped, so unpaced
// producers fill the stream past it. The API must answer 429 BACKPRESSURE with Retry-After and
// accept nothing more (the backlog stays near the threshold instead of growing); clients wait and
// retry the same events. When the worker comes back, the backlog drains, ingestion resumes, and
// every accepted event is stored once.
const { runLoadScenario } = require('../lib/scenario');
const { groupInfo } = require('../lib/check');
const { log, sleep } = require('../lib/util');

const MAX_STREAM_BACKLOG = 2000;
// The API reads the backlog every 250 ms, so it can overshoot by what arrives in between.
const OVERSHOOT_ALLOWANCE = 3000;

module.exports = {
  id: 6,
  name: 'backpressure',
  title: `Backpressure: worker stopped, producers faster than MAX_STREAM_BACKLOG=${MAX_STREAM_BACKLOG} → 429, no loss, drains after restart`,
  run: (ctx) =>
    runLoadScenario(ctx, {
      async setup(stack) {
        const worker = await stack.worker('worker-0', { BATCH_TIMEOUT_MS: '200' });
        const api = await stack.api('api', { MAX_STREAM_BACKLOG: String(MAX_STREAM_BACKLOG) });
        await Promise.all([worker.startReady(), api.startReady()]);
        // The consumer group exists now; stop the worker before any load arrives.
        await worker.stop('SIGTERM');
        return { api, workers: [worker] };
      },
      // Unpaced: as fast as 16 clients can go, far faster than a stopped worker drains (0/s).
      load: ctx.full ? { events: 30_000, rate: 0, concurrency: 16, batchShare: 0.7 } : { events: 10_000, rate: 0, concurrency: 16, batchShare: 0.7 },
      poisonAt: [0.05],
      async fault({ stack, state, ledger, notes }) {
        const backlog = async () => {
          const len = await stack.redis.xlen(stack.stream);
          const gi = await groupInfo(stack.redis, stack.stream, stack.group);
          return gi && gi.lag !== null ? gi.lag + gi.pending : len;
        };
        // Sample the backlog while the worker is away, until 429s have gone on for a while.
        let maxBacklog = 0;
        let first429At;
        const start = Date.now();
        while (Date.now() - start < 60_000) {
          maxBacklog = Math.max(maxBacklog, await backlog());
          if (ledger.s429 > 0 && first429At === undefined) first429At = Date.now();
          if (first429At !== undefined && Date.now() - first429At > 8_000) break;
          await sleep(100);
        }
        const acceptedWhileStopped = ledger.summary().accepted;
        const codes = ledger.summary().errorCodes;
        log(`  fault: backlog peaked at ${maxBacklog} (limit ${MAX_STREAM_BACKLOG}); ${ledger.s429} × 429 so far; restarting the worker`);
        await state.workers[0].startReady();
        notes.push(`backlog peak ${maxBacklog} with the worker stopped (limit ${MAX_STREAM_BACKLOG}); ${acceptedWhileStopped} accepted before the restart`);
        return [
          { name: 'producers got 429 BACKPRESSURE with Retry-After', ok: (codes['429 BACKPRESSURE'] ?? 0) > 0 && ledger.summary().unexpected === 0, detail: JSON.stringify(codes) },
          { name: `the backlog stayed near the limit (≤ ${MAX_STREAM_BACKLOG} + ${OVERSHOOT_ALLOWANCE})`, ok: maxBacklog <= MAX_STREAM_BACKLOG + OVERSHOOT_ALLOWANCE, detail: `peak ${maxBacklog}` },
          { name: 'no 503 (backpressure is not an outage)', ok: ledger.s503 === 0, detail: `${ledger.s503} × 503` },
        ];
      },
      drainTimeoutMs: 180_000,
    }),
};

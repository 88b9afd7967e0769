'use strict';
// 1. Worker SIGKILL: three workers; every few seconds a random one is killed with SIGKILL (no
// shutdown hook runs: its buffered and in-flight batches die with it) and started again. The
// survivors reclaim what it held once idle for CLAIM_IDLE_MS. Nothing may be lost or stored twice.
const { runLoadScenario } = require('../lib/scenario');
const { log, pick, sleep, randomInt } = require('../lib/util');

module.exports = {
  id: 1,
  name: 'worker-sigkill',
  title: 'Worker SIGKILL: 3 workers, a random one killed and restarted every few seconds',
  run: (ctx) =>
    runLoadScenario(ctx, {
      async setup(stack) {
        const workerEnv = { CLAIM_IDLE_MS: '3000', BATCH_TIMEOUT_MS: '200' };
        const workers = [];
        for (let i = 0; i < 3; i++) workers.push(await stack.worker(`worker-${i}`, workerEnv));
        const api = await stack.api('api');
        await Promise.all([...workers.map((w) => w.startReady()), api.startReady()]);
        return { api, workers };
      },
      load: ctx.full
        ? { events: 100_000, rate: 1_500, concurrency: 24, deadlineMs: 600_000 }
        : { events: 15_000, rate: 600, concurrency: 16 },
      async fault({ state, loadDone, notes }) {
        let kills = 0;
        while (!loadDone()) {
          await sleep(randomInt(2500, 4500));
          if (loadDone()) break;
          const victim = pick(state.workers);
          if (!victim.running) continue;
          await victim.kill();
          kills += 1;
          // A short pause so the victim's entries sit pending on a dead consumer, then a new one.
          await sleep(randomInt(200, 1200));
          victim.start();
        }
        await Promise.all(state.workers.map((w) => w.waitReady()));
        log(`  fault: ${kills} workers killed with SIGKILL and restarted`);
        notes.push(`${kills} SIGKILLs`);
        return [{ name: 'at least 3 workers were killed', ok: kills >= 3, detail: `${kills} kills` }];
      },
      drainTimeoutMs: ctx.full ? 600_000 : 240_000,
    }),
};

'use strict';
// 2. Shard outage: shard 0 is a private FerretDB (the shared shards on 27017–27019 are never
// touched) and it is killed for 20 s while events flow, then started again. Shard 0 also holds
// the DLQ, and a few bad entries arrive during the outage: dead-lettering must wait for the shard
// like any other write. Events of the healthy shards keep being stored; events of shard 0 stay
// pending (never dead-lettered, however often they are retried) and are stored once it is back.
const { MONGO_HOSTS } = require('../lib/config');
const { PrivateFerretDb } = require('../lib/services');
const { runLoadScenario } = require('../lib/scenario');
const { log, sleep } = require('../lib/util');

const OUTAGE_MS = 20_000;

module.exports = {
  id: 2,
  name: 'shard-outage',
  title: `Shard outage: a private FerretDB shard (shard 0, also the DLQ) down for ${OUTAGE_MS / 1000} s mid-stream`,
  run: (ctx) =>
    runLoadScenario(ctx, {
      async stack() {
        const ferret = new PrivateFerretDb(ctx.logDir);
        await ferret.start();
        return { stack: { shardHosts: [ferret.hostPort(), MONGO_HOSTS[1], MONGO_HOSTS[2]] }, state: { ferret } };
      },
      async setup(stack) {
        // Short claim time: given-up entries come back every ~1 s, i.e. far more often than
        // MAX_DELIVERIES during the outage — which must not count toward it.
        const env = { CLAIM_IDLE_MS: '4000', BATCH_TIMEOUT_MS: '200', MAX_DELIVERIES: '5' };
        const workers = [await stack.worker('worker-0', env), await stack.worker('worker-1', env)];
        const api = await stack.api('api');
        await Promise.all([...workers.map((w) => w.startReady()), api.startReady()]);
        return { api, workers };
      },
      load: ctx.full ? { events: 40_000, rate: 800, concurrency: 16 } : { events: 12_000, rate: 300, concurrency: 12 },
      // One batch of bad entries before the outage, one during it.
      poisonAt: [0.1, 0.45],
      async fault({ stack, state, ledger }) {
        await sleep(8_000);
        const s503Before = ledger.s503;
        const before = [await stack.shards.approxCount(1), await stack.shards.approxCount(2)];
        log('  fault: killing the private FerretDB (shard 0)');
        await state.ferret.stop('SIGKILL');
        const downAt = Date.now();
        await sleep(OUTAGE_MS);
        const after = [await stack.shards.approxCount(1), await stack.shards.approxCount(2)];
        log(`  fault: restarting shard 0 after ${((Date.now() - downAt) / 1000).toFixed(1)} s; healthy shards went ${before.join('/')} → ${after.join('/')} meanwhile`);
        await state.ferret.start();
        state.outage503 = ledger.s503 - s503Before;
        return [
          { name: 'healthy shards kept storing during the outage', ok: after[0] > before[0] && after[1] > before[1], detail: `shard 1 ${before[0]}→${after[0]}, shard 2 ${before[1]}→${after[1]}` },
          { name: 'ingestion does not depend on the shards (no 503 during the outage)', ok: state.outage503 === 0, detail: `${state.outage503} × 503` },
        ];
      },
      async cleanup(state) {
        await state.ferret?.stop('SIGTERM');
      },
      drainTimeoutMs: 240_000,
    }),
};

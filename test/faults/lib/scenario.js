'use strict';
// The shape shared by the load scenarios (1–6): start the processes, run the client load while a
// fault timeline breaks things, inject a few deliberately bad stream entries, heal, wait for the
// workers to drain, check the invariant, tear down.
const { waitForDrain, verify } = require('./check');
const { EventFactory, Ledger, runLoad } = require('./load');
const { Stack } = require('./stack');
const { log, sleep } = require('./util');

/**
 * spec: {
 *   stack: options for Stack, or a function (ctx) → Promise<options>,
 *   setup(stack, ctx) → Promise<{api, workers, ...state}>   starts processes (ready),
 *   load: {events, rate, concurrency, batchShare, batchSize, duplicateRate, deadlineMs},
 *   fault({stack, state, ledger, loadDone, ctx}) → Promise<extraChecks[]>  the timeline,
 *   poisonAt: fractions of the load at which 3 bad entries are written (default [0.1, 0.6]),
 *   heal(state) → Promise (before draining),
 *   drainTimeoutMs,
 *   cleanup(state) → Promise   after the processes stopped and the scenario's data was dropped,
 * }
 */
async function runLoadScenario(ctx, spec) {
  const stackOpts = typeof spec.stack === 'function' ? await spec.stack(ctx) : spec.stack ?? {};
  const stack = new Stack(ctx, stackOpts.stack ?? stackOpts);
  const state = { stack, ...(stackOpts.state ?? {}) };
  const poison = new Map();
  const ledger = new Ledger();
  const factory = new EventFactory(`${ctx.name}-${ctx.suffix}`);
  let extraChecks = [];
  const notes = [];
  try {
    Object.assign(state, await spec.setup(stack, ctx, state));
    const load = spec.load;
    let loadDone = false;
    log(`  load: ${load.events} events, ${load.rate ? `${load.rate}/s` : 'unpaced'}, ${load.concurrency ?? 16} clients`);
    const loadStart = Date.now();
    const loadPromise = runLoad({
      getPort: () => state.api.port,
      apiKey: ctx.apiKey,
      count: load.events,
      rate: load.rate,
      concurrency: load.concurrency ?? 16,
      batchShare: load.batchShare ?? 0.5,
      batchSize: load.batchSize ?? 20,
      duplicateRate: load.duplicateRate ?? 0.03,
      deadlineMs: load.deadlineMs ?? 300_000,
      ledger,
      factory,
    }).finally(() => {
      loadDone = true;
    });

    // Progress, and the bad entries at fixed points of the load.
    const poisonAt = [...(spec.poisonAt ?? [0.1, 0.6])];
    const progress = (async () => {
      let last = 0;
      while (!loadDone) {
        await sleep(250);
        const done = ledger.events.size / load.events;
        while (poisonAt.length && done >= poisonAt[0]) {
          poisonAt.shift();
          await stack.injectPoison(poison).catch((err) => notes.push(`poison injection failed: ${err.message}`));
        }
        if (Date.now() - last > 5000) {
          last = Date.now();
          const s = ledger.summary();
          log(`  load: ${s.accepted}/${load.events} accepted, ${s.requests} requests, 503 ${s.s503}, 429 ${s.s429}, 5xx ${s.fiveXX}, conn errors ${Object.values(s.errors).reduce((a, b) => a + b, 0)}`);
        }
      }
    })();

    const faultPromise = spec.fault({ stack, state, ledger, ctx, notes, loadDone: () => loadDone });
    extraChecks = (await faultPromise) ?? [];
    await loadPromise;
    await progress;
    const loadSeconds = (Date.now() - loadStart) / 1000;
    // Bad entries the load ended before reaching (e.g. a short run).
    while (poisonAt.length) {
      poisonAt.shift();
      await stack.injectPoison(poison);
    }
    if (spec.heal) await spec.heal(state);

    const s = ledger.summary();
    log(`  load finished in ${loadSeconds.toFixed(1)} s: ${s.accepted} accepted of ${s.sent}; draining`);
    const drain = await waitForDrain({
      redis: stack.redis,
      stream: stack.stream,
      group: stack.group,
      shards: stack.shards,
      expected: s.accepted + poison.size,
      timeoutMs: spec.drainTimeoutMs ?? 240_000,
    });
    log(`  drain ${drain.drained ? 'complete' : 'INCOMPLETE'} after ${(drain.waitedMs / 1000).toFixed(1)} s`);
    const row = await verify({
      name: ctx.name,
      ledger,
      shards: stack.shards,
      poison,
      redis: stack.redis,
      stream: stack.stream,
      group: stack.group,
      extraChecks,
      drain,
      ambiguousAllowance: state.ambiguousAllowance ?? 0,
    });
    if (row.details.client.phantom > 0) {
      notes.push(`${row.details.client.phantom} events answered 503 were in fact appended (the retry got 200 duplicate): ${row.details.client.phantomIds.join(', ')}`);
    }
    row.details.loadSeconds = loadSeconds;
    row.details.eventsPerSecond = Math.round(s.accepted / loadSeconds);
    row.notes = notes;
    return row;
  } finally {
    await stack.teardown({ keepData: ctx.keep }).catch(() => undefined);
    if (spec.cleanup) await spec.cleanup(state).catch(() => undefined);
  }
}

module.exports = { runLoadScenario };

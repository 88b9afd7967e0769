import { Logger } from '@nestjs/common';
import type { DlqRepository } from '../dlq/dlq.repository';
import type { StoredEventDocument } from '../events/event.types';
import type { MongoShards } from '../mongo/mongo-shards';
import type { RedisConnections } from '../redis/redis-connections';
import type { BatchOutcome, BatchProcessor, PreparedEntry, PreparedEvent } from './batch-processor';
import type { EventWriter } from './storage/event-writer';
import type { ClaimPage, ConsumerGroup, DeliveredEntry } from './stream/consumer-group';
import { READER_SOCKET_SLACK_MS, StreamWorker } from './stream-worker.service';
import { WorkerMetrics } from './worker-metrics';
import { WorkerSettings } from './worker-settings';

const entry = (id: string): DeliveredEntry => ({ partition: 0, stream: 'events_stream', id, fields: [], deliveries: 1, transientFailures: 0 });
const entries = (prefix: string, n: number): DeliveredEntry[] => Array.from({ length: n }, (_, i) => entry(`${prefix}${i}`));

/**
 * The worker's buffering and shutdown against fake collaborators and fake timers: which batch
 * starts when. Reads, claims and writes finish when the test says so.
 */
describe('StreamWorker', () => {
  let settings: WorkerSettings;
  let worker: StreamWorker;
  /** Resolves the read loop's pending XREADGROUP, or fails it. */
  let deliver: (e: DeliveredEntry[]) => void;
  let failRead: (err: Error) => void;
  /** Every batch started: when (fake Date.now()) and its entry ids. */
  let writes: Array<{ at: number; ids: string[] }>;
  /** How long each next write takes (ms), in order; 0 when the list is empty. */
  let writeMs: number[];
  let claim: (page: ClaimPage) => void;
  let claimCalls: number;
  /** What the reclaims after the first one find, page by page. */
  let pages: ClaimPage[];
  let readerOptions: Record<string, unknown> | undefined;
  let readCalls: number;
  /** includeOwn and start of every claimIdlePage call. */
  let claimedOwn: boolean[];
  let claimStarts: string[];
  /** Entries routed to shard 1 (ids starting with 'h'); writes to shard 1 hang while `hung` (if hangs(first id)). */
  let shards: { count: number; all: [] };
  let hung: boolean;
  let hangs: (firstId: string) => boolean;
  let unhang: Array<() => void>;
  /** Ids handed to leavePending. */
  let leftPending: string[];
  let ownRetries: 'all' | 'page' | 'none';

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(async () => {
    jest.useFakeTimers({ now: 0 });
    settings = new WorkerSettings();
    settings.batchSize = 10;
    settings.batchTimeoutMs = 100;
    settings.maxWritesPerShard = 1;
    settings.heldBatchesPerShard = 3;
    settings.reclaimIntervalMs = 60_000;
    writes = [];
    writeMs = [];
    claimCalls = 0;
    readCalls = 0;
    claimedOwn = [];
    claimStarts = [];
    pages = [];
    shards = { count: 1, all: [] };
    hung = false;
    hangs = () => true;
    unhang = [];
    leftPending = [];
    ownRetries = 'all';
    const group = {
      streams: [{ partition: 0, stream: 'events_stream' }],
      ensureGroups: async () => undefined,
      read: () =>
        new Promise<DeliveredEntry[]>((resolve, reject) => {
          readCalls += 1;
          deliver = resolve;
          failRead = reject;
        }),
      unblock: async () => deliver([]),
      // The first reclaim (at start) waits for the test; later ones find nothing.
      claimIdlePage: (_ps: unknown, start: string, _isHeld: unknown, includeOwn: boolean) => {
        claimedOwn.push(includeOwn);
        claimStarts.push(start);
        if (claimCalls++ === 0) return new Promise<ClaimPage>((resolve) => (claim = resolve));
        return Promise.resolve(pages.shift() ?? { entries: [], next: null });
      },
      touch: async () => 0,
      trim: async () => 0,
      expireConsumers: async () => 0,
    } as unknown as ConsumerGroup;
    const outcome = (n: number): BatchOutcome => ({ stored: n, duplicates: 0, dlq: 0, deferred: 0 });
    const processor = {
      prepare: (e: DeliveredEntry): PreparedEntry => ({ kind: 'event', shard: e.id.startsWith('h') ? 1 : 0, entry: e, doc: {} as StoredEventDocument }),
      storeBatch: async (shard: number, batch: PreparedEvent[]) => {
        writes.push({ at: Date.now(), ids: batch.map((b) => b.entry.id) });
        if (shard === 1 && hung && hangs(batch[0].entry.id)) await new Promise<void>((resolve) => unhang.push(resolve));
        const ms = writeMs.shift() ?? 0;
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
        return outcome(batch.length);
      },
      deadLetter: async () => outcome(0),
      leavePending: async (_shard: number, items: PreparedEvent[]) => {
        leftPending.push(...items.map((i) => i.entry.id));
        return { ...outcome(0), deferred: items.length };
      },
    } as unknown as BatchProcessor;
    const reader = { on: () => undefined, client: async () => 1 };
    readerOptions = undefined;
    worker = new StreamWorker(
      settings,
      group,
      processor,
      { ownRetries: () => ownRetries } as unknown as EventWriter,
      shards as unknown as MongoShards,
      { ensureIndexes: async () => undefined } as unknown as DlqRepository,
      {
        connect: async (_name: string, options: Record<string, unknown>) => {
          readerOptions = options;
          return reader;
        },
      } as unknown as RedisConnections,
      new WorkerMetrics(),
    );
    await worker.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
  });

  afterEach(async () => {
    const stopped = worker.beforeApplicationShutdown();
    claim?.({ entries: [], next: null });
    await jest.advanceTimersByTimeAsync(settings.shutdownBudgetMs);
    await stopped;
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** Hands entries to the read loop and lets it buffer them. */
  const read = async (e: DeliveredEntry[]): Promise<void> => {
    deliver(e);
    await jest.advanceTimersByTimeAsync(0);
  };

  it("reads on a connection without command timeout, whose socket is dropped when silent well past BLOCK", () => {
    expect(readerOptions).toMatchObject({ commandTimeout: undefined, socketTimeout: settings.blockMs + READER_SOCKET_SLACK_MS });
  });

  it('writes a partial buffer BATCH_TIMEOUT_MS after its oldest event arrived', async () => {
    await read(entries('a', 3));
    await jest.advanceTimersByTimeAsync(40);
    await read(entries('b', 2));
    await jest.advanceTimersByTimeAsync(59);
    expect(writes).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(writes).toEqual([{ at: 100, ids: ['a0', 'a1', 'a2', 'b0', 'b1'] }]);
  });

  it('writes the overdue remainder of a due buffer as soon as a slot frees, without waiting another timeout', async () => {
    writeMs = [300, 30, 0];
    await read(entries('a', 10)); // a full batch: written at once, and slow (300 ms)
    await read(entries('b', 5)); // waits for the slot; due at 100
    await jest.advanceTimersByTimeAsync(50);
    await read(entries('c', 10)); // 15 buffered
    await jest.advanceTimersByTimeAsync(250); // t = 300: the first write returns
    expect(writes.map((w) => w.at)).toEqual([0, 300]);
    expect(writes[1].ids).toEqual([...entries('b', 5), ...entries('c', 5)].map((e) => e.id));
    // c5…c9 arrived at 50 and are overdue: they go when the 30 ms write returns (330), not at
    // 300 + BATCH_TIMEOUT_MS as if their timeout started over.
    await jest.advanceTimersByTimeAsync(30);
    expect(writes.map((w) => w.at)).toEqual([0, 300, 330]);
    expect(writes[2].ids).toEqual(['c5', 'c6', 'c7', 'c8', 'c9']);
  });

  it('waits for the remainder of a due buffer by its own oldest event when that is young', async () => {
    writeMs = [150, 0];
    await read(entries('a', 10)); // written at once, returns at 150
    await read(entries('b', 4)); // due at 100, written at 150 when the slot frees
    await jest.advanceTimersByTimeAsync(120);
    await read(entries('c', 10)); // t = 120: 14 buffered, a full batch of b0…b3 + c0…c5 at 150
    await jest.advanceTimersByTimeAsync(30);
    expect(writes.map((w) => w.at)).toEqual([0, 150]);
    // c6…c9 arrived at 120: due at 220, not before.
    await jest.advanceTimersByTimeAsync(69);
    expect(writes).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(writes.map((w) => w.at)).toEqual([0, 150, 220]);
    expect(writes[2].ids).toEqual(['c6', 'c7', 'c8', 'c9']);
  });

  it('stops reading while it holds heldBatchesPerShard batches per shard plus a read, and reads again when a batch is done', async () => {
    claim({ entries: [], next: null });
    writeMs = [1_000, 1_000];
    await read(entries('a', 40));
    await read(entries('b', 40)); // 80 held = 10 × 1 × 3 + 50: the bound
    const reads = readCalls;
    await jest.advanceTimersByTimeAsync(999);
    expect(readCalls).toBe(reads); // no read while the first batch is being written
    expect(writes).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(writes).toHaveLength(2); // its 10 entries are done: room again
    expect(readCalls).toBe(reads + 1);
  });

  it('leaves pending what a stalled shard cannot take, so reading goes on for the other shards', async () => {
    shards.count = 2; // held bound: 10 × 2 × 3 + 50 = 110
    hung = true;
    claim({ entries: [], next: null });
    await read(entries('ha', 10)); // shard 1's only write slot: unanswered from now on
    await read(entries('hb', 30));
    await jest.advanceTimersByTimeAsync(2_999);
    expect(leftPending).toEqual([]); // slow, not yet stalled: everything stays buffered
    await jest.advanceTimersByTimeAsync(1);
    // Stalled: two batches stay buffered for when it answers, the rest is left pending.
    expect(leftPending).toEqual(entries('hb', 30).slice(20).map((e) => e.id));
    // Far more than the held bound arrives for it, and shard 0's events still get read and written.
    for (const p of ['hc', 'hd', 'he']) await read(entries(p, 50));
    await read(entries('a', 10));
    expect(writes.map((w) => w.ids[0])).toEqual(['ha0', 'a0']);
    expect(leftPending).toHaveLength(10 + 150);
    // Meanwhile the reclaimer leaves our own given-up entries alone (they would only be left again)…
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(claimedOwn).toEqual([true, false]);
    // …until the shard answers: then its buffered two batches are written, and own retries resume.
    hung = false;
    for (const resolve of unhang) resolve();
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(writes.map((w) => w.ids[0])).toEqual(['ha0', 'a0', 'hb0', 'hb10']);
    expect(claimedOwn).toEqual([true, false, true]);
  });

  it("while a probe is due, retries one page of its own given-up entries per round, each round the next page", async () => {
    claim({ entries: [], next: null });
    await jest.advanceTimersByTimeAsync(0);
    ownRetries = 'page';
    pages = [
      { entries: entries('r', 2), next: '(2-0' }, // the own page
      { entries: entries('s', 2), next: '(4-0' }, // the scan for other consumers' entries
      { entries: [], next: null },
    ];
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(claimedOwn).toEqual([true, true, false, false]);
    expect(claimStarts).toEqual(['-', '-', '-', '(4-0']);
    // The next round's own page starts where the last one ended; past the end, over from the start.
    pages = [{ entries: [], next: null }];
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(claimStarts.slice(4)).toEqual(['(2-0', '-']);
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(claimStarts.slice(6)).toEqual(['-', '-']);
    ownRetries = 'none';
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(claimedOwn.slice(8)).toEqual([false]);
  });

  it('a shard with one slow write beside a slot that keeps answering is not stalled', async () => {
    settings.maxWritesPerShard = 2;
    shards.count = 2;
    hung = true;
    hangs = (id) => id.startsWith('hslow');
    claim({ entries: [], next: null });
    await read(entries('hslow', 10)); // takes one slot for good
    await read(entries('hb', 30)); // the other slot writes these, one batch after the other
    await jest.advanceTimersByTimeAsync(3_000);
    await read(entries('hc', 50)); // more than two batches wait while the answering slot writes
    await jest.advanceTimersByTimeAsync(10);
    expect(leftPending).toEqual([]);
    expect(writes.map((w) => w.ids[0])).toEqual(['hslow0', 'hb0', 'hb10', 'hb20', 'hc0', 'hc10', 'hc20', 'hc30', 'hc40']);
    await jest.advanceTimersByTimeAsync(settings.reclaimIntervalMs);
    expect(claimedOwn.at(-1)).toBe(true); // own retries go on
  });

  it('on shutdown, stores what a reclaim page in progress brings in before returning', async () => {
    expect(claimCalls).toBe(1); // the first reclaim runs at start and is still waiting
    await read(entries('a', 2));
    let done = false;
    const stopped = worker.beforeApplicationShutdown().then(() => {
      done = true;
    });
    await jest.advanceTimersByTimeAsync(10);
    expect(writes.map((w) => w.ids)).toEqual([['a0', 'a1']]); // the buffer, written at once
    expect(done).toBe(false); // the reclaim has not answered yet
    claim({ entries: entries('r', 3), next: null });
    await jest.advanceTimersByTimeAsync(10);
    await stopped;
    expect(writes.map((w) => w.ids)).toEqual([
      ['a0', 'a1'],
      ['r0', 'r1', 'r2'],
    ]);
  });

  it('on shutdown, does not wait out a read-failure backoff', async () => {
    settings.retryBaseMs = 5_000;
    settings.retryCapMs = 5_000;
    jest.spyOn(Math, 'random').mockReturnValue(0.99);
    failRead(new Error('Connection is closed.')); // the loop now pauses ~5 s before reading again
    await jest.advanceTimersByTimeAsync(100);
    let done = false;
    const stopped = worker.beforeApplicationShutdown().then(() => {
      done = true;
    });
    claim({ entries: [], next: null });
    await jest.advanceTimersByTimeAsync(50);
    expect(done).toBe(true);
    await stopped;
  });
});

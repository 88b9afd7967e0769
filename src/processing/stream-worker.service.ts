import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type Redis from 'ioredis';
import { EVENTS_COLLECTION } from '../events/event.types';
import { MongoShards, Shard } from '../mongo/mongo-shards';
import { RedisConnections } from '../redis/redis-connections';
import { DlqRepository } from '../dlq/dlq.repository';
import { BatchOutcome, BatchProcessor, DeadLetter, PreparedEvent } from './batch-processor';
import { EventWriter } from './storage/event-writer';
import { describeError } from './storage/mongo-errors';
import { backoffDelayMs, sleep } from './storage/retry-policy';
import { ConsumerGroup, DeliveredEntry } from './stream/consumer-group';
import { WorkerMetrics } from './worker-metrics';
import { WorkerSettings } from './worker-settings';

interface ShardBuffer {
  items: PreparedEvent[];
  timer?: NodeJS.Timeout;
  /** Writes to this shard in progress (insertMany not yet answered). */
  writing: number;
  /** Those of them unanswered for longer than stallMs. */
  stalled: number;
  /** The oldest buffered event has waited BATCH_TIMEOUT_MS (or we are stopping): write as soon as a slot frees. */
  due: boolean;
}

/** How much longer than BLOCK the reader's socket may stay silent before it is dropped. */
export const READER_SOCKET_SLACK_MS = 5_000;

/** Indexes every shard's events collection needs (analytics reads by time/type and per user). */
export const EVENT_INDEXES = [
  { key: { timestamp: 1, eventType: 1 }, name: 'timestamp_1_eventType_1' },
  { key: { userId: 1, timestamp: -1 }, name: 'userId_1_timestamp_-1' },
] as const;

/**
 * The stream consumer of ROLE=worker/all.
 *
 * Reading: one blocking XREADGROUP loop on a connection of its own. Entries are triaged at once
 * and buffered per shard; a shard's buffer is written when it holds BATCH_SIZE events or its
 * oldest event has waited BATCH_TIMEOUT_MS. So every insertMany carries a full batch for one
 * shard (as the raw-insert baseline does) instead of a third of one.
 *
 * Pipelining: reading goes on while batches are being written, up to a bound on entries held
 * (read and not yet acked) — otherwise each batch would wait for the previous round trip.
 *
 * Alongside: a reclaim loop (idle pending entries: our own given-up ones and crashed consumers'),
 * and a hygiene loop (trim the stream below what every group still needs; drop dead consumers).
 */
@Injectable()
export class StreamWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('processing');
  private reader?: Redis;
  private readerClientId?: number;
  private stopping = false;
  private readLoopDone: Promise<void> = Promise.resolve();

  private readonly shardBuffers = new Map<number, ShardBuffer>();
  private deadBuffer: DeadLetter[] = [];
  /** Every entry read and not yet finished (buffered or being written), by `stream␀id`, with when it was taken. */
  private readonly held = new Map<string, { entry: DeliveredEntry; since: number }>();
  private readonly inflight = new Set<Promise<void>>();
  private roomWaiters: Array<() => void> = [];
  /** Pauses that end early when the worker stops (see pause). */
  private readonly stopWaiters = new Set<() => void>();

  /** Where the next single page of own retries starts, per partition stream (see reclaim). */
  private readonly ownPageCursor = new Map<string, string>();

  private readonly loopTimers = new Set<NodeJS.Timeout>();
  private readonly loopRuns = new Set<Promise<void>>();

  private sinceLog = { events: 0, stored: 0, duplicates: 0, dlq: 0, deferred: 0 };
  private lastLogAt = Date.now();

  constructor(
    private readonly settings: WorkerSettings,
    private readonly group: ConsumerGroup,
    private readonly processor: BatchProcessor,
    private readonly writer: EventWriter,
    private readonly shards: MongoShards,
    private readonly dlq: DlqRepository,
    private readonly connections: RedisConnections,
    private readonly metrics: WorkerMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.group.ensureGroups();
    await this.ensureIndexes();
    // Blocking reads must neither hit the 2 s command timeout nor fail while Redis reconnects. A
    // read answers within BLOCK ms, so a socket silent for much longer is dead (a silent network
    // partition would otherwise hold the read until TCP keep-alive notices, ~2 h by default).
    this.reader = await this.connections.connect('stream-reader', {
      commandTimeout: undefined,
      socketTimeout: this.settings.blockMs + READER_SOCKET_SLACK_MS,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
    });
    this.reader.on('ready', () => void this.refreshReaderId());
    await this.refreshReaderId();
    this.logger.log(
      { consumer: this.settings.consumer, group: this.settings.group, streams: this.group.streams.map((s) => s.stream), shards: this.shards.count },
      'stream worker started',
    );
    this.readLoopDone = this.readLoop();
    this.startLoop('reclaim', 0, this.settings.reclaimIntervalMs, () => this.reclaim());
    this.startLoop('hygiene', this.settings.hygieneIntervalMs, this.settings.hygieneIntervalMs, () => this.hygiene());
    this.startLoop('touch', this.settings.touchIntervalMs, this.settings.touchIntervalMs, () => this.touchHeld());
  }

  /**
   * Graceful stop (SIGTERM): stop reading, write and ack what is buffered, wait for in-flight
   * batches — within shutdownBudgetMs. Whatever is still unacked after that stays pending in
   * the stream and is reclaimed by another worker: nothing is lost, at worst redelivered.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake();
    for (const endPause of [...this.stopWaiters]) endPause();
    const deadline = Date.now() + this.settings.shutdownBudgetMs;
    for (const t of this.loopTimers) clearTimeout(t);
    this.loopTimers.clear();
    await this.unblockReader();
    // The read loop and a reclaim page in progress may still bring in entries (a read that
    // returns with entries, a claim answered after the stop): keep flushing until they have
    // ended and nothing is buffered or in flight (or the budget is spent). A shard's next batch
    // starts when its current write returns.
    let loopsEnded = false;
    const loops = Promise.allSettled([this.readLoopDone, ...this.loopRuns]).then(() => {
      loopsEnded = true;
    });
    while (Date.now() < deadline) {
      this.flushAll();
      if (loopsEnded && this.inflight.size === 0 && this.bufferedCount() === 0) break;
      const waits: Array<Promise<unknown>> = [...this.inflight, ...(loopsEnded ? [] : [loops])];
      await raceDeadline(waits.length > 0 ? Promise.race(waits) : sleep(10), deadline);
    }
    const left = this.held.size;
    this.logger.log({ leftPending: left, ...this.metrics.snapshot(), batchLatencyMs: undefined }, 'stream worker stopped');
  }

  /** Whether this process holds an entry right now (the reclaimer must not take it back). */
  private isHeld = (stream: string, id: string): boolean => this.held.has(heldKey({ stream, id }));

  private async readLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      await this.waitForRoom();
      if (this.stopping) break;
      let entries: DeliveredEntry[];
      try {
        entries = await this.group.read(this.reader!);
        failures = 0;
      } catch (err) {
        if (this.stopping) break;
        failures += 1;
        if (/NOGROUP/.test((err as Error).message)) {
          // The stream or group was deleted (or Redis restarted empty): recreate and go on.
          await this.group.ensureGroups().catch(() => undefined);
        }
        if (failures === 1 || failures % 20 === 0) this.logger.warn({ err: describeError(err), failures }, 'stream read failed; retrying');
        await this.pause(backoffDelayMs(failures, this.settings.retryBaseMs, this.settings.retryCapMs) + 50);
        continue;
      }
      this.accept(entries);
    }
  }

  /** Triage and buffer entries (from a read or a claim). */
  private accept(entries: DeliveredEntry[]): void {
    const now = Date.now();
    for (const entry of entries) {
      const key = heldKey(entry);
      if (this.held.has(key)) continue;
      this.held.set(key, { entry, since: now });
      const prepared = this.processor.prepare(entry);
      if (prepared.kind === 'dead') {
        this.deadBuffer.push(prepared);
        continue;
      }
      const buf = this.bufferOf(prepared.shard);
      buf.items.push(prepared);
      if (buf.items.length >= this.settings.batchSize) this.flushShard(prepared.shard, false);
      else this.armTimer(prepared.shard, buf);
      if (this.isStalled(buf)) this.shedIfStalled(prepared.shard, buf);
    }
    this.metrics.held = this.held.size;
    if (this.deadBuffer.length > 0) {
      const dead = this.deadBuffer;
      this.deadBuffer = [];
      this.track(dead.map((d) => d.entry), () => this.processor.deadLetter(dead));
    }
  }

  private bufferOf(shard: number): ShardBuffer {
    let buf = this.shardBuffers.get(shard);
    if (!buf) {
      buf = { items: [], writing: 0, stalled: 0, due: false };
      this.shardBuffers.set(shard, buf);
    }
    return buf;
  }

  /** A buffer becomes due BATCH_TIMEOUT_MS after its oldest event arrived. */
  private armTimer(shard: number, buf: ShardBuffer): void {
    if (buf.timer || buf.items.length === 0 || buf.due || this.stopping) return;
    const delay = Math.max(0, this.oldestArrival(buf) + this.settings.batchTimeoutMs - Date.now());
    buf.timer = setTimeout(() => {
      buf.timer = undefined;
      this.flushShard(shard, true);
    }, delay);
  }

  /**
   * Starts writes for a shard: full batches, or whatever is buffered when it is due. At most
   * maxWritesPerShard writes per shard at a time (more only adds contention in the shard);
   * the next batch fills while the current ones are written.
   */
  private flushShard(shard: number, due: boolean): void {
    const buf = this.bufferOf(shard);
    if (due) buf.due = true;
    while (buf.writing < this.settings.maxWritesPerShard && (buf.items.length >= this.settings.batchSize || (buf.due && buf.items.length > 0))) {
      const batch = buf.items.splice(0, this.settings.batchSize);
      // What is left is due by its own oldest event, not by the one just written: when a due
      // buffer held more than a batch, its remainder has usually waited out the timeout too,
      // and re-arming a full BATCH_TIMEOUT_MS for it would add that much latency again.
      buf.due = this.stopping || (buf.items.length > 0 && Date.now() - this.oldestArrival(buf) >= this.settings.batchTimeoutMs);
      if (buf.timer) clearTimeout(buf.timer);
      buf.timer = undefined;
      buf.writing += 1;
      let released = false;
      let stallTimer: NodeJS.Timeout | undefined = setTimeout(() => {
        stallTimer = undefined;
        buf.stalled += 1;
        this.shedIfStalled(shard, buf);
      }, this.settings.stallMs);
      const release = (): void => {
        if (released) return;
        released = true;
        if (stallTimer) clearTimeout(stallTimer);
        else buf.stalled -= 1;
        buf.writing -= 1;
        this.flushShard(shard, false);
      };
      this.track(
        batch.map((b) => b.entry),
        () => this.processor.storeBatch(shard, batch, release).finally(release),
      );
    }
    if (buf.items.length === 0) buf.due = false;
    this.armTimer(shard, buf);
  }

  /**
   * A shard whose every write slot is stalled keeps two batches buffered (its share of the held
   * bound); the newer entries are left pending as a transient failure, so they count no delivery
   * toward MAX_DELIVERIES and come back through the reclaim once the shard answers again.
   */
  private shedIfStalled(shard: number, buf: ShardBuffer): void {
    const keep = 2 * this.settings.batchSize;
    if (!this.isStalled(buf) || buf.items.length <= keep) return;
    const shed = buf.items.splice(keep);
    this.track(
      shed.map((s) => s.entry),
      () => this.processor.leavePending(shard, shed, `no answer to a write for over ${this.settings.stallMs} ms`),
    );
  }

  /**
   * Every write slot of the shard is stalled. One slow write (a long duplicate lookup, say) beside
   * a slot that keeps answering is no stall.
   */
  private isStalled(buf: ShardBuffer): boolean {
    return buf.stalled >= this.settings.maxWritesPerShard;
  }

  /** Some shard is stalled (see shedIfStalled). */
  private anyShardStalled(): boolean {
    for (const buf of this.shardBuffers.values()) if (this.isStalled(buf)) return true;
    return false;
  }

  /** When the buffer's oldest event was read: every buffered entry is held, since its read or claim. */
  private oldestArrival(buf: ShardBuffer): number {
    return this.held.get(heldKey(buf.items[0].entry))!.since;
  }

  private bufferedCount(): number {
    let n = this.deadBuffer.length;
    for (const buf of this.shardBuffers.values()) n += buf.items.length;
    return n;
  }

  private flushAll(): void {
    for (const shard of this.shardBuffers.keys()) this.flushShard(shard, true);
    if (this.deadBuffer.length > 0) {
      const dead = this.deadBuffer;
      this.deadBuffer = [];
      this.track(dead.map((d) => d.entry), () => this.processor.deadLetter(dead));
    }
  }

  /** Runs a batch; when it settles its entries are released and the reader may read again. */
  private track(entries: DeliveredEntry[], run: () => Promise<BatchOutcome>): void {
    // eslint-disable-next-line prefer-const -- assigned before the first await inside settles
    let p: Promise<void> | undefined;
    p = (async () => {
      try {
        this.noteOutcome(entries.length, await run());
      } catch (err) {
        // The processor does not throw by design; if it does, the entries stay pending.
        this.logger.error({ err: describeError(err), entries: entries.length }, 'batch failed unexpectedly; entries left pending');
      } finally {
        for (const e of entries) this.held.delete(heldKey(e));
        this.metrics.held = this.held.size;
        if (p) this.inflight.delete(p);
        this.wake();
      }
    })();
    this.inflight.add(p);
  }

  /** Entries this process may hold (read, not yet finished): heldBatchesPerShard per shard, plus a read's worth. */
  private get heldLimit(): number {
    return this.settings.batchSize * this.shards.count * this.settings.heldBatchesPerShard + this.settings.readCount * this.group.streams.length;
  }

  private async waitForRoom(): Promise<void> {
    while (!this.stopping && this.held.size >= this.heldLimit) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /** Sleeps `ms`, or less if the worker stops meanwhile (shutdown waits for the read loop). */
  private pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const end = (): void => {
        clearTimeout(timer);
        this.stopWaiters.delete(end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.stopWaiters.add(end);
    });
  }

  private wake(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  /** Idle pending entries: page through every partition's PEL and take over what is due. */
  private async reclaim(): Promise<void> {
    // While a shard is stalled (or paused: see ownRetries), our own given-up entries, mostly its,
    // would only be left pending again at once.
    const own = this.anyShardStalled() ? 'none' : this.writer.ownRetries();
    for (const ps of this.group.streams) {
      if (own === 'page') {
        // One page of own entries per partition carries the due probe: the page after the previous
        // round's, so that entries further back (healthy shards' among them) get their turn too,
        // instead of the same oldest page being claimed and deferred again every round.
        await this.waitForRoom();
        if (this.stopping) return;
        const page = await this.group.claimIdlePage(ps, this.ownPageCursor.get(ps.stream) ?? '-', this.isHeld, true);
        this.ownPageCursor.set(ps.stream, page.next ?? '-');
        this.takeClaimed(ps.stream, page.entries);
      }
      let start = '-';
      while (!this.stopping) {
        await this.waitForRoom();
        if (this.stopping) return;
        const page = await this.group.claimIdlePage(ps, start, this.isHeld, own === 'all');
        this.takeClaimed(ps.stream, page.entries);
        if (!page.next) break;
        start = page.next;
      }
    }
  }

  private takeClaimed(stream: string, entries: DeliveredEntry[]): void {
    if (entries.length === 0) return;
    this.metrics.reclaimed += entries.length;
    const fromOthers = entries.filter((e) => e.deliveries > 1).length;
    this.logger.debug({ stream, entries: entries.length, fromOthers }, 'reclaimed idle pending entries');
    this.accept(entries);
  }

  /**
   * Entries held for a while (waiting for a write slot, or in a slow write) get their idle time
   * reset, so no other consumer reclaims them mid-write (each reclaim counts a delivery, and
   * bouncing entries used to exceed MAX_DELIVERIES while being stored). Entries younger than
   * half an interval are skipped: the read or claim that brought them reset their idle time.
   */
  private async touchHeld(): Promise<void> {
    const cutoff = Date.now() - this.settings.touchIntervalMs / 2;
    const due: DeliveredEntry[] = [];
    for (const { entry, since } of this.held.values()) if (since <= cutoff) due.push(entry);
    if (due.length > 0) await this.group.touch(due);
  }

  private async hygiene(): Promise<void> {
    // Each job on its own: a failing trim must not keep consumers from expiring, nor the reverse.
    const [trimmed, expired] = await Promise.allSettled([this.group.trim(), this.group.expireConsumers()]);
    if (trimmed.status === 'fulfilled') this.metrics.trimmed += trimmed.value;
    if (expired.status === 'fulfilled' && expired.value > 0) this.logger.log({ consumers: expired.value }, 'removed idle consumers with nothing pending');
    for (const r of [trimmed, expired]) if (r.status === 'rejected') throw r.reason;
  }

  /** A periodic job: never overlapping itself, failures logged and retried next round. */
  private startLoop(name: string, firstDelayMs: number, intervalMs: number, job: () => Promise<void>): void {
    const schedule = (delay: number): void => {
      if (this.stopping) return;
      const timer = setTimeout(() => {
        this.loopTimers.delete(timer);
        const run = job()
          .catch((err: unknown) => {
            if (!this.stopping) this.logger.warn({ err: describeError(err), job: name }, 'worker background job failed');
          })
          .finally(() => {
            this.loopRuns.delete(run);
            schedule(intervalMs);
          });
        this.loopRuns.add(run);
      }, delay);
      this.loopTimers.add(timer);
    };
    schedule(firstDelayMs);
  }

  private noteOutcome(entries: number, o: BatchOutcome): void {
    const s = this.sinceLog;
    s.events += entries;
    s.stored += o.stored;
    s.duplicates += o.duplicates;
    s.dlq += o.dlq;
    s.deferred += o.deferred;
    const now = Date.now();
    const elapsed = now - this.lastLogAt;
    // Every THROUGHPUT_LOG_EVENTS events (at most once a second) or every interval.
    if ((s.events >= this.settings.throughputLogEvents && elapsed >= 1_000) || elapsed >= this.settings.throughputLogIntervalMs) {
      this.logger.log(
        { ...s, seconds: Math.round(elapsed / 100) / 10, eventsPerSecond: Math.round((s.events * 1000) / Math.max(1, elapsed)), held: this.held.size },
        'worker throughput',
      );
      this.sinceLog = { events: 0, stored: 0, duplicates: 0, dlq: 0, deferred: 0 };
      this.lastLogAt = now;
    }
  }

  private async refreshReaderId(): Promise<void> {
    try {
      this.readerClientId = Number(await this.reader!.client('ID'));
    } catch {
      this.readerClientId = undefined;
    }
  }

  /** Ends a blocked XREADGROUP at once (it returns as a timeout) instead of waiting out BLOCK. */
  private async unblockReader(): Promise<void> {
    if (this.readerClientId === undefined) return;
    try {
      await this.group.unblock(this.readerClientId);
    } catch {
      // The read returns by itself within BLOCK ms.
    }
  }

  /**
   * Indexes on every shard (and the DLQ's on shard 0). A shard that fails now is retried in the
   * background: the worker must still serve the healthy shards.
   */
  private async ensureIndexes(): Promise<void> {
    const jobs: Array<[string, () => Promise<void>]> = [
      ...this.shards.all.map((shard): [string, () => Promise<void>] => [shard.name, () => this.ensureShardIndexes(shard)]),
      ['events_dlq', () => this.dlq.ensureIndexes()],
    ];
    await Promise.all(
      jobs.map(async ([target, job]) => {
        try {
          await job();
        } catch (err) {
          this.logger.warn({ err: describeError(err), target }, 'could not ensure indexes yet; retrying in the background');
          void this.retryInBackground(target, job);
        }
      }),
    );
  }

  private async retryInBackground(target: string, job: () => Promise<void>): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      await sleep(1_000 + backoffDelayMs(attempt, 1_000, 30_000));
      if (this.stopping) return;
      try {
        await job();
        this.logger.log({ target }, 'indexes ensured');
        return;
      } catch {
        // still unavailable; keep trying
      }
    }
  }

  private async ensureShardIndexes(shard: Shard): Promise<void> {
    const db = shard.connection.db;
    if (!db) throw new Error(`${shard.name} is not connected`);
    // One createIndex per index: FerretDB v1.24 panics (and drops the connection) on a
    // createIndexes listing two or more indexes that already exist, i.e. on every restart.
    for (const i of EVENT_INDEXES) await db.collection(EVENTS_COLLECTION).createIndex({ ...i.key }, { name: i.name });
  }
}

/** Key of an entry in `held`: entry ids are unique per stream only. */
function heldKey(e: { stream: string; id: string }): string {
  return `${e.stream}\u0000${e.id}`;
}

async function raceDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    }),
  ]);
  clearTimeout(timer);
}

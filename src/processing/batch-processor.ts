import { Injectable, Optional } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { DlqDocument, dlqId, DlqReason, RAW_VALUE_LIMIT } from '../dlq/dlq-entry';
import { DlqRepository } from '../dlq/dlq.repository';
import { StoredEventDocument } from '../events/event.types';
import { decodeStreamEntry, StreamEntryParseError } from '../events/stream-entry';
import { BatchWriteMetrics } from '../metrics/metrics.ports';
import { MongoShards } from '../mongo/mongo-shards';
import { ShardRouter } from '../mongo/shard-router';
import { isRedisTransientError } from '../redis/redis-errors';
import { RollupWriter } from './rollup-writer';
import { EventWriter, ShardWriteResult } from './storage/event-writer';
import { toStoredDocument } from './storage/event-document';
import { describeError, isTransientError } from './storage/mongo-errors';
import { backoffDelayMs, sleep } from './storage/retry-policy';
import { ConsumerGroup, DeliveredEntry } from './stream/consumer-group';
import { WorkerMetrics } from './worker-metrics';
import { WorkerSettings } from './worker-settings';

/** An entry that became a document, waiting in its shard's buffer. */
export interface PreparedEvent {
  kind: 'event';
  shard: number;
  entry: DeliveredEntry;
  doc: StoredEventDocument;
}

/** An entry that can never be stored as it is. */
export interface DeadLetter {
  kind: 'dead';
  entry: DeliveredEntry;
  reason: DlqReason;
  error: { message: string; code?: number };
  eventId: string | null;
  userId: string | null;
  /** For max-deliveries: the shard its document would be on, when the entry decodes to one. */
  shard?: number;
  /**
   * For max-deliveries with uncertain writes on record: the document, so that one such write
   * found to have stored it can still be counted (rollups) before the entry is acked.
   */
  doc?: StoredEventDocument;
}

export type PreparedEntry = PreparedEvent | DeadLetter;

export interface BatchOutcome {
  stored: number;
  duplicates: number;
  dlq: number;
  /** Left pending after a transient failure (retried later). */
  deferred: number;
}

const DEFER_LOG_INTERVAL_MS = 5_000;

const EMPTY: BatchOutcome = { stored: 0, duplicates: 0, dlq: 0, deferred: 0 };

type BatchLog = Pick<PinoLogger['logger'], 'debug' | 'info' | 'warn' | 'error'>;

/**
 * Turns entries into stored documents, dead letters and acknowledgements. Acks follow
 * durability: an entry is acked only once its document is written (or was already there), or
 * once it is in the DLQ. Transient failures leave entries pending and are counted, so that a
 * shard outage never pushes good events over MAX_DELIVERIES into the DLQ.
 */
@Injectable()
export class BatchProcessor {
  private batchSeq = 0;
  private readonly deferLog = new Map<string, { lastAt: number; suppressed: number }>();

  constructor(
    private readonly settings: WorkerSettings,
    private readonly router: ShardRouter,
    private readonly shards: MongoShards,
    private readonly writer: EventWriter,
    private readonly rollups: RollupWriter,
    private readonly dlq: DlqRepository,
    private readonly group: ConsumerGroup,
    private readonly metrics: WorkerMetrics,
    private readonly pino: PinoLogger,
    @Optional() private readonly shardLatency?: BatchWriteMetrics,
  ) {}

  /** Synchronous triage of one entry: which shard, or why it is dead. */
  prepare(entry: DeliveredEntry): PreparedEntry {
    const counted = entry.deliveries - entry.transientFailures;
    if (counted > this.settings.maxDeliveries) {
      const decoded = tryDecode(entry.fields);
      const dead = this.dead(entry, 'max-deliveries', {
        message:
          `delivered ${entry.deliveries} times (${entry.transientFailures} ended in a transient storage failure); ` +
          `more than MAX_DELIVERIES=${this.settings.maxDeliveries} without an outcome`,
      }, decoded?.event.eventId, decoded?.event.userId);
      // deadLetter() first checks whether an earlier delivery stored it after all.
      if (dead.eventId !== null && dead.userId !== null) {
        dead.shard = this.router.indexFor(dead.userId);
        if (decoded && (entry.uncertainWrites?.length ?? 0) > 0) {
          try {
            dead.doc = toStoredDocument(decoded, new Date(0));
          } catch {
            // Not a valid event: no write of it can have stored it.
          }
        }
      }
      return dead;
    }
    let decoded;
    try {
      decoded = decodeStreamEntry(entry.fields);
    } catch (err) {
      const message = err instanceof StreamEntryParseError ? err.message : `entry does not parse: ${describeError(err).message}`;
      return this.dead(entry, 'unparseable', { message }, null, null);
    }
    const { eventId, userId } = decoded.event;
    try {
      // processedAt is set again when the batch is written.
      const doc = toStoredDocument(decoded, new Date(0));
      return { kind: 'event', shard: this.router.indexFor(doc.userId), entry, doc };
    } catch (err) {
      return this.dead(entry, 'invalid', { message: describeError(err).message }, eventId, userId);
    }
  }

  /** Writes one shard's batch, feeds the rollups, acks, dead-letters the refused documents. */
  async storeBatch(shardIndex: number, items: PreparedEvent[], onWritten?: () => void): Promise<BatchOutcome> {
    const log = this.batchLogger();
    const started = performance.now();
    const shard = this.shards.get(shardIndex);
    const processedAt = new Date();
    const docs = items.map((item) => {
      item.doc.processedAt = processedAt;
      return item.doc;
    });
    const result = await this.writer.write(
      shard,
      docs,
      items.map((item) => item.entry.uncertainWrites),
    );
    if (result.adopted.length > 0) await this.takeOverAdopted(result, items, log);
    const written = performance.now();
    // The shard is free for the next batch; rollups and acks of this one overlap with it.
    onWritten?.();

    if (result.inserted.length > 0) await this.applyRollups(shardIndex, result.inserted.map((i) => docs[i]), log);
    const rolledUp = performance.now();

    const done = [...result.inserted, ...result.duplicates].map((i) => items[i].entry);
    const rejected: DeadLetter[] = result.rejected.map((r) => {
      const { entry, doc } = items[r.index];
      return this.dead(entry, 'rejected', { message: r.reason, ...(r.code !== undefined ? { code: r.code } : {}) }, doc.eventId, doc.userId);
    });
    const deferred = result.deferred.map((i) => items[i].entry);
    const uncertain = result.uncertain.map((i) => items[i].entry);

    const [, dlqOutcome] = await Promise.all([
      this.ack(done, log),
      this.deadLetter(rejected, log),
      this.defer(deferred, result.deferReason, shard.name, log, { entries: uncertain, processedAtMs: processedAt.getTime() }),
    ]);

    this.metrics.processed += result.inserted.length;
    this.metrics.duplicates += result.duplicates.length;
    const ms = performance.now() - started;
    this.metrics.batches += 1;
    this.metrics.batchLatency.observe(ms);
    this.shardLatency?.observe(shard.name, ms / 1000);
    log.debug(
      {
        shard: shard.name,
        size: items.length,
        inserted: result.inserted.length,
        duplicates: result.duplicates.length,
        rejected: rejected.length,
        deferred: deferred.length,
        ms: Math.round(ms),
        writeMs: Math.round(written - started),
        rollupMs: Math.round(rolledUp - written),
      },
      'batch written',
    );
    return {
      stored: result.inserted.length,
      duplicates: result.duplicates.length,
      dlq: dlqOutcome.dlq,
      deferred: deferred.length + dlqOutcome.deferred,
    };
  }

  /**
   * Entries set aside without a write (their shard is not answering, see StreamWorker): left
   * pending and counted as a transient failure, like a write that ran out of retries.
   */
  async leavePending(shardIndex: number, items: PreparedEvent[], reason: string): Promise<BatchOutcome> {
    await this.defer(
      items.map((item) => item.entry),
      reason,
      this.shards.get(shardIndex).name,
      this.batchLogger(),
    );
    return { ...EMPTY, deferred: items.length };
  }

  /**
   * Documents an earlier delivery's uncertain write stored count as inserted only for the delivery
   * that takes over that record; the others treat them as duplicates. If Redis cannot say, they
   * stay pending (the record stays too) and the next delivery decides.
   */
  private async takeOverAdopted(result: ShardWriteResult, items: PreparedEvent[], log: BatchLog): Promise<void> {
    const adopted = new Set(result.adopted);
    const taken = await this.takeOver(result.adopted.map((i) => items[i].entry));
    if (typeof taken === 'string') {
      result.inserted = result.inserted.filter((i) => !adopted.has(i));
      result.deferred.push(...adopted);
      result.deferReason ??= taken;
      return;
    }
    const lost = result.adopted.filter((i) => !taken.has(items[i].entry));
    if (lost.length === 0) return;
    log.debug({ entries: lost.length }, 'another delivery took over these uncertain writes; not counted here');
    const gone = new Set(lost);
    result.inserted = result.inserted.filter((i) => !gone.has(i));
    result.duplicates.push(...lost);
  }

  /**
   * Takes over the uncertain-write records of these entries (retried on Redis failures): the set
   * this delivery may count, or why Redis could not say (then they stay pending, records intact).
   */
  private async takeOver(entries: DeliveredEntry[]): Promise<Set<DeliveredEntry> | string> {
    try {
      return new Set(await this.retrying(() => this.group.takeUncertainWrites(entries), isRedisTransientError));
    } catch (err) {
      return `uncertain-write record unreadable: ${describeError(err).message}`;
    }
  }

  /**
   * Records dead letters on shard 0, then acks them. If the DLQ write fails they stay pending.
   * An entry over MAX_DELIVERIES whose document is stored already (an earlier delivery wrote it
   * and then lost its ack, or was reclaimed mid-write) is acked as a duplicate instead: the
   * delivery count alone never dead-letters a stored event.
   */
  async deadLetter(all: DeadLetter[], log: BatchLog = this.batchLogger()): Promise<BatchOutcome> {
    if (all.length === 0) return EMPTY;
    const checked = await this.settleStored(all, log);
    const items = checked.dead;
    if (items.length === 0) return { ...EMPTY, stored: checked.stored, duplicates: checked.duplicates, deferred: checked.deferred };
    const outcome = await this.recordDead(items, log);
    return { ...outcome, stored: checked.stored, duplicates: checked.duplicates, deferred: outcome.deferred + checked.deferred };
  }

  /**
   * Over-delivered entries whose document is on its shard: ack them. One stored by an earlier
   * delivery's uncertain write (its processedAt is on record) was never counted: the delivery that
   * takes over that record counts it (rollups) as EventWriter.write does; the rest are duplicates.
   * If the shard (or the record) cannot tell, leave them pending as a transient failure — never
   * dead-letter on a guess.
   */
  private async settleStored(items: DeadLetter[], log: BatchLog): Promise<{ dead: DeadLetter[]; stored: number; duplicates: number; deferred: number }> {
    const byShard = new Map<number, DeadLetter[]>();
    const dead: DeadLetter[] = [];
    for (const d of items) {
      if (d.reason !== 'max-deliveries' || d.shard === undefined || d.eventId === null) {
        dead.push(d);
        continue;
      }
      const list = byShard.get(d.shard);
      if (list) list.push(d);
      else byShard.set(d.shard, [d]);
    }
    let stored = 0;
    let duplicates = 0;
    let deferred = 0;
    for (const [shardIndex, list] of byShard) {
      const shard = this.shards.get(shardIndex);
      let found: Map<string, Date | undefined>;
      try {
        found = await this.writer.findStored(shard, list.map((d) => d.eventId!));
      } catch (err) {
        await this.defer(list.map((d) => d.entry), `stored check before dead-lettering failed: ${describeError(err).message}`, shard.name, log);
        deferred += list.length;
        continue;
      }
      dead.push(...list.filter((d) => !found.has(d.eventId!)));
      let done = list.filter((d) => found.has(d.eventId!));
      const adoptable = done.filter((d) => d.doc && d.entry.uncertainWrites?.includes(found.get(d.eventId!)?.getTime() ?? NaN));
      let adopted: DeadLetter[] = [];
      if (adoptable.length > 0) {
        const taken = await this.takeOver(adoptable.map((d) => d.entry));
        if (typeof taken === 'string') {
          const unsure = new Set(adoptable);
          done = done.filter((d) => !unsure.has(d));
          await this.defer(adoptable.map((d) => d.entry), taken, shard.name, log);
          deferred += adoptable.length;
        } else {
          adopted = adoptable.filter((d) => taken.has(d.entry));
        }
      }
      if (adopted.length > 0) {
        const docs = adopted.map((d) => ({ ...d.doc!, processedAt: found.get(d.eventId!)! }));
        await this.applyRollups(shardIndex, docs, log);
        this.metrics.processed += adopted.length;
        stored += adopted.length;
      }
      if (done.length > 0) {
        log.warn(
          { shard: shard.name, entries: done.length, countedNow: adopted.length },
          'entries over MAX_DELIVERIES are stored already; acked, not dead-lettered',
        );
        await this.ack(done.map((d) => d.entry), log);
        this.metrics.duplicates += done.length - adopted.length;
        duplicates += done.length - adopted.length;
      }
    }
    return { dead, stored, duplicates, deferred };
  }

  private async recordDead(items: DeadLetter[], log: BatchLog): Promise<BatchOutcome> {
    const now = new Date();
    const docs = items.map((d) => toDlqDocument(d, this.settings.consumer, now));
    try {
      await this.retrying(() => this.dlq.upsert(docs));
    } catch (err) {
      // Whatever the cause, never ack an entry that is not recorded anywhere.
      await this.defer(items.map((d) => d.entry), `dead-letter write failed: ${describeError(err).message}`, 'mongo-shard-0', log);
      return { ...EMPTY, deferred: items.length };
    }
    for (const d of items) {
      log.warn({ entryId: d.entry.id, eventId: d.eventId, reason: d.reason, error: d.error.message }, 'entry dead-lettered');
    }
    this.metrics.dlq += items.length;
    await this.ack(
      items.map((d) => d.entry),
      log,
    );
    return { ...EMPTY, dlq: items.length };
  }

  batchLogger(): BatchLog {
    return this.pino.logger.child({ module: 'processing', batchId: `${this.settings.consumer}#${++this.batchSeq}` });
  }

  private dead(entry: DeliveredEntry, reason: DlqReason, error: DeadLetter['error'], eventId: unknown, userId: unknown): DeadLetter {
    return {
      kind: 'dead',
      entry,
      reason,
      error,
      eventId: typeof eventId === 'string' ? eventId : null,
      userId: typeof userId === 'string' ? userId : null,
    };
  }

  /**
   * Rollups must see each new event once. They run before the ack; if they keep failing the raw
   * events are still acked (they are durable, and a redelivery would only find duplicates that
   * the rollups never count), and the failure is counted and logged.
   * Redis failures are retried (an apply is idempotent through its batch marker): the client's
   * own ("Command timed out" after a 2 s stall, "Stream isn't writeable" while it reconnects)
   * match none of the Mongo patterns, and with those alone a short stall dropped each flush's
   * rollups on the first try. A script that failed at run time is not retried: its marker is
   * set, so a retry would "succeed" without applying anything, and hide the failure.
   */
  private async applyRollups(shardIndex: number, inserted: StoredEventDocument[], log: BatchLog): Promise<void> {
    try {
      await this.retrying(() => this.rollups.apply(this.shards.get(shardIndex), inserted), isRedisTransientError);
    } catch (err) {
      this.metrics.rollupFailures += inserted.length;
      log.error({ err: describeError(err), events: inserted.length }, 'rollup update failed; raw events stored, rollups short');
    }
  }

  private async ack(entries: DeliveredEntry[], log: BatchLog): Promise<void> {
    if (entries.length === 0) return;
    try {
      await this.retrying(() => this.group.ack(entries), () => true);
      this.metrics.acked += entries.length;
    } catch (err) {
      // Stored but not acked: they come back and are recognised as duplicates.
      log.warn({ err: describeError(err), entries: entries.length }, 'ack failed; entries will be redelivered as duplicates');
    }
  }

  private async defer(
    entries: DeliveredEntry[],
    reason: string | undefined,
    where: string,
    log: BatchLog,
    uncertain?: { entries: DeliveredEntry[]; processedAtMs: number },
  ): Promise<void> {
    if (entries.length === 0) return;
    this.metrics.failed += entries.length;
    // During an outage every batch for the shard is deferred: one line per shard every few
    // seconds (with the count since the last line) instead of one per batch.
    const now = Date.now();
    const state = this.deferLog.get(where) ?? { lastAt: 0, suppressed: 0 };
    state.suppressed += entries.length;
    if (now - state.lastAt >= DEFER_LOG_INTERVAL_MS) {
      log.warn({ shard: where, entries: state.suppressed, reason }, 'transient storage failure; entries left pending for a later retry');
      state.lastAt = now;
      state.suppressed = 0;
    }
    this.deferLog.set(where, state);
    try {
      // Retried: a lost record would either count this delivery toward MAX_DELIVERIES or, for an
      // uncertain write, lose its rollups (a repeated count only makes the limit more lenient).
      await this.retrying(() => this.group.recordTransientFailure(entries, uncertain?.entries, uncertain?.processedAtMs), isRedisTransientError);
    } catch (err) {
      log.warn({ err: describeError(err) }, 'could not record transient failures');
    }
  }

  private async retrying<T>(op: () => Promise<T>, retryable: (err: unknown) => boolean = isTransientError): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (attempt > this.settings.maxRetries || !retryable(err)) throw err;
        this.metrics.retries += 1;
        await sleep(backoffDelayMs(attempt, this.settings.retryBaseMs, this.settings.retryCapMs));
      }
    }
  }
}

/** The decoded entry, or undefined when it does not parse (for the DLQ record, without trusting it). */
function tryDecode(fields: string[]): ReturnType<typeof decodeStreamEntry> | undefined {
  try {
    return decodeStreamEntry(fields);
  } catch {
    return undefined;
  }
}

export function toDlqDocument(d: DeadLetter, consumer: string, now: Date): DlqDocument {
  let truncated = false;
  const raw = d.entry.fields.map((v) => {
    if (v.length <= RAW_VALUE_LIMIT) return v;
    truncated = true;
    return v.slice(0, RAW_VALUE_LIMIT);
  });
  return {
    _id: dlqId(d.entry.partition, d.entry.id),
    stream: d.entry.stream,
    partition: d.entry.partition,
    entryId: d.entry.id,
    eventId: d.eventId,
    userId: d.userId,
    raw,
    truncated,
    reason: d.reason,
    error: d.error,
    attempts: d.entry.deliveries,
    consumer,
    firstSeenAt: now,
    lastSeenAt: now,
  };
}

import { Injectable } from '@nestjs/common';
import type { Collection } from 'mongodb';
import { withTimeout } from '../../common/async/with-timeout';
import { EVENTS_COLLECTION, StoredEventDocument } from '../../events/event.types';
import type { Shard } from '../../mongo/mongo-shards';
import { WorkerMetrics } from '../worker-metrics';
import { WorkerSettings } from '../worker-settings';
import { describeError, DUPLICATE_KEY, isBatchDocumentError, isTransientError, isUnknownServerRefusal } from './mongo-errors';
import { backoffDelayMs, sleep } from './retry-policy';
import { ShardBreaker } from './shard-breaker';

export interface RejectedDocument {
  index: number;
  reason: string;
  code?: number;
}

/** What happened to each document of one shard write (indexes into the documents passed in). */
export interface ShardWriteResult {
  /** Newly written by this call: the only ones the rollups may count. */
  inserted: number[];
  /** Already stored (an earlier delivery wrote them): success, but not counted again. */
  duplicates: number[];
  /** The database refused them: dead-letter. */
  rejected: RejectedDocument[];
  /** Transient failure after all retries (or shard paused): leave the entries pending. */
  deferred: number[];
  /**
   * The part of `deferred` this call may have written after all (an attempt's answer was lost or
   * timed out): a later delivery that finds them stored with this call's processedAt must count
   * them as inserted, since nobody applied their rollups (see `write`'s priorWrites).
   */
  uncertain: number[];
  /**
   * The part of `inserted` found stored by an earlier delivery's uncertain write (priorWrites),
   * not by this call: the caller must take over that record atomically before counting them, or
   * two overlapping deliveries (or a delivery after a failed ack) would both count them.
   */
  adopted: number[];
  deferReason?: string;
}

/** Single-`_id` lookups in flight at once per call (the shard's connection pool is shared). */
const LOOKUP_LANES = 8;

/** Collection of the one-document probe write that tells "the shard stores documents" (see shardStoresOthers). */
export const WRITE_PROBE_COLLECTION = 'events_write_probe';

class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
}

interface AttemptResult {
  inserted: number[];
  duplicateCandidates: number[];
  rejected: RejectedDocument[];
  /** Still to do after a transient failure. */
  transient: number[];
  /** True when the failure hid whether those documents were written (network error, timeout). */
  outcomeUnknown: boolean;
  /**
   * Refused alone with an unknown server code: a culprit only if the shard demonstrably stores
   * other documents (see write()); otherwise the shard is the problem and they are transient.
   */
  refused: RejectedDocument[];
  /** Documents a failed whole command may have stored in part (FerretDB stops at the culprit). */
  partlyWritten: number[];
  error?: unknown;
}

interface WriteErrorLike {
  index: number;
  code?: number;
  errmsg?: string;
}

/** Collection types of the native driver are generic over the schema; ours has string _ids. */
type EventsCollection = Collection<StoredEventDocument>;

/**
 * Writes one shard's part of a batch: a single unordered `insertMany` (one round trip), with
 * per-document outcomes, retries with backoff for transient failures, and a circuit breaker per
 * shard. Never throws: every document ends in exactly one bucket of ShardWriteResult.
 */
@Injectable()
export class EventWriter {
  private readonly breakers = new Map<number, ShardBreaker>();

  constructor(
    private readonly settings: WorkerSettings,
    private readonly metrics: WorkerMetrics,
  ) {}

  /**
   * How many of our own given-up entries are worth retrying now. None while a shard is paused or
   * its probe is out: they are mostly that shard's and would only be deferred again — the whole
   * backlog, every reclaim round. A page while a probe is due (its writes carry the probe). All
   * otherwise.
   */
  ownRetries(): 'all' | 'page' | 'none' {
    let allowed: 'all' | 'page' = 'all';
    for (const b of this.breakers.values()) {
      const phase = b.phase;
      if (phase === 'pausing' || phase === 'probing') return 'none';
      if (phase === 'probe-due') allowed = 'page';
    }
    return allowed;
  }

  breaker(shard: Shard): ShardBreaker {
    let b = this.breakers.get(shard.index);
    if (!b) {
      b = new ShardBreaker(Math.max(100, this.settings.retryBaseMs * 5), this.settings.retryCapMs);
      this.breakers.set(shard.index, b);
    }
    return b;
  }

  /**
   * `priorWrites[i]`: processedAt (ms) of earlier deliveries of document i whose writes ended
   * deferred with an unknown outcome (ShardWriteResult.uncertain). A duplicate-key answer for it
   * is then looked up: stored with one of those processedAt values, that earlier write is the one
   * that stored it and nobody counted it, so it is "inserted" here.
   */
  async write(shard: Shard, docs: StoredEventDocument[], priorWrites?: ReadonlyArray<readonly number[] | undefined>): Promise<ShardWriteResult> {
    const result: ShardWriteResult = { inserted: [], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [] };
    if (docs.length === 0) return result;
    const all = docs.map((_, i) => i);
    const db = shard.connection.db;
    const breaker = this.breaker(shard);
    const gate = breaker.enter();
    if (gate === 'open' || !db) {
      if (gate === 'probe') breaker.release();
      result.deferred = all;
      result.deferReason = !db ? `${shard.name} is not connected` : `${shard.name} is paused after repeated failures`;
      return result;
    }
    // The driver already saw this shard go away (Mongoose readyState 0): an attempt would only
    // sit out server selection (5 s) while holding the batch. Only a probe may find it back.
    if (gate === 'closed' && shard.connection.readyState === 0) {
      breaker.failure();
      result.deferred = all;
      result.deferReason = `${shard.name} is disconnected`;
      return result;
    }
    const collection = db.collection<StoredEventDocument>(EVENTS_COLLECTION);

    // A probe is a single attempt: the shard just failed, do not sit in retries on it.
    const attempts = gate === 'probe' ? 1 : 1 + this.settings.maxRetries;
    const duplicateCandidates: number[] = [];
    const uncertain = new Set<number>();
    let todo = all;
    let lastError: unknown;
    for (let attempt = 1; todo.length > 0; attempt++) {
      const tried = todo.length;
      const r = await this.attempt(collection, docs, todo);
      result.inserted.push(...r.inserted);
      result.rejected.push(...r.rejected);
      duplicateCandidates.push(...r.duplicateCandidates);
      if (r.outcomeUnknown) for (const i of r.transient) uncertain.add(i);
      for (const i of r.partlyWritten) uncertain.add(i);
      todo = r.transient;
      lastError = r.error;
      if (r.refused.length > 0) {
        const v = await this.confirmRefusals(collection, db, docs, r, tried);
        result.inserted.push(...v.inserted);
        result.rejected.push(...v.rejected);
        duplicateCandidates.push(...v.duplicateCandidates);
        for (const i of v.uncertain) uncertain.add(i);
        todo = [...todo, ...v.retry];
        lastError ??= v.error;
      }
      if (todo.length === 0 || attempt >= attempts) break;
      // Another batch has meanwhile declared the shard down: stop retrying, keep entries pending.
      if (gate === 'closed' && breaker.isOpen) break;
      this.metrics.retries += 1;
      await sleep(backoffDelayMs(attempt, this.settings.retryBaseMs, this.settings.retryCapMs));
    }
    if (todo.length > 0) {
      if (gate === 'probe' || !breaker.isOpen) breaker.failure();
      result.deferred.push(...todo);
      result.uncertain.push(...todo.filter((i) => uncertain.has(i)));
      result.deferReason = describeError(lastError).message;
    } else {
      breaker.success();
    }
    if (duplicateCandidates.length > 0) await this.resolveDuplicates(collection, docs, duplicateCandidates, uncertain, result, priorWrites);
    countEachDocumentOnce(docs, result);
    return result;
  }

  /**
   * 11000 means "a unique index already holds this key". For `_id` that is the redelivery case
   * (success, not counted again) — but FerretDB's error does not say which index, and an operator
   * could add another unique index. So, after the error, the shard's index list is read (cheap:
   * catalog only): with no unique index besides `_id` every 11000 is a redelivery and nothing is
   * looked up. Documents are looked up only when another unique index exists (a missing `_id`
   * means that index refused it: dead-letter) or when an earlier attempt of this very call may
   * have written them (its answer was lost): a found document whose processedAt is ours was
   * written by that attempt and counts as "inserted", so the rollups do not miss it. The same
   * holds across deliveries: a document an earlier, deferred delivery may have written
   * (`priorWrites`) is looked up, and counts as inserted when its processedAt is that delivery's.
   * Lookups are single-`_id` equalities (FerretDB pushes `{_id: x}` down; `$in` is a full scan).
   */
  private async resolveDuplicates(
    collection: EventsCollection,
    docs: StoredEventDocument[],
    candidates: number[],
    uncertain: Set<number>,
    result: ShardWriteResult,
    priorWrites?: ReadonlyArray<readonly number[] | undefined>,
  ): Promise<void> {
    // Looked up whatever the index list says: this call, or an earlier delivery's uncertain write,
    // may be what stored it, and then nobody has counted it yet.
    const mustLookUp = (i: number): boolean => uncertain.has(i) || (priorWrites?.[i]?.length ?? 0) > 0;
    let lookAll: boolean;
    let found: Map<string, Date | undefined>;
    try {
      lookAll = candidates.some((i) => !mustLookUp(i)) && (await this.hasOtherUniqueIndex(collection));
      const toLookUp = lookAll ? candidates : candidates.filter(mustLookUp);
      found = toLookUp.length > 0 ? await this.lookUpIds(collection, toLookUp.map((i) => docs[i]._id)) : new Map();
    } catch (err) {
      // Cannot tell: keep them pending, the next delivery decides.
      result.deferred.push(...candidates);
      // This call may have written some of them (an attempt's answer was lost).
      result.uncertain.push(...candidates.filter((i) => uncertain.has(i)));
      result.deferReason ??= describeError(err).message;
      return;
    }
    for (const i of candidates) {
      const doc = docs[i];
      if (!lookAll && !mustLookUp(i)) {
        result.duplicates.push(i);
      } else if (!found.has(doc._id)) {
        result.rejected.push({ index: i, code: DUPLICATE_KEY, reason: 'duplicate key on a unique index other than _id' });
      } else if (uncertain.has(i) && found.get(doc._id)?.getTime() === doc.processedAt.getTime()) {
        result.inserted.push(i);
      } else if (priorWrites?.[i]?.includes(found.get(doc._id)?.getTime() ?? NaN)) {
        result.inserted.push(i);
        result.adopted.push(i);
      } else {
        result.duplicates.push(i);
      }
    }
  }

  /** Whether the events collection has a unique index besides `_id` (read fresh: an operator may add one). */
  private async hasOtherUniqueIndex(collection: EventsCollection): Promise<boolean> {
    const indexes = await withTimeout(collection.listIndexes().toArray(), this.settings.attemptTimeoutMs, 'index listing timed out');
    return indexes.some((ix) => ix.unique === true && ix.name !== '_id_');
  }

  /**
   * Which of these `_id`s are stored on the shard (with their processedAt). One `{_id: x}` query
   * per id, a few in parallel: an equality on `_id` is pushed down (served by an index: MongoDB's, or
   * the GIN index the local FerretDB stand-in gets from services.sh), while
   * `{_id: {$in: …}}` is never pushed down and scans the whole collection (7 s at 30k documents).
   */
  async findStored(shard: Shard, ids: string[]): Promise<Map<string, Date | undefined>> {
    const db = shard.connection.db;
    if (!db) throw new Error(`${shard.name} is not connected`);
    return this.lookUpIds(db.collection<StoredEventDocument>(EVENTS_COLLECTION), ids);
  }

  private async lookUpIds(collection: EventsCollection, ids: string[]): Promise<Map<string, Date | undefined>> {
    const found = new Map<string, Date | undefined>();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++];
        const row = await collection.findOne({ _id: id }, { projection: { _id: 1, processedAt: 1 } });
        if (row) found.set(row._id, row.processedAt);
      }
    };
    await withTimeout(
      Promise.all(Array.from({ length: Math.min(LOOKUP_LANES, ids.length) }, lane)),
      this.settings.attemptTimeoutMs,
      'duplicate lookup timed out',
    );
    return found;
  }

  /**
   * Documents refused with an unknown server code are dead-lettered only as proven culprits. The
   * shard must store other documents: others of the same split were accepted (for a batch of one,
   * a probe write succeeds). When every document of a larger batch is refused the same way, the
   * shard (not each document) is the problem. And each must be refused again when written alone
   * once more, between two successful probe writes: a backend that fails or comes back in the
   * middle of a split refuses good documents too, and those are then retried (or stored now),
   * not dead-lettered.
   */
  private async confirmRefusals(
    collection: EventsCollection,
    db: NonNullable<Shard['connection']['db']>,
    docs: StoredEventDocument[],
    r: AttemptResult,
    batchSize: number,
  ): Promise<{ inserted: number[]; rejected: RejectedDocument[]; duplicateCandidates: number[]; retry: number[]; uncertain: number[]; error?: unknown }> {
    const out = { inserted: [] as number[], rejected: [] as RejectedDocument[], duplicateCandidates: [] as number[], retry: [] as number[], uncertain: [] as number[], error: undefined as unknown };
    const retryAll = (list: RejectedDocument[]): typeof out => {
      out.retry.push(...list.map((x) => x.index));
      return out;
    };
    const othersAccepted = r.inserted.length > 0 || r.duplicateCandidates.length > 0;
    if (!othersAccepted && batchSize > 1) return retryAll(r.refused);
    if (!(await this.probeWrite(db))) return retryAll(r.refused);
    const again: RejectedDocument[] = [];
    for (const x of r.refused) {
      const one = await this.attempt(collection, docs, [x.index]);
      out.inserted.push(...one.inserted);
      out.duplicateCandidates.push(...one.duplicateCandidates);
      out.rejected.push(...one.rejected);
      out.retry.push(...one.transient);
      if (one.outcomeUnknown) out.uncertain.push(...one.transient);
      out.error ??= one.error;
      again.push(...one.refused);
    }
    if (again.length === 0) return out;
    if (await this.probeWrite(db)) out.rejected.push(...again);
    else retryAll(again);
    return out;
  }

  /** A tiny write on the shard, outside the events collection: does it take writes right now? */
  private async probeWrite(db: NonNullable<Shard['connection']['db']>): Promise<boolean> {
    try {
      await withTimeout(
        db
          .collection<{ _id: string; at: Date }>(WRITE_PROBE_COLLECTION)
          .updateOne({ _id: this.settings.consumer }, { $set: { at: new Date() } }, { upsert: true }),
        this.settings.attemptTimeoutMs,
        'write probe timed out',
      );
      return true;
    } catch {
      return false;
    }
  }

  private async attempt(collection: EventsCollection, docs: StoredEventDocument[], indexes: number[]): Promise<AttemptResult> {
    const r: AttemptResult = { inserted: [], duplicateCandidates: [], rejected: [], transient: [], outcomeUnknown: false, refused: [], partlyWritten: [] };
    try {
      await withTimeout(
        collection.insertMany(
          indexes.map((i) => docs[i]),
          { ordered: false },
        ),
        this.settings.attemptTimeoutMs,
        'write attempt timed out',
      ).catch((err: unknown) => {
        throw err instanceof Error && err.message === 'write attempt timed out' ? new AttemptTimeoutError(err.message) : err;
      });
      r.inserted = indexes;
      return r;
    } catch (err) {
      const writeErrors = bulkWriteErrors(err);
      if (writeErrors) {
        const failed = new Set<number>();
        for (const we of writeErrors) {
          const i = indexes[we.index];
          if (i === undefined) continue;
          failed.add(i);
          if (we.code === DUPLICATE_KEY) r.duplicateCandidates.push(i);
          else if (isTransientError(Object.assign(new Error(we.errmsg ?? ''), { code: we.code }))) r.transient.push(i);
          else r.rejected.push({ index: i, code: we.code, reason: we.errmsg ?? `write error ${we.code}` });
        }
        r.inserted = indexes.filter((i) => !failed.has(i));
        if (r.transient.length > 0) r.error = err;
        return r;
      }
      const documentVerdict = isBatchDocumentError(err);
      if (documentVerdict || isUnknownServerRefusal(err)) {
        // Something in the batch cannot even be sent, or the server refused the command as a
        // whole (a known document code, or an unknown one such as FerretDB's SQLSTATE 22P05):
        // write the documents one by one to find the culprit(s). Network errors and timeouts
        // never come here: they say nothing about the documents.
        if (indexes.length === 1) {
          const d = describeError(err);
          const refusal = { index: indexes[0], ...(d.code !== undefined ? { code: d.code } : {}), reason: d.message };
          if (documentVerdict) r.rejected.push(refusal);
          else r.refused.push(refusal);
          if (!documentVerdict) r.error = err;
          return r;
        }
        // FerretDB stores the documents before the culprit and then fails the command: a single
        // write of those answers 11000, and they are ours (the lookup checks processedAt).
        r.partlyWritten = [...indexes];
        for (const i of indexes) {
          const one = await this.attempt(collection, docs, [i]);
          r.inserted.push(...one.inserted);
          r.duplicateCandidates.push(...one.duplicateCandidates);
          r.rejected.push(...one.rejected);
          r.refused.push(...one.refused);
          r.transient.push(...one.transient);
          r.outcomeUnknown ||= one.outcomeUnknown;
          r.error ??= one.error;
        }
        return r;
      }
      // Transient, or unknown and therefore treated as transient: nothing is known about what
      // reached the shard. Even a refused connection or a failed server selection may be the
      // driver's retry of an attempt that was sent (retryable writes report the retry's error), so
      // every such failure is uncertain; it costs a lookup only if the document turns up stored.
      r.transient = indexes;
      r.outcomeUnknown = true;
      r.error = err;
      return r;
    }
  }
}

/**
 * Two entries of one batch can carry the same eventId (a DLQ replay beside its original's
 * redelivery, a client's manual XADD). They are one document: when a lost answer made both look
 * written by this call (both 11000 on the retry, both found with our processedAt), only the
 * first counts as inserted (the rollups must see the event once); the others are duplicates.
 */
function countEachDocumentOnce(docs: StoredEventDocument[], result: ShardWriteResult): void {
  if (result.inserted.length < 2) return;
  const seen = new Set<string>();
  const again = new Set<number>();
  for (const i of [...result.inserted].sort((a, b) => a - b)) {
    if (seen.has(docs[i]._id)) again.add(i);
    else seen.add(docs[i]._id);
  }
  if (again.size === 0) return;
  result.inserted = result.inserted.filter((i) => !again.has(i));
  result.adopted = result.adopted.filter((i) => !again.has(i));
  result.duplicates.push(...again);
}

/** The per-document errors of a MongoBulkWriteError, or undefined for any other failure. */
function bulkWriteErrors(err: unknown): WriteErrorLike[] | undefined {
  if (!(err instanceof Error) || err.name !== 'MongoBulkWriteError') return undefined;
  const raw = (err as unknown as { writeErrors?: unknown }).writeErrors;
  const list = (Array.isArray(raw) ? raw : raw ? [raw] : []) as WriteErrorLike[];
  // A bulk error without per-document errors is a write-concern or command failure.
  return list.length > 0 ? list : undefined;
}

import type { PinoLogger } from 'nestjs-pino';
import type { DlqDocument } from '../dlq/dlq-entry';
import type { DlqRepository } from '../dlq/dlq.repository';
import type { StoredEventDocument } from '../events/event.types';
import { encodeStreamEntry } from '../events/stream-entry';
import type { MongoShards, Shard } from '../mongo/mongo-shards';
import type { ShardRouter } from '../mongo/shard-router';
import { BatchProcessor, PreparedEvent } from './batch-processor';
import type { RollupWriter } from './rollup-writer';
import type { EventWriter, ShardWriteResult } from './storage/event-writer';
import type { ConsumerGroup, DeliveredEntry } from './stream/consumer-group';
import { WorkerMetrics } from './worker-metrics';
import { WorkerSettings } from './worker-settings';

const event = (id: string, userId = 'u1') => ({
  eventId: id,
  eventType: 'click',
  userId,
  sessionId: 's',
  timestamp: '2024-01-01T00:00:00.000Z',
  priority: 1,
});

let seq = 0;
const entry = (fields: string[], deliveries = 1, transientFailures = 0): DeliveredEntry => ({
  partition: 0,
  stream: 'events_stream',
  id: `1700000000000-${seq++}`,
  fields,
  deliveries,
  transientFailures,
});
const good = (id: string, deliveries = 1, transient = 0) =>
  entry(encodeStreamEntry({ event: event(id), apiKeyId: 'k', receivedAt: 1 }), deliveries, transient);

describe('BatchProcessor', () => {
  let settings: WorkerSettings;
  let writeResult: ShardWriteResult;
  let acked: string[];
  let transient: string[];
  let dlq: DlqDocument[];
  let rolled: StoredEventDocument[];
  let dlqFails: boolean;
  let priorWrites: Array<number[] | undefined> | undefined;
  let uncertainRecorded: Array<{ id: string; processedAtMs: number }>;
  /** Entries whose uncertain-write record another delivery has taken over. */
  let takenElsewhere: Set<string>;
  /** Errors the next rollup applies throw, in order (then they succeed). */
  let rollupFailures: Error[];
  let storedIds: Set<string>;
  let lookupFails: boolean;
  let takeFails: boolean;
  let processor: BatchProcessor;
  let metrics: WorkerMetrics;

  beforeEach(() => {
    settings = new WorkerSettings();
    settings.maxDeliveries = 3;
    settings.retryBaseMs = 1;
    settings.maxRetries = 1;
    acked = [];
    transient = [];
    dlq = [];
    rolled = [];
    dlqFails = false;
    rollupFailures = [];
    uncertainRecorded = [];
    takenElsewhere = new Set();
    storedIds = new Set();
    lookupFails = false;
    takeFails = false;
    metrics = new WorkerMetrics();
    const shard = { index: 2, name: 'mongo-shard-2' } as Shard;
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    processor = new BatchProcessor(
      settings,
      { indexFor: () => 2 } as unknown as ShardRouter,
      { get: () => shard } as unknown as MongoShards,
      {
        write: async (_s: Shard, _docs: StoredEventDocument[], prior?: Array<number[] | undefined>) => {
          priorWrites = prior;
          return writeResult;
        },
        findStored: async (_s: Shard, ids: string[]) => {
          if (lookupFails) throw new Error('connect ECONNREFUSED');
          return new Map(ids.filter((id) => storedIds.has(id)).map((id) => [id, new Date(1)]));
        },
      } as unknown as EventWriter,
      {
        apply: async (_s: Shard, docs: StoredEventDocument[]) => {
          const failure = rollupFailures.shift();
          if (failure) throw failure;
          rolled.push(...docs);
        },
      } as RollupWriter,
      {
        upsert: async (docs: DlqDocument[]) => {
          if (dlqFails) throw new Error('connect ECONNREFUSED');
          dlq.push(...docs);
        },
      } as unknown as DlqRepository,
      {
        ack: async (es: DeliveredEntry[]) => void acked.push(...es.map((e) => e.id)),
        takeUncertainWrites: async (es: DeliveredEntry[]) => {
          if (takeFails) throw new Error('ERR unknown command');
          return es.filter((e) => !takenElsewhere.has(e.id));
        },
        recordTransientFailure: async (es: DeliveredEntry[], unsure: DeliveredEntry[] = [], processedAtMs = 0) => {
          transient.push(...es.map((e) => e.id));
          uncertainRecorded.push(...unsure.map((e) => ({ id: e.id, processedAtMs })));
        },
      } as unknown as ConsumerGroup,
      metrics,
      { logger: { child: () => log } } as unknown as PinoLogger,
    );
  });

  describe('prepare', () => {
    it('routes a good entry to its shard', () => {
      const p = processor.prepare(good('e1'));
      expect(p).toMatchObject({ kind: 'event', shard: 2, doc: { _id: 'e1', userId: 'u1' } });
    });

    it('dead-letters unparseable entries with the reason', () => {
      expect(processor.prepare(entry(['e', '{nope', 'k', '', 'r', '1']))).toMatchObject({ kind: 'dead', reason: 'unparseable', eventId: null });
      expect(processor.prepare(entry(['x', 'y']))).toMatchObject({ kind: 'dead', reason: 'unparseable' });
    });

    it('dead-letters entries that parse but are not valid events', () => {
      const bad = entry(encodeStreamEntry({ event: { ...event('e2'), timestamp: 'yesterday' }, apiKeyId: null, receivedAt: 1 }));
      expect(processor.prepare(bad)).toMatchObject({ kind: 'dead', reason: 'invalid', eventId: 'e2', userId: 'u1' });
    });

    it('dead-letters an entry delivered more than MAX_DELIVERIES times', () => {
      const p = processor.prepare(good('e3', 4));
      expect(p).toMatchObject({ kind: 'dead', reason: 'max-deliveries', eventId: 'e3' });
    });

    it('does not count deliveries that ended in a transient failure (shard outage)', () => {
      expect(processor.prepare(good('e4', 9, 7)).kind).toBe('event');
      expect(processor.prepare(good('e5', 9, 5)).kind).toBe('dead');
    });
  });

  describe('storeBatch', () => {
    const items = (n: number) => Array.from({ length: n }, (_, i) => processor.prepare(good(`b${seq}-${i}`)) as PreparedEvent);

    it('acks stored and duplicate entries, dead-letters refused ones, leaves deferred pending', async () => {
      const batch = items(4);
      writeResult = { inserted: [0], duplicates: [1], rejected: [{ index: 2, code: 2, reason: 'invalid value' }], deferred: [3], uncertain: [], adopted: [], deferReason: 'down' };
      const outcome = await processor.storeBatch(2, batch);
      expect(outcome).toEqual({ stored: 1, duplicates: 1, dlq: 1, deferred: 1 });
      expect(acked.sort()).toEqual([batch[0], batch[1], batch[2]].map((b) => b.entry.id).sort());
      expect(transient).toEqual([batch[3].entry.id]);
      expect(dlq).toHaveLength(1);
      expect(dlq[0]).toMatchObject({ _id: `0:${batch[2].entry.id}`, reason: 'rejected', error: { message: 'invalid value', code: 2 }, eventId: batch[2].doc.eventId });
      // Only the newly inserted document reaches the rollups.
      expect(rolled.map((d) => d._id)).toEqual([batch[0].doc._id]);
      expect(metrics.snapshot()).toMatchObject({ processed: 1, duplicates: 1, dlq: 1, failed: 1, acked: 3 });
    });

    it('records the uncertain part of a deferred batch with its processedAt, and hands earlier uncertain writes to the writer', async () => {
      const batch = items(3);
      batch[1].entry.uncertainWrites = [1_234];
      writeResult = { inserted: [], duplicates: [], rejected: [], deferred: [0, 1, 2], uncertain: [0, 2], adopted: [], deferReason: 'timed out' };
      await processor.storeBatch(2, batch);
      expect(priorWrites).toEqual([undefined, [1_234], undefined]);
      expect(transient.sort()).toEqual(batch.map((b) => b.entry.id).sort());
      const stamp = batch[0].doc.processedAt.getTime();
      expect(uncertainRecorded).toEqual([
        { id: batch[0].entry.id, processedAtMs: stamp },
        { id: batch[2].entry.id, processedAtMs: stamp },
      ]);
      expect(acked).toEqual([]);
    });

    it('counts a document adopted from an earlier uncertain write only if this delivery takes over its record', async () => {
      const batch = items(3);
      takenElsewhere.add(batch[1].entry.id);
      writeResult = { inserted: [0, 1, 2], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [0, 1] };
      const outcome = await processor.storeBatch(2, batch);
      // batch[1]'s record was taken by an overlapping delivery: a duplicate here, not counted twice.
      expect(rolled.map((d) => d._id).sort()).toEqual([batch[0].doc._id, batch[2].doc._id].sort());
      expect(outcome).toMatchObject({ stored: 2, duplicates: 1 });
      expect(acked.sort()).toEqual(batch.map((b) => b.entry.id).sort());
    });

    it('does not retry a rollup script that failed at run time (its marker is set: a retry would hide it)', async () => {
      const batch = items(1);
      writeResult = { inserted: [0], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [] };
      rollupFailures = [new Error('ERR user_script:40: Script attempted to access nonexistent global variable')];
      settings.maxRetries = 2;
      await processor.storeBatch(2, batch);
      expect(metrics.retries).toBe(0);
      expect(metrics.rollupFailures).toBe(1);
      expect(acked).toEqual([batch[0].entry.id]);
    });

    it('retries a rollup apply that failed with a Redis client error (idempotent: batch marker), then acks', async () => {
      const batch = items(2);
      writeResult = { inserted: [0, 1], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [] };
      // What ioredis throws after commandTimeout, and while reconnecting without an offline queue.
      rollupFailures = [new Error('Command timed out'), new Error("Stream isn't writeable and enableOfflineQueue options is false")];
      settings.maxRetries = 2;
      await processor.storeBatch(2, batch);
      expect(rolled.map((d) => d._id)).toEqual(batch.map((b) => b.doc._id));
      expect(metrics.rollupFailures).toBe(0);
      expect(metrics.retries).toBe(2);
      expect(acked.sort()).toEqual(batch.map((b) => b.entry.id).sort());
    });

    it('acks the stored events and counts the rollup failure when the rollups keep failing', async () => {
      const batch = items(2);
      writeResult = { inserted: [0, 1], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [] };
      rollupFailures = [new Error('Command timed out'), new Error('Command timed out')];
      await processor.storeBatch(2, batch);
      expect(rolled).toEqual([]);
      expect(metrics.rollupFailures).toBe(2);
      expect(acked.sort()).toEqual(batch.map((b) => b.entry.id).sort());
    });

    it('stamps processedAt at write time', async () => {
      const batch = items(1);
      writeResult = { inserted: [0], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [] };
      const before = Date.now();
      await processor.storeBatch(2, batch);
      expect(batch[0].doc.processedAt.getTime()).toBeGreaterThanOrEqual(before);
    });

    it('never acks a dead letter that could not be recorded', async () => {
      dlqFails = true;
      const dead = processor.prepare(entry(['garbage', 'x']));
      if (dead.kind !== 'dead') throw new Error('expected dead');
      const outcome = await processor.deadLetter([dead]);
      expect(outcome).toEqual({ stored: 0, duplicates: 0, dlq: 0, deferred: 1 });
      expect(acked).toEqual([]);
      expect(transient).toEqual([dead.entry.id]);
    });
  });

  describe('over MAX_DELIVERIES', () => {
    const overDelivered = (id: string) => {
      const p = processor.prepare(good(id, 4));
      if (p.kind !== 'dead') throw new Error('expected dead');
      return p;
    };

    it('an entry whose document is stored already is acked as a duplicate, not dead-lettered', async () => {
      const stored = overDelivered('m1');
      const missing = overDelivered('m2');
      storedIds.add('m1');
      const outcome = await processor.deadLetter([stored, missing]);
      expect(outcome).toEqual({ stored: 0, duplicates: 1, dlq: 1, deferred: 0 });
      expect(dlq.map((d) => [d.eventId, d.reason])).toEqual([['m2', 'max-deliveries']]);
      expect(acked.sort()).toEqual([stored.entry.id, missing.entry.id].sort());
      expect(metrics.duplicates).toBe(1);
    });

    const overDeliveredUnsure = (id: string, writes: number[]) => {
      const p = processor.prepare({ ...good(id, 4), uncertainWrites: writes });
      if (p.kind !== 'dead') throw new Error('expected dead');
      return p;
    };

    it('counts one stored by an earlier uncertain write (its processedAt on record) once, with rollups', async () => {
      // The fake shard answers processedAt = new Date(1) for stored ids.
      const adopted = overDeliveredUnsure('m4', [7, 1]);
      const otherWrite = overDeliveredUnsure('m5', [7]);
      const elsewhere = overDeliveredUnsure('m6', [1]);
      storedIds.add('m4').add('m5').add('m6');
      takenElsewhere.add(elsewhere.entry.id);
      const outcome = await processor.deadLetter([adopted, otherWrite, elsewhere]);
      expect(outcome).toEqual({ stored: 1, duplicates: 2, dlq: 0, deferred: 0 });
      expect(rolled.map((d) => [d._id, d.processedAt.getTime()])).toEqual([['m4', 1]]);
      expect(acked.sort()).toEqual([adopted.entry.id, otherWrite.entry.id, elsewhere.entry.id].sort());
      expect(metrics.processed).toBe(1);
      expect(metrics.duplicates).toBe(2);
      expect(dlq).toEqual([]);
    });

    it('leaves it pending when the uncertain-write record cannot be taken over', async () => {
      const d = overDeliveredUnsure('m9', [1]);
      storedIds.add('m9');
      takeFails = true;
      expect(await processor.deadLetter([d])).toEqual({ stored: 0, duplicates: 0, dlq: 0, deferred: 1 });
      expect(acked).toEqual([]);
      expect(transient).toEqual([d.entry.id]);
      expect(rolled).toEqual([]);
    });

    it('an over-delivered entry without uncertain writes carries no document (nothing to count)', () => {
      expect(overDelivered('m7').doc).toBeUndefined();
      expect(overDeliveredUnsure('m8', [1]).doc).toMatchObject({ _id: 'm8', userId: 'u1' });
    });

    it('stays pending (a transient failure) when the shard cannot say whether it is stored', async () => {
      lookupFails = true;
      const d = overDelivered('m3');
      const outcome = await processor.deadLetter([d]);
      expect(outcome).toEqual({ stored: 0, duplicates: 0, dlq: 0, deferred: 1 });
      expect(dlq).toEqual([]);
      expect(acked).toEqual([]);
      expect(transient).toEqual([d.entry.id]);
    });

    it('other dead letters are not looked up', async () => {
      lookupFails = true;
      const dead = processor.prepare(entry(['garbage', 'x']));
      if (dead.kind !== 'dead') throw new Error('expected dead');
      expect((await processor.deadLetter([dead])).dlq).toBe(1);
    });
  });
});

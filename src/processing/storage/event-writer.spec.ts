import { BSON, MongoBulkWriteError, MongoNetworkError } from 'mongodb';
import type { StoredEventDocument } from '../../events/event.types';
import type { Shard } from '../../mongo/mongo-shards';
import { WorkerMetrics } from '../worker-metrics';
import { WorkerSettings } from '../worker-settings';
import { EventWriter, WRITE_PROBE_COLLECTION } from './event-writer';

/**
 * A collection that behaves like the events collection for insertMany(ordered: false): unique
 * _id (11000 per duplicate), optional per-document refusals, and scripted whole-command failures.
 */
class FakeEvents {
  readonly stored = new Map<string, StoredEventDocument>();
  calls = 0;
  /** Applied to the next calls in order: 'network' fails before writing, 'network-after' writes then fails. */
  failures: Array<'network' | 'network-after' | 'bson' | 'refused'> = [];
  refuse = new Set<string>();
  /** _ids whose insert reports 11000 without the _id existing (another unique index). */
  otherIndexClash = new Set<string>();

  /** _ids the server refuses with an unknown code for the whole command (FerretDB: SQLSTATE 22P05 for NUL). */
  sqlRefuse = new Set<string>();
  /** Every insert fails with an unknown server code (the shard's backend is broken, not a document). */
  brokenBackend = false;
  /** Whether the backend is broken at insert call n (1-based); probes ask about the next call. */
  brokenAt: (call: number) => boolean = () => false;

  async insertMany(docs: StoredEventDocument[]): Promise<void> {
    this.calls += 1;
    const failure = this.failures.shift();
    const unknownRefusal = () =>
      new MongoBulkWriteError({ message: 'ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)', code: 1, writeErrors: [] }, {} as never);
    if (this.brokenBackend || this.brokenAt(this.calls)) throw unknownRefusal();
    const culprit = docs.findIndex((d) => this.sqlRefuse.has(d._id));
    if (culprit >= 0) {
      // Like FerretDB v1.24: the documents before the culprit are stored, then the command fails.
      for (const d of docs.slice(0, culprit)) if (!this.stored.has(d._id)) this.stored.set(d._id, { ...d });
      throw unknownRefusal();
    }
    if (failure === 'network') throw new MongoNetworkError('connection closed');
    if (failure === 'refused') throw new MongoNetworkError('connect ECONNREFUSED 127.0.0.1:27018');
    if (failure === 'bson' && docs.some((d) => this.refuse.has(d._id))) throw new BSON.BSONError('key must not contain null bytes');
    const writeErrors: Array<{ index: number; code: number; errmsg: string }> = [];
    docs.forEach((d, index) => {
      if (this.refuse.has(d._id)) writeErrors.push({ index, code: 2, errmsg: 'invalid value: nested arrays' });
      else if (this.stored.has(d._id) || this.otherIndexClash.has(d._id)) writeErrors.push({ index, code: 11000, errmsg: 'E11000 duplicate key error' });
      else this.stored.set(d._id, { ...d });
    });
    if (failure === 'network-after') throw new MongoNetworkError('connection reset after write');
    if (writeErrors.length > 0) {
      throw new MongoBulkWriteError({ message: writeErrors[0].errmsg, code: writeErrors[0].code, writeErrors: writeErrors as never }, {} as never);
    }
  }

  /** Index names the collection lists besides `_id_` (all unique). */
  uniqueIndexes: string[] = [];
  listIndexCalls = 0;
  lookups: string[] = [];

  listIndexes() {
    this.listIndexCalls += 1;
    const list = [{ v: 2, key: { _id: 1 }, name: '_id_' }, ...this.uniqueIndexes.map((name) => ({ v: 2, key: { k: 1 }, name, unique: true }))];
    return { toArray: async () => list };
  }

  async findOne(filter: { _id: unknown }) {
    // Only single-_id equalities: anything else (e.g. $in, a full scan on FerretDB) fails the test.
    if (typeof filter._id !== 'string') throw new Error(`unexpected lookup ${JSON.stringify(filter)}`);
    this.lookups.push(filter._id);
    const d = this.stored.get(filter._id);
    return d ? { _id: d._id, processedAt: d.processedAt } : null;
  }

  find(filter: unknown): never {
    throw new Error(`unexpected find ${JSON.stringify(filter)}`);
  }
}

const doc = (id: string, processedAt = new Date(5_000)): StoredEventDocument => ({
  _id: id,
  eventId: id,
  eventType: 't',
  userId: 'u',
  sessionId: 's',
  timestamp: new Date(0),
  priority: 1,
  receivedAt: new Date(0),
  processedAt,
  apiKeyId: null,
});

describe('EventWriter', () => {
  let events: FakeEvents;
  let shard: Shard;
  let writer: EventWriter;
  let metrics: WorkerMetrics;

  let probeFails: boolean;
  let probes: number;

  beforeEach(() => {
    events = new FakeEvents();
    probeFails = false;
    probes = 0;
    const probe = {
      updateOne: async () => {
        probes += 1;
        if (probeFails || events.brokenAt(events.calls + 1)) throw new MongoBulkWriteError({ message: 'backend down', code: 1, writeErrors: [] }, {} as never);
      },
    };
    const collection = (name: string) => (name === WRITE_PROBE_COLLECTION ? probe : events);
    shard = { index: 1, name: 'mongo-shard-1', connection: { db: { collection } } } as unknown as Shard;
    const settings = new WorkerSettings();
    settings.retryBaseMs = 1;
    settings.retryCapMs = 5;
    settings.maxRetries = 2;
    metrics = new WorkerMetrics();
    writer = new EventWriter(settings, metrics);
  });

  it('writes a batch with one insertMany', async () => {
    const r = await writer.write(shard, [doc('a'), doc('b')]);
    expect(r).toEqual({ inserted: [0, 1], duplicates: [], rejected: [], deferred: [], uncertain: [], adopted: [] });
    expect(events.calls).toBe(1);
  });

  it('sorts a partly failing batch: new, duplicate, refused', async () => {
    events.stored.set('dup', doc('dup', new Date(1)));
    events.refuse.add('bad');
    const r = await writer.write(shard, [doc('new'), doc('dup'), doc('bad')]);
    expect(r.inserted).toEqual([0]);
    expect(r.duplicates).toEqual([1]);
    expect(r.rejected).toEqual([{ index: 2, code: 2, reason: 'invalid value: nested arrays' }]);
    expect(r.deferred).toEqual([]);
  });

  it('a redelivery needs no lookup when no unique index besides _id exists', async () => {
    for (const id of ['a', 'b', 'c']) events.stored.set(id, doc(id, new Date(1)));
    const r = await writer.write(shard, [doc('a'), doc('b'), doc('c'), doc('new')]);
    expect(r.duplicates).toEqual([0, 1, 2]);
    expect(r.inserted).toEqual([3]);
    expect(events.lookups).toEqual([]);
    expect(events.listIndexCalls).toBe(1);
  });

  it('a duplicate-key error whose _id is not stored is a refusal (another unique index)', async () => {
    events.uniqueIndexes = ['operator_mistake'];
    events.otherIndexClash.add('x');
    events.stored.set('dup', doc('dup', new Date(1)));
    const r = await writer.write(shard, [doc('x'), doc('dup')]);
    expect(r.duplicates).toEqual([1]);
    expect(r.rejected).toEqual([expect.objectContaining({ index: 0, code: 11000 })]);
    // Looked up one _id at a time (never $in).
    expect(events.lookups.sort()).toEqual(['dup', 'x']);
  });

  it('a failed index listing leaves the duplicates pending rather than guessing', async () => {
    events.stored.set('a', doc('a', new Date(1)));
    events.listIndexes = () => ({ toArray: async () => Promise.reject(new MongoNetworkError('connection closed')) }) as never;
    const r = await writer.write(shard, [doc('a')]);
    expect(r.deferred).toEqual([0]);
    expect(r.duplicates).toEqual([]);
  });

  it('retries a transient failure; a write whose answer was lost still counts as inserted', async () => {
    events.failures = ['network-after'];
    const r = await writer.write(shard, [doc('a'), doc('b')]);
    // The first attempt wrote both and then lost the connection; the retry finds our own documents.
    expect(r.inserted.sort()).toEqual([0, 1]);
    expect(r.duplicates).toEqual([]);
    expect(events.calls).toBe(2);
    expect(metrics.retries).toBe(1);
    // Only documents of the attempt whose answer was lost are looked up, one _id at a time.
    expect(events.lookups.sort()).toEqual(['a', 'b']);
  });

  it('two entries with the same eventId in one batch count once, even after a lost answer', async () => {
    events.failures = ['network-after'];
    // A replay beside its original's redelivery: one document, the rollups must see it once.
    const r = await writer.write(shard, [doc('a'), doc('x'), doc('x')]);
    expect(r.inserted.sort()).toEqual([0, 1]);
    expect(r.duplicates).toEqual([2]);
    expect([...events.stored.keys()].sort()).toEqual(['a', 'x']);
  });

  it('reports the documents of a deferred write whose answers were lost as uncertain', async () => {
    events.failures = ['network-after', 'network-after', 'network-after'];
    const r = await writer.write(shard, [doc('a'), doc('b')]);
    expect(r.deferred.sort()).toEqual([0, 1]);
    expect(r.uncertain.sort()).toEqual([0, 1]);
  });

  it("a network failure leaves the batch uncertain (refused or answer lost: the writer cannot tell); a paused shard's is not", async () => {
    events.failures = ['network', 'network', 'network'];
    // A failure before the write (FakeEvents 'network'): still "outcome unknown" to the writer,
    // which cannot tell a refused connection from a lost answer — so it is uncertain, and the
    // next delivery merely looks it up. A paused shard is never tried at all: not uncertain.
    const r = await writer.write(shard, [doc('c')]);
    expect(r).toMatchObject({ deferred: [0], uncertain: [0] });
    (writer.breaker(shard) as unknown as { openUntil: number }).openUntil = Date.now() + 60_000;
    const paused = await writer.write(shard, [doc('d')]);
    expect(paused).toMatchObject({ deferred: [0], uncertain: [] });
  });

  it('a refused connection is uncertain too (it may be the driver retrying a sent write), and costs nothing when the document was not stored', async () => {
    events.failures = ['refused', 'refused', 'refused'];
    const r = await writer.write(shard, [doc('e')]);
    expect(r).toMatchObject({ deferred: [0], uncertain: [0] });
    // The next delivery (the shard is back) carries that write; the document is not stored, so it
    // is simply inserted.
    writer.breaker(shard).success();
    const again = await writer.write(shard, [doc('e', new Date(9_000))], [[5_000]]);
    expect(again).toMatchObject({ inserted: [0], adopted: [], duplicates: [] });
    expect(events.lookups).toEqual([]);
  });

  it('a later delivery counts a document stored by an earlier uncertain write as inserted, and only that one', async () => {
    events.stored.set('mine', doc('mine', new Date(7_000)));
    events.stored.set('theirs', doc('theirs', new Date(8_000)));
    events.stored.set('plain', doc('plain', new Date(8_000)));
    const r = await writer.write(shard, [doc('mine', new Date(9_000)), doc('theirs', new Date(9_000)), doc('plain', new Date(9_000))], [[6_000, 7_000], [7_000], undefined]);
    // 'mine' was stored by that earlier write (its processedAt): nobody counted it yet.
    expect(r.inserted).toEqual([0]);
    expect(r.adopted).toEqual([0]);
    // 'theirs' was stored by another write than the uncertain one; 'plain' had none: duplicates.
    expect(r.duplicates.sort()).toEqual([1, 2]);
    // Only the entries with an uncertain write are looked up.
    expect(events.lookups.sort()).toEqual(['mine', 'theirs']);
  });

  it('a document written earlier by someone else stays a duplicate after a lost answer', async () => {
    events.stored.set('old', doc('old', new Date(1)));
    events.failures = ['network'];
    const r = await writer.write(shard, [doc('old'), doc('new')]);
    expect(r.duplicates).toEqual([0]);
    expect(r.inserted).toEqual([1]);
  });

  it('defers after 1 + MAX_RETRIES attempts, then fails fast while the shard is paused', async () => {
    events.failures = ['network', 'network', 'network'];
    const r = await writer.write(shard, [doc('a')]);
    expect(r.deferred).toEqual([0]);
    expect(r.deferReason).toMatch(/connection closed/);
    expect(events.calls).toBe(3);

    // Still within the pause however slow this machine is (the first pause is only 100 ms).
    (writer.breaker(shard) as unknown as { openUntil: number }).openUntil = Date.now() + 60_000;
    const again = await writer.write(shard, [doc('b')]);
    expect(again.deferred).toEqual([0]);
    expect(again.deferReason).toMatch(/paused/);
    expect(events.calls).toBe(3);
    expect(events.stored.size).toBe(0);
  });

  it('after the pause a single probe goes through and closes the breaker', async () => {
    events.failures = ['network', 'network', 'network'];
    await writer.write(shard, [doc('a')]);
    const b = writer.breaker(shard);
    // Fast-forward past the pause.
    (b as unknown as { openUntil: number }).openUntil = Date.now() - 1;
    const probe = await writer.write(shard, [doc('a')]);
    expect(probe.inserted).toEqual([0]);
    expect(b.isOpen).toBe(false);
  });

  it('allows all own retries while every breaker is closed, none while one pauses or probes, a page while a probe is due', async () => {
    expect(writer.ownRetries()).toBe('all');
    events.failures = ['network', 'network', 'network'];
    await writer.write(shard, [doc('a')]);
    const b = writer.breaker(shard) as unknown as { openUntil: number };
    b.openUntil = Date.now() + 60_000;
    expect(writer.ownRetries()).toBe('none');
    b.openUntil = Date.now() - 1;
    expect(writer.ownRetries()).toBe('page');
    let answer!: () => void;
    events.insertMany = () => new Promise<void>((resolve) => (answer = resolve));
    const probe = writer.write(shard, [doc('b')]);
    expect(writer.ownRetries()).toBe('none');
    answer();
    await probe;
    expect(writer.ownRetries()).toBe('all');
  });

  it('does not even try a shard the driver already saw disconnect (no 5 s server-selection stall)', async () => {
    (shard.connection as unknown as { readyState: number }).readyState = 0;
    const r = await writer.write(shard, [doc('a')]);
    expect(r.deferred).toEqual([0]);
    expect(r.deferReason).toMatch(/disconnected/);
    expect(events.calls).toBe(0);
    expect(writer.breaker(shard).isOpen).toBe(true);
  });

  it('stops retrying once another batch has declared the shard down', async () => {
    events.failures = ['network', 'network', 'network'];
    const first = writer.write(shard, [doc('a')]);
    // While the first attempt's failure is being handled, another batch trips the breaker.
    writer.breaker(shard).failure();
    const r = await first;
    expect(r.deferred).toEqual([0]);
    expect(events.calls).toBe(1);
  });

  it('a batch that cannot be serialised is split to find the culprit', async () => {
    events.refuse.add('poison');
    events.failures = ['bson'];
    const r = await writer.write(shard, [doc('a'), doc('poison'), doc('c')]);
    expect(r.inserted.sort()).toEqual([0, 2]);
    expect(r.rejected.map((x) => x.index)).toEqual([1]);
    expect(r.deferred).toEqual([]);
  });

  describe('a whole command refused with an unknown server code', () => {
    it('is split: the good documents are stored, only the culprit is refused', async () => {
      events.sqlRefuse.add('nul');
      const r = await writer.write(shard, [doc('a'), doc('b'), doc('nul'), doc('c')]);
      // a and b were stored by the failed command itself (FerretDB stops at the culprit): they are
      // found with our processedAt and count as inserted, so the rollups see them once.
      expect(r.inserted.sort()).toEqual([0, 1, 3]);
      expect(r.duplicates).toEqual([]);
      expect(r.rejected).toEqual([{ index: 2, code: 1, reason: expect.stringMatching(/22P05/) }]);
      expect(r.deferred).toEqual([]);
      expect([...events.stored.keys()].sort()).toEqual(['a', 'b', 'c']);
    });

    it('a lone refused document is the culprit once it is refused again between two successful probe writes', async () => {
      events.sqlRefuse.add('nul');
      const r = await writer.write(shard, [doc('nul')]);
      expect(r.rejected).toEqual([expect.objectContaining({ index: 0, code: 1 })]);
      expect(probes).toBe(2);
      expect(events.calls).toBe(2);
    });

    it('a backend that fails in the middle of a split: the documents it refused stay pending, none is dead-lettered', async () => {
      events.sqlRefuse.add('nul');
      // Call 1: the batch (a stored, then the culprit); 2: a (11000, ours); 3: nul; from 4 on the backend is down.
      events.brokenAt = (call) => call >= 4;
      const r = await writer.write(shard, [doc('a'), doc('nul'), doc('b'), doc('c')]);
      expect(r.inserted).toEqual([0]);
      expect(r.rejected).toEqual([]);
      expect(r.deferred.sort()).toEqual([1, 2, 3]);
    });

    it('a backend that comes back before the probe: the refused documents are written alone again, only the culprit is refused', async () => {
      events.sqlRefuse.add('nul');
      events.brokenAt = (call) => call === 4 || call === 5; // b and c refused by a short blip
      const r = await writer.write(shard, [doc('a'), doc('nul'), doc('b'), doc('c')]);
      expect(r.inserted.sort()).toEqual([0, 2, 3]);
      expect(r.rejected).toEqual([expect.objectContaining({ index: 1, code: 1 })]);
      expect(r.deferred).toEqual([]);
      expect([...events.stored.keys()].sort()).toEqual(['a', 'b', 'c']);
    });

    it('a lone refused document stays pending when the probe fails too (the shard, not the document)', async () => {
      events.sqlRefuse.add('nul');
      probeFails = true;
      const r = await writer.write(shard, [doc('nul')]);
      expect(r.rejected).toEqual([]);
      expect(r.deferred).toEqual([0]);
    });

    it('when every document is refused alike the shard is the problem: nothing is dead-lettered', async () => {
      events.brokenBackend = true;
      const r = await writer.write(shard, [doc('a'), doc('b'), doc('c')]);
      expect(r.rejected).toEqual([]);
      expect(r.deferred.sort()).toEqual([0, 1, 2]);
      expect(r.deferReason).toMatch(/22P05/);
    });

    it('a network failure is never split into single writes', async () => {
      events.failures = ['network', 'network', 'network'];
      const r = await writer.write(shard, [doc('a'), doc('b')]);
      expect(r.deferred).toEqual([0, 1]);
      expect(r.rejected).toEqual([]);
      // One insertMany per attempt, no single-document writes.
      expect(events.calls).toBe(3);
    });
  });
});

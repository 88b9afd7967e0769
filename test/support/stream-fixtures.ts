import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Db, MongoClient } from 'mongodb';
import { stableBucket } from '../../src/common/hashing/stable-hash';
import { EVENTS_COLLECTION, IngestedEvent, StoredEventDocument } from '../../src/events/event.types';
import { encodeStreamEntry } from '../../src/events/stream-entry';

/**
 * Helpers for tests of the stream worker (processing, DLQ): events appended straight to the
 * stream with the API's own codec, and direct views of the shards and the consumer group.
 */

let seq = 0;

export function makeEvent(overrides: Partial<IngestedEvent> = {}): IngestedEvent {
  seq += 1;
  return {
    eventId: `evt-${randomUUID()}`,
    eventType: ['page_view', 'click', 'purchase'][seq % 3],
    userId: `user-${seq % 97}`,
    sessionId: `sess-${seq % 31}`,
    timestamp: new Date(Date.now() - (seq % 1000) * 1000).toISOString(),
    priority: 1,
    payload: { n: seq },
    ...overrides,
  };
}

/** The document a worker would have stored for `event` (for "an earlier delivery wrote it" set-ups). */
export function storedDocument(event: IngestedEvent, processedAt = new Date()): StoredEventDocument {
  return {
    _id: event.eventId,
    eventId: event.eventId,
    eventType: event.eventType,
    userId: event.userId,
    sessionId: event.sessionId,
    timestamp: new Date(event.timestamp),
    priority: event.priority ?? 1,
    receivedAt: new Date(),
    processedAt,
    apiKeyId: null,
  };
}

/** XADDs events exactly as the API would (one pipeline); returns the entry ids. */
export async function appendEvents(redis: Redis, stream: string, events: IngestedEvent[], apiKeyId: string | null = 'key-test'): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (const event of events) pipeline.xadd(stream, '*', ...encodeStreamEntry({ event, apiKeyId, receivedAt: Date.now() }));
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, id]) => {
    if (err) throw err;
    return id as string;
  });
}

/** XADDs a raw field list (for poison entries). */
export async function appendRaw(redis: Redis, stream: string, fields: string[]): Promise<string> {
  return (await redis.xadd(stream, '*', ...fields)) as string;
}

/** Native clients on each shard URI of an env's MONGO_SHARD_URIS, for looking at what was stored. */
export class ShardView {
  private constructor(
    readonly clients: MongoClient[],
    readonly dbs: Db[],
  ) {}

  static async connect(mongoShardUris: string): Promise<ShardView> {
    const uris = mongoShardUris.split(',');
    const clients = await Promise.all(
      uris.map((u) => MongoClient.connect(u, { serverSelectionTimeoutMS: 3_000, connectTimeoutMS: 3_000 })),
    );
    return new ShardView(clients, clients.map((c) => c.db()));
  }

  get count(): number {
    return this.dbs.length;
  }

  shardOf(userId: string): number {
    return stableBucket(userId, this.dbs.length);
  }

  events(shard: number) {
    return this.dbs[shard].collection<StoredEventDocument>(EVENTS_COLLECTION);
  }

  /** Events stored per shard (a shard that does not answer counts as -1). */
  async counts(): Promise<number[]> {
    return Promise.all(this.dbs.map((_, i) => this.events(i).countDocuments({}).catch(() => -1)));
  }

  async total(): Promise<number> {
    return (await this.counts()).reduce((a, b) => a + Math.max(0, b), 0);
  }

  /** For each eventId, the shards holding it. */
  async locate(eventIds: string[]): Promise<Map<string, number[]>> {
    const where = new Map<string, number[]>(eventIds.map((id) => [id, []]));
    for (let shard = 0; shard < this.dbs.length; shard++) {
      for (let i = 0; i < eventIds.length; i += 5_000) {
        const docs = await this.events(shard)
          .find({ _id: { $in: eventIds.slice(i, i + 5_000) } }, { projection: { _id: 1 } })
          .toArray();
        for (const d of docs) where.get(d._id)?.push(shard);
      }
    }
    return where;
  }

  async dropAll(): Promise<void> {
    await Promise.all(this.dbs.map((db) => db.dropDatabase().catch(() => undefined)));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
  }
}

/** Entries pending in the group (all consumers). */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const summary = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(summary[0]);
}

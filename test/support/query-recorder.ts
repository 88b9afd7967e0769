import type { INestApplication } from '@nestjs/common';
import { Collection, MongoClient } from 'mongodb';
import type { StoredEventDocument } from '../../src/events/event.types';
import { MongoShards, Shard } from '../../src/mongo/mongo-shards';
import { RollupWriter } from '../../src/processing/rollup-writer';

export interface RecordedFind {
  collection: string;
  filter: unknown;
}

/**
 * Records every `find` (and so every `findOne`, which the driver builds on `find`) that the app's
 * own shard clients send, passing each call through unchanged. Queries of the test's own clients
 * (e.g. ShardView) are not recorded. Call `restore()` when done.
 */
export function recordShardFinds(app: INestApplication): { finds: RecordedFind[]; restore: () => void } {
  const clients = new Set<MongoClient>(app.get(MongoShards).all.map((s) => s.connection.getClient() as unknown as MongoClient));
  const finds: RecordedFind[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the original `this` below
  const original = Collection.prototype.find;
  const spy = jest.spyOn(Collection.prototype, 'find').mockImplementation(function (this: Collection, ...args: unknown[]) {
    if (clients.has((this as unknown as { client: MongoClient }).client)) finds.push({ collection: this.collectionName, filter: args[0] });
    return (original as (...a: unknown[]) => ReturnType<Collection['find']>).apply(this, args);
  });
  return { finds, restore: () => spy.mockRestore() };
}

/** True when a filter uses `$in` anywhere (FerretDB never pushes it down: a full scan). */
export const usesIn = (filter: unknown): boolean => JSON.stringify(filter ?? {}).includes('"$in"');

/**
 * The eventIds the app's worker hands to the rollups (each call passed through to the real
 * RollupWriter): every stored event must appear exactly once.
 */
export function recordRollups(app: INestApplication): string[] {
  const rolledUp: string[] = [];
  const rollups = app.get(RollupWriter);
  const original = rollups.apply.bind(rollups);
  jest.spyOn(rollups, 'apply').mockImplementation(async (shard: Shard, inserted: StoredEventDocument[]) => {
    rolledUp.push(...inserted.map((d) => d.eventId));
    await original(shard, inserted);
  });
  return rolledUp;
}

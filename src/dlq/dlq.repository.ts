import { Injectable } from '@nestjs/common';
import type { Collection, Filter } from 'mongodb';
import { DLQ_COLLECTION } from '../events/event.types';
import { MongoShards } from '../mongo/mongo-shards';
import { DlqDocument } from './dlq-entry';

/**
 * `_id` filter for a list of ids. One id is an equality, which FerretDB v1 pushes down to its
 * backend (and the local stand-in's GIN index on `_id` serves: DELETE /dlq/:id, replay of one id);
 * `$in` it does not push down, so several ids cost a read of the whole (small) collection there.
 */
const byIds = (ids: string[]): Filter<DlqDocument> => (ids.length === 1 ? { _id: ids[0] } : { _id: { $in: ids } });

/** Position after the last item of a page (newest first: firstSeenAt desc, _id desc). */
export interface DlqCursor {
  firstSeenAt: Date;
  id: string;
}

/**
 * The dead-letter collection. It lives on shard 0 only, whatever the user's shard: the DLQ is
 * small and read by operators, so one place makes listing, paging and counting exact and simple.
 * If shard 0 is down, dead-lettering is a transient failure like any other (entries stay pending
 * in the stream, nothing is lost) and the DLQ endpoints answer 503.
 */
@Injectable()
export class DlqRepository {
  constructor(private readonly shards: MongoShards) {}

  private collection(): Collection<DlqDocument> {
    const db = this.shards.get(0).connection.db;
    if (!db) throw Object.assign(new Error('mongo-shard-0 is not connected'), { name: 'MongoNotConnectedError' });
    return db.collection<DlqDocument>(DLQ_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    // One at a time: FerretDB v1.24 panics on a createIndexes of several existing indexes.
    await this.collection().createIndex({ firstSeenAt: -1, _id: -1 });
    await this.collection().createIndex({ eventId: 1 });
  }

  /** Inserts or refreshes entries (keeps firstSeenAt of an existing one). */
  async upsert(docs: DlqDocument[]): Promise<void> {
    if (docs.length === 0) return;
    await this.collection().bulkWrite(
      docs.map(({ _id, firstSeenAt, ...rest }) => ({
        updateOne: {
          filter: { _id },
          update: { $set: rest, $setOnInsert: { firstSeenAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  async list(limit: number, after?: DlqCursor): Promise<DlqDocument[]> {
    const filter: Filter<DlqDocument> = after
      ? { $or: [{ firstSeenAt: { $lt: after.firstSeenAt } }, { firstSeenAt: after.firstSeenAt, _id: { $lt: after.id } }] }
      : {};
    return this.collection().find(filter).sort({ firstSeenAt: -1, _id: -1 }).limit(limit).toArray();
  }

  async count(): Promise<number> {
    return this.collection().countDocuments({});
  }

  async findByIds(ids: string[]): Promise<DlqDocument[]> {
    if (ids.length === 0) return [];
    return this.collection().find(byIds(ids)).toArray();
  }

  /**
   * Ascending by _id, for walking the whole queue while deleting from it; only entries first
   * seen up to `seenUpTo`, so entries that fail again during the walk are not picked up again.
   */
  async pageAfter(afterId: string | undefined, limit: number, seenUpTo: Date): Promise<DlqDocument[]> {
    const filter: Filter<DlqDocument> = { firstSeenAt: { $lte: seenUpTo } };
    if (afterId !== undefined) filter._id = { $gt: afterId };
    return this.collection()
      .find(filter)
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }

  async deleteIds(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await this.collection().deleteMany(byIds(ids));
    return res.deletedCount;
  }
}

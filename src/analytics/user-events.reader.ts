import { Injectable } from '@nestjs/common';
import type { Collection, Filter } from 'mongodb';
import { ApiError, DependencyUnavailableError } from '../common/http/api-error';
import { EVENTS_COLLECTION, IngestedEvent, StoredEventDocument } from '../events/event.types';
import { unescapeFieldNames } from '../events/field-names';
import { ShardRouter } from '../mongo/shard-router';

/** Server-side time limit of one shard query; past it the request is a 503, never a partial answer. */
export const SHARD_QUERY_MAX_TIME_MS = 2_000;

/** A stored event as the API returns it: the accepted event plus when it was received and stored. */
export interface UserEventView extends IngestedEvent {
  receivedAt: string | null;
  processedAt: string | null;
}

export interface PageCursor {
  timestampMs: number;
  id: string;
}

export const encodeCursor = (c: PageCursor): string => Buffer.from(JSON.stringify([c.timestampMs, c.id]), 'utf8').toString('base64url');

/** Parses a cursor of encodeCursor; anything else is a 400. */
export function decodeCursor(raw: string): PageCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'number' ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== 'string' ||
    parsed[1].length === 0 ||
    parsed[1].length > 128
  ) {
    throw ApiError.validation('Request validation failed', [{ field: 'cursor', message: 'cursor is not a cursor returned by this endpoint' }]);
  }
  return { timestampMs: parsed[0], id: parsed[1] };
}

const isoOrNull = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : null);

/**
 * Raw events of one user, read from the one shard the ShardRouter names (all of a user's events
 * live there). Only equality on userId (and eventType) goes into the filter as such: that is what
 * FerretDB can push down to its backend; the time bounds and the cursor are applied on top.
 * Keep `userId: <string>` a top-level key of every filter here: FerretDB v1 pushes down only
 * top-level equalities (a userId inside `$and`/`$or` would be matched in Go after reading the whole
 * collection), and only the pushed-down form is served by the local stand-in's GIN index on
 * userId (deploy/local/README.md); test/integration/ferretdb-gin-indexes.test.ts checks it.
 */
@Injectable()
export class UserEventsReader {
  constructor(private readonly router: ShardRouter) {}

  /** One page, newest first, ordered by (timestamp, _id) descending. */
  async page(userId: string, range: { from?: Date; to?: Date }, limit: number, cursor?: PageCursor): Promise<{ events: UserEventView[]; nextCursor: string | null }> {
    const filter: Filter<StoredEventDocument> = { userId };
    const ts: Record<string, Date> = {};
    if (range.from) ts.$gte = range.from;
    if (range.to) ts.$lt = range.to;
    if (Object.keys(ts).length > 0) filter.timestamp = ts;
    if (cursor) {
      const at = new Date(cursor.timestampMs);
      filter.$or = [{ timestamp: { $lt: at } }, { timestamp: at, _id: { $lt: cursor.id } }];
    }
    const docs = await this.run(userId, (c) =>
      c
        .find(filter, { maxTimeMS: SHARD_QUERY_MAX_TIME_MS })
        .sort({ timestamp: -1, _id: -1 })
        .limit(limit + 1)
        .toArray(),
    );
    const more = docs.length > limit;
    const pageDocs = more ? docs.slice(0, limit) : docs;
    const last = pageDocs[pageDocs.length - 1];
    return {
      events: pageDocs.map(toView),
      nextCursor: more && last ? encodeCursor({ timestampMs: last.timestamp.getTime(), id: last._id }) : null,
    };
  }

  /** The user's events in [from, to) (optionally of one type): type, session and timestamp only. */
  async activity(userId: string, from: Date, to: Date, eventType?: string): Promise<Array<Pick<StoredEventDocument, 'eventType' | 'sessionId' | 'timestamp'>>> {
    const filter: Filter<StoredEventDocument> = { userId, timestamp: { $gte: from, $lt: to } };
    if (eventType !== undefined) filter.eventType = eventType;
    return this.run(userId, (c) =>
      c.find(filter, { maxTimeMS: SHARD_QUERY_MAX_TIME_MS, projection: { _id: 0, eventType: 1, sessionId: 1, timestamp: 1 } }).toArray(),
    ) as Promise<Array<Pick<StoredEventDocument, 'eventType' | 'sessionId' | 'timestamp'>>>;
  }

  private async run<T>(userId: string, query: (c: Collection<StoredEventDocument>) => Promise<T>): Promise<T> {
    const shard = this.router.shardFor(userId);
    const db = shard.connection.db;
    if (!db || shard.connection.readyState !== 1) throw new DependencyUnavailableError(`MongoDB (${shard.name})`);
    try {
      return await query(db.collection<StoredEventDocument>(EVENTS_COLLECTION));
    } catch (err) {
      // A shard that is down or too slow (maxTimeMS: code 50) cannot answer: 503, not 500.
      const e = err as { name?: string; code?: number };
      if (e.code === 50 || (typeof e.name === 'string' && e.name.startsWith('Mongo') && e.name !== 'MongoServerError')) {
        throw new DependencyUnavailableError(`MongoDB (${shard.name})`, err);
      }
      throw err;
    }
  }
}

function toView(d: StoredEventDocument): UserEventView {
  return {
    eventId: d.eventId ?? d._id,
    eventType: d.eventType,
    userId: d.userId,
    sessionId: d.sessionId,
    timestamp: d.timestamp.toISOString(),
    ...(d.metadata !== undefined ? { metadata: unescapeFieldNames(d.metadata) } : {}),
    ...(d.payload !== undefined ? { payload: unescapeFieldNames(d.payload) } : {}),
    priority: d.priority,
    receivedAt: isoOrNull(d.receivedAt),
    processedAt: isoOrNull(d.processedAt),
  };
}

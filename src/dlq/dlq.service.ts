import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { ApiError } from '../common/http/api-error';
import { ErrorCode } from '../common/http/error-codes';
import { decodeStreamEntry } from '../events/stream-entry';
import { sleep } from '../processing/storage/retry-policy';
import { RedisKeys } from '../redis/redis-keys';
import { REDIS_CLIENT } from '../redis/redis.tokens';
import { DlqDocument } from './dlq-entry';
import { DlqCursor, DlqRepository } from './dlq.repository';
import { ReplayDlqDto } from './dto/replay-dlq.dto';

export interface DlqItemView {
  id: string;
  eventId: string | null;
  userId: string | null;
  reason: DlqDocument['reason'];
  error: DlqDocument['error'];
  attempts: number;
  firstSeenAt: string;
  lastSeenAt: string;
  stream: string;
  entryId: string;
  /** The event as it was in the stream, when the entry parses; otherwise null (see `raw`). */
  event: Record<string, unknown> | null;
  apiKeyId: string | null;
  receivedAt: string | null;
  /** The stream entry's field/value list, verbatim. */
  raw: string[];
  truncated: boolean;
  replayable: boolean;
}

export interface DlqPage {
  items: DlqItemView[];
  nextCursor: string | null;
  total: number;
}

export interface ReplayResult {
  replayed: string[];
  skipped: Array<{ id: string; reason: string }>;
  notFound: string[];
  /** Entries still in the DLQ after this call (skipped ones and, for `all`, any beyond the per-call cap). */
  remaining: number;
}

/** Most entries one `all: true` replay moves (the rest on the next call); bounds the request. */
export const REPLAY_ALL_LIMIT = 10_000;
const PAGE = 500;
/** Tries at removing replayed entries from the DLQ before the answer says they could not be. */
const REMOVE_ATTEMPTS = 3;

@Injectable()
export class DlqService {
  constructor(
    private readonly repo: DlqRepository,
    private readonly keys: RedisKeys,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
  ) {}

  async list(limit: number, cursor?: string): Promise<DlqPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    // One extra row tells whether another page exists, so the last page has no cursor.
    const [rows, total] = await Promise.all([this.repo.list(limit + 1, after), this.repo.count()]);
    const docs = rows.slice(0, limit);
    const last = docs[docs.length - 1];
    return {
      items: docs.map(toView),
      nextCursor: rows.length > limit && last ? encodeCursor({ firstSeenAt: last.firstSeenAt, id: last._id }) : null,
      total,
    };
  }

  /**
   * Appends each entry again, verbatim and with its eventId, straight to the stream of its user's
   * partition (XADD, not the ingest script: the dedup key of the original event must not turn
   * the replay into a "duplicate"), then removes it from the DLQ. If the worker stores it, it is
   * stored once (the eventId is the document's _id); if it fails again it comes back here.
   */
  async replay(dto: ReplayDlqDto): Promise<ReplayResult> {
    if ((dto.ids === undefined) === (dto.all === undefined)) {
      throw ApiError.validation('Request validation failed', [{ field: 'ids', message: 'give either ids or all: true' }]);
    }
    const result: ReplayResult = { replayed: [], skipped: [], notFound: [], remaining: 0 };
    if (dto.ids) {
      const ids = [...new Set(dto.ids)];
      const docs = await this.repo.findByIds(ids);
      const found = new Set(docs.map((d) => d._id));
      result.notFound = ids.filter((id) => !found.has(id));
      await this.replayDocs(docs, result);
    } else {
      let after: string | undefined;
      const startedAt = new Date();
      for (let budget = REPLAY_ALL_LIMIT; budget > 0; ) {
        const page = await this.repo.pageAfter(after, Math.min(PAGE, budget), startedAt);
        if (page.length === 0) break;
        await this.replayDocs(page, result);
        after = page[page.length - 1]._id;
        budget -= page.length;
      }
    }
    result.remaining = await this.repo.count();
    return result;
  }

  async remove(id: string): Promise<void> {
    if ((await this.repo.deleteIds([id])) === 0) throw ApiError.notFound('No dead-letter entry with this id');
  }

  private async replayDocs(docs: DlqDocument[], result: ReplayResult): Promise<void> {
    const pipeline = this.redis.pipeline();
    const queued: string[] = [];
    for (const doc of docs) {
      const why = notReplayable(doc);
      if (why) {
        result.skipped.push({ id: doc._id, reason: why });
        continue;
      }
      const { event } = decodeStreamEntry(doc.raw);
      pipeline.xadd(this.keys.stream(this.keys.partitionOf(event.userId)), '*', ...doc.raw);
      queued.push(doc._id);
    }
    if (queued.length === 0) return;
    const replies = (await pipeline.exec()) ?? [];
    const appended = queued.filter((_, i) => replies[i] && !replies[i][0]);
    if (appended.length < queued.length) {
      // Nothing was appended for these; they stay in the DLQ. Fail loudly if none went through
      // (Redis down → 503), otherwise report the partial result.
      const failed = queued.filter((_, i) => !replies[i] || replies[i][0]);
      if (appended.length === 0) throw replies.find((r) => r?.[0])?.[0] ?? new Error('replay failed');
      for (const id of failed) result.skipped.push({ id, reason: 'append to the stream failed; try again' });
    }
    await this.removeReplayed(appended, result);
    result.replayed.push(...appended);
  }

  /**
   * The entries are in the stream now: they leave the DLQ (a short retry rides out a blip). If
   * shard 0 still refuses, the answer must not say "nothing was accepted": it is a 503 saying what
   * was appended, since a retry appends those again (each event is still stored once, by its _id).
   */
  private async removeReplayed(appended: string[], result: ReplayResult): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.repo.deleteIds(appended);
        return;
      } catch (err) {
        if (attempt < REMOVE_ATTEMPTS) {
          await sleep(100 * attempt);
          continue;
        }
        throw new ApiError(
          HttpStatus.SERVICE_UNAVAILABLE,
          ErrorCode.SERVICE_UNAVAILABLE,
          `${result.replayed.length + appended.length} entries were appended to the stream, but ${appended.length} of them could not be ` +
            'removed from the DLQ (MongoDB unavailable); replaying them again appends them again, and each event is still stored once',
          undefined,
          1,
        );
      }
    }
  }
}

function notReplayable(doc: DlqDocument): string | undefined {
  if (doc.truncated) return 'entry was truncated when dead-lettered and cannot be replayed; delete it';
  try {
    decodeStreamEntry(doc.raw);
    return undefined;
  } catch {
    return 'entry does not parse; replaying cannot succeed; delete it';
  }
}

function toView(doc: DlqDocument): DlqItemView {
  let event: Record<string, unknown> | null = null;
  let apiKeyId: string | null = null;
  let receivedAt: string | null = null;
  try {
    const entry = decodeStreamEntry(doc.raw);
    event = entry.event as unknown as Record<string, unknown>;
    apiKeyId = entry.apiKeyId;
    receivedAt = new Date(entry.receivedAt).toISOString();
  } catch {
    // shown raw
  }
  return {
    id: doc._id,
    eventId: doc.eventId,
    userId: doc.userId,
    reason: doc.reason,
    error: doc.error,
    attempts: doc.attempts,
    firstSeenAt: doc.firstSeenAt.toISOString(),
    lastSeenAt: doc.lastSeenAt.toISOString(),
    stream: doc.stream,
    entryId: doc.entryId,
    event,
    apiKeyId,
    receivedAt,
    raw: doc.raw,
    truncated: doc.truncated,
    replayable: notReplayable(doc) === undefined,
  };
}

export function encodeCursor(c: DlqCursor): string {
  return Buffer.from(JSON.stringify({ t: c.firstSeenAt.getTime(), id: c.id })).toString('base64url');
}

export function decodeCursor(cursor: string): DlqCursor {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { t?: unknown; id?: unknown };
    if (typeof v.t === 'number' && Number.isFinite(v.t) && typeof v.id === 'string') return { firstSeenAt: new Date(v.t), id: v.id };
  } catch {
    // fall through
  }
  throw ApiError.validation('Request validation failed', [{ field: 'cursor', message: 'cursor is not a cursor returned by this endpoint' }]);
}

import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import Redis, { ReplyError } from 'ioredis';
import { RedisScript } from '../auth/redis-script';
import { DependencyUnavailableError } from '../common/http/api-error';
import { MongoShards } from '../mongo/mongo-shards';
import { RedisKeys } from '../redis/redis-keys';
import { REDIS_CLIENT } from '../redis/redis.tokens';
import { decodeUserActivity } from './rollups/rollup-batch';
import { Granularity, hasUserCounts } from './rollups/rollup-granularity';
import { Piece } from './time-window';

export interface TopUser {
  userId: string;
  eventCount: number;
  lastEventAt: string | null;
  eventTypes: string[];
}

/** Count desc, then userId asc: the one deterministic order of topUsers. */
export const byCountThenUser = (a: { userId: string; eventCount: number }, b: { userId: string; eventCount: number }): number =>
  b.eventCount - a.eventCount || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);

/**
 * Top k of a union of per-bucket user counts, in one round trip. KEYS[2…1+nz] are sorted sets
 * (hour and day buckets); the rest are activity hashes (minute buckets, which keep no sorted
 * set), whose per-type counts are summed into the scratch key KEYS[1] first. Then ZUNIONSTORE
 * into the scratch key, every member scoring above the k-th score plus the members tied with it
 * in lexicographic order (so the caller can break ties by userId ascending), and the scratch key
 * is deleted.
 */
const TOP_K_SCRIPT = `
local k, nz = tonumber(ARGV[1]), tonumber(ARGV[2])
local sums = {}
for i = nz + 2, #KEYS do
  local h = redis.call('HGETALL', KEYS[i])
  for j = 1, #h, 2 do
    local n = 0
    for c in string.gmatch(h[j + 1], '=(%d+)@') do n = n + tonumber(c) end
    sums[h[j]] = (sums[h[j]] or 0) + n
  end
end
local zadd = {}
for user, n in pairs(sums) do
  zadd[#zadd + 1] = n
  zadd[#zadd + 1] = user
  if #zadd >= 1000 then
    redis.call('ZADD', KEYS[1], unpack(zadd))
    zadd = {}
  end
end
if #zadd > 0 then redis.call('ZADD', KEYS[1], unpack(zadd)) end
redis.call('ZUNIONSTORE', KEYS[1], nz + 1, KEYS[1], unpack(KEYS, 2, nz + 1))
local kth = redis.call('ZREVRANGE', KEYS[1], k - 1, k - 1, 'WITHSCORES')
local out
if #kth == 0 then
  out = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
else
  local s = kth[2]
  out = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. s, '+inf', 'WITHSCORES')
  local tied = redis.call('ZRANGEBYSCORE', KEYS[1], s, s, 'WITHSCORES', 'LIMIT', 0, k - #out / 2)
  for _, v in ipairs(tied) do out[#out + 1] = v end
end
redis.call('DEL', KEYS[1])
return out
`;

/** ZUNIONSTORE keys per script call: bounded so unpack() stays far below Lua's stack limit. */
const MAX_UNION_KEYS = 4_000;

/**
 * Reads the Redis rollups. Per-shard data (counts, users) is read shard by shard in parallel
 * (scatter) and merged here (gather): sums, and an exact top-k because a user lives on one shard
 * only. Any Redis failure is a 503, never a partial answer.
 */
@Injectable()
export class RollupReader {
  private readonly topK = new RedisScript(TOP_K_SCRIPT);

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly shards: MongoShards,
  ) {}

  /** Per bucket (same order as `buckets`) the event count, and totals by eventType. */
  async counts(g: Granularity, buckets: number[], eventType?: string): Promise<{ perBucket: number[]; byType: Map<string, number> }> {
    const perBucket = new Array<number>(buckets.length).fill(0);
    const byType = new Map<string, number>();
    await this.guard(
      Promise.all(
        this.shards.all.map(async (shard) => {
          const p = this.redis.pipeline();
          for (const b of buckets) {
            const key = this.keys.analyticsCounts(shard.index, g, b);
            if (eventType === undefined) p.hgetall(key);
            else p.hget(key, eventType);
          }
          const results = unwrap(await p.exec());
          results.forEach((r, i) => {
            if (eventType === undefined) {
              for (const [type, v] of Object.entries((r ?? {}) as Record<string, string>)) {
                const n = Number(v);
                perBucket[i] += n;
                byType.set(type, (byType.get(type) ?? 0) + n);
              }
            } else if (r !== null) {
              const n = Number(r);
              perBucket[i] += n;
              byType.set(eventType, (byType.get(eventType) ?? 0) + n);
            }
          });
        }),
      ),
    );
    return { perBucket, byType };
  }

  /**
   * HyperLogLog estimate (PFCOUNT merge over the pieces, all shards) of distinct users (all
   * types) or sessions (all types, or one type).
   */
  async uniques(kind: 'users' | 'sessions', pieces: Piece[], eventType?: string): Promise<number> {
    if (pieces.length === 0) return 0;
    const keys = pieces.map((p) => this.keys.analyticsUniques(kind, p.g, p.bucket, eventType));
    return this.guard(this.redis.pfcount(...keys));
  }

  /**
   * The k most active users over the pieces, with their activity details. With an eventType the
   * per-user counts are read in full, so the exact number of distinct users of that type comes
   * along (`distinctUsers`).
   */
  async topUsers(pieces: Piece[], k: number, eventType?: string): Promise<{ users: TopUser[]; distinctUsers?: number }> {
    if (pieces.length === 0 || k <= 0) return { users: [], distinctUsers: 0 };
    const perShard = await this.guard(
      Promise.all(
        this.shards.all.map((shard) =>
          eventType === undefined ? this.shardTopK(shard.index, pieces, k) : this.shardTopKOfType(shard.index, pieces, k, eventType),
        ),
      ),
    );
    const candidates = perShard.flatMap((r, shard) => r.top.map((c) => ({ ...c, shard })));
    // Users live on one shard each, so per-shard distinct counts add up exactly.
    const distinctUsers = eventType === undefined ? undefined : perShard.reduce((a, r) => a + (r.distinct ?? 0), 0);
    const top = candidates.sort(byCountThenUser).slice(0, k);
    const details = await this.guard(
      Promise.all(this.shards.all.map((shard) => this.activity(shard.index, pieces, top.filter((t) => t.shard === shard.index).map((t) => t.userId)))),
    );
    const merged = new Map(details.flatMap((m) => [...m]));
    const users = top.map(({ userId, eventCount }) => {
      const types = merged.get(userId) ?? new Map<string, { count: number; lastMs: number }>();
      const relevant = [...types].filter(([type, v]) => v.count > 0 && (eventType === undefined || type === eventType));
      const lastMs = relevant.reduce((m, [, v]) => Math.max(m, v.lastMs), -Infinity);
      return {
        userId,
        eventCount,
        lastEventAt: Number.isFinite(lastMs) ? new Date(lastMs).toISOString() : null,
        eventTypes: relevant.map(([type]) => type).sort(),
      };
    });
    return { users, distinctUsers };
  }

  private async shardTopK(shard: number, pieces: Piece[], k: number): Promise<{ top: Array<{ userId: string; eventCount: number }>; distinct?: number }> {
    const sets = pieces.filter((p) => hasUserCounts(p.g)).map((p) => this.keys.analyticsUserCounts(shard, p.g, p.bucket));
    const hashes = pieces.filter((p) => !hasUserCounts(p.g)).map((p) => this.keys.analyticsUserDetails(shard, p.g, p.bucket));
    if (sets.length + hashes.length > MAX_UNION_KEYS) throw new RangeError(`too many buckets for one union: ${pieces.length}`);
    const scratch = this.keys.analyticsScratch(randomBytes(8).toString('hex'));
    const flat = (await this.topK.run(this.redis, [scratch, ...sets, ...hashes], [k, sets.length])) as string[];
    const out: Array<{ userId: string; eventCount: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ userId: flat[i], eventCount: Number(flat[i + 1]) });
    return { top: out.sort(byCountThenUser).slice(0, k) };
  }

  /** With an eventType filter the per-type counts come from the activity hashes (cost ∝ active users). */
  private async shardTopKOfType(shard: number, pieces: Piece[], k: number, eventType: string): Promise<{ top: Array<{ userId: string; eventCount: number }>; distinct: number }> {
    const p = this.redis.pipeline();
    for (const piece of pieces) p.hgetall(this.keys.analyticsUserDetails(shard, piece.g, piece.bucket));
    const counts = new Map<string, number>();
    for (const h of unwrap(await p.exec()) as Array<Record<string, string>>) {
      for (const [userId, value] of Object.entries(h ?? {})) {
        const n = decodeUserActivity(value).get(eventType)?.count ?? 0;
        if (n > 0) counts.set(userId, (counts.get(userId) ?? 0) + n);
      }
    }
    return { top: [...counts].map(([userId, eventCount]) => ({ userId, eventCount })).sort(byCountThenUser).slice(0, k), distinct: counts.size };
  }

  /** Per-type activity of some users of one shard, merged over the pieces. */
  private async activity(shard: number, pieces: Piece[], userIds: string[]): Promise<Map<string, Map<string, { count: number; lastMs: number }>>> {
    const out = new Map<string, Map<string, { count: number; lastMs: number }>>();
    if (userIds.length === 0) return out;
    const p = this.redis.pipeline();
    for (const piece of pieces) p.hmget(this.keys.analyticsUserDetails(shard, piece.g, piece.bucket), ...userIds);
    for (const values of unwrap(await p.exec()) as Array<Array<string | null>>) {
      values.forEach((v, i) => {
        if (v === null) return;
        let m = out.get(userIds[i]);
        if (!m) out.set(userIds[i], (m = new Map()));
        decodeUserActivity(v, m);
      });
    }
    return out;
  }

  /** Redis errors other than a script/command error (a bug) mean Redis cannot serve: 503. */
  private async guard<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof ReplyError || err instanceof RangeError) throw err;
      throw new DependencyUnavailableError('Redis', err);
    }
  }
}

/** Results of a pipeline, throwing the first command error. */
function unwrap(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

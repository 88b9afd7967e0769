import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import { RedisScript } from '../../auth/redis-script';
import type { StoredEventDocument } from '../../events/event.types';
import type { Shard } from '../../mongo/mongo-shards';
import { RollupWriter } from '../../processing/rollup-writer';
import { RedisKeys } from '../../redis/redis-keys';
import { REDIS_CLIENT } from '../../redis/redis.tokens';
import { BucketDelta, encodeUserActivity, groupIntoBuckets } from './rollup-batch';

/** How long the "this batch was applied" marker lives: covers any retry of the same flush. */
export const APPLIED_MARKER_TTL_SECONDS = 86_400;

/**
 * Applies one flush's rollup operations atomically. KEYS[1] is the batch marker: when it already
 * exists the batch was applied before (a retry after a lost reply) and nothing happens. Then a list
 * of operations, each `op, keyIndex, expireAt, n, args…`:
 *   H: HINCRBY field by n (pairs)      Z: ZINCRBY member by n (pairs)
 *   P: PFADD members                   D: merge user activity "type=count@lastMs,…" (pairs)
 * Every touched key gets EXPIREAT (bucket end + retention).
 */
const APPLY_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local function merge(cur, delta)
  -- Fast path: a one-type delta (most users have one event per bucket and flush) is added in
  -- place, or appended when the type is new, without taking the whole value apart.
  local t, c, l = string.match(delta, '^([^,=]+)=(%d+)@(%d+)$')
  if t and cur then
    local s = 1
    while true do
      local a, b = string.find(cur, t .. '=', s, true)
      if not a then return cur .. ',' .. delta end
      if a == 1 or string.sub(cur, a - 1, a - 1) == ',' then
        local oc, ol = string.match(cur, '^(%d+)@(%d+)', b + 1)
        local e = b + #oc + 1 + #ol
        local n = tonumber(oc) + tonumber(c)
        local last = math.max(tonumber(ol), tonumber(l))
        return string.sub(cur, 1, b) .. string.format('%d', n) .. '@' .. string.format('%d', last) .. string.sub(cur, e + 1)
      end
      s = b + 1
    end
  end
  local m, order = {}, {}
  for _, s in ipairs({cur or '', delta}) do
    for t, c, l in string.gmatch(s, '([^,=]+)=(%d+)@(%d+)') do
      local e = m[t]
      c, l = tonumber(c), tonumber(l)
      if e then
        e[1] = e[1] + c
        if l > e[2] then e[2] = l end
      else
        m[t] = {c, l}
        order[#order + 1] = t
      end
    end
  end
  local parts = {}
  for _, t in ipairs(order) do
    parts[#parts + 1] = t .. '=' .. string.format('%d', m[t][1]) .. '@' .. string.format('%d', m[t][2])
  end
  return table.concat(parts, ',')
end
local i = 2
while i <= #ARGV do
  local op, key, exp, n = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], tonumber(ARGV[i + 3])
  local a = i + 4
  if op == 'H' then
    for j = 0, n - 1 do redis.call('HINCRBY', key, ARGV[a + 2 * j], ARGV[a + 2 * j + 1]) end
    a = a + 2 * n
  elseif op == 'Z' then
    for j = 0, n - 1 do redis.call('ZINCRBY', key, ARGV[a + 2 * j + 1], ARGV[a + 2 * j]) end
    a = a + 2 * n
  elseif op == 'P' then
    redis.call('PFADD', key, unpack(ARGV, a, a + n - 1))
    a = a + n
  elseif op == 'D' then
    for j = 0, n - 1 do
      local user, delta = ARGV[a + 2 * j], ARGV[a + 2 * j + 1]
      -- HSETNX first: a user new to the bucket (the common case) needs no parsing at all.
      if redis.call('HSETNX', key, user, delta) == 0 then
        redis.call('HSET', key, user, merge(redis.call('HGET', key, user), delta))
      end
    end
    a = a + 2 * n
  else
    return redis.error_reply('unknown rollup op ' .. tostring(op))
  end
  redis.call('EXPIREAT', key, exp)
  i = a
end
return 1
`;

/** PFADD members per command: keeps every unpack() far below Lua's C stack limit. */
const PFADD_CHUNK = 500;

/**
 * The rollups live in Redis (see README "## Analytics" for why not on the FerretDB shards):
 * per shard and bucket, counts by type (hash), counts by user (sorted set) and per-user activity
 * (hash), plus HyperLogLogs of users and sessions per bucket. One flush = one EVALSHA, atomic,
 * and idempotent for a retry with the same inserted documents (batch marker).
 */
@Injectable()
export class RedisRollupWriter extends RollupWriter {
  private readonly script = new RedisScript(APPLY_SCRIPT);

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    super();
  }

  async apply(shard: Shard, inserted: StoredEventDocument[]): Promise<void> {
    if (inserted.length === 0) return;
    const { keys, args } = this.buildOperations(shard.index, inserted, Math.floor(Date.now() / 1000));
    if (keys.length <= 1) return;
    await this.script.run(this.redis, keys, args);
  }

  /** Exposed for tests: the KEYS and ARGV of one apply. */
  buildOperations(shardIndex: number, inserted: readonly StoredEventDocument[], nowSeconds: number): { keys: string[]; args: Array<string | number> } {
    const ids = inserted.map((e) => e._id).sort();
    const batchHash = createHash('sha1').update(`${shardIndex}\n${ids.join('\n')}`).digest('hex');
    const keys = [this.keys.analyticsApplied(batchHash)];
    const args: Array<string | number> = [APPLIED_MARKER_TTL_SECONDS];
    const keyIndex = new Map<string, number>();
    const indexOf = (key: string): number => {
      let i = keyIndex.get(key);
      if (i === undefined) {
        keys.push(key);
        i = keys.length; // Lua arrays are 1-based
        keyIndex.set(key, i);
      }
      return i;
    };
    const pairs = (op: 'H' | 'Z' | 'D', key: string, exp: number, entries: Array<[string, string | number]>): void => {
      if (entries.length === 0) return;
      args.push(op, indexOf(key), exp, entries.length);
      for (const [a, b] of entries) args.push(a, b);
    };
    const pfadd = (key: string, exp: number, members: Set<string>): void => {
      const all = [...members];
      for (let i = 0; i < all.length; i += PFADD_CHUNK) {
        const chunk = all.slice(i, i + PFADD_CHUNK);
        args.push('P', indexOf(key), exp, chunk.length, ...chunk);
      }
    };

    for (const d of groupIntoBuckets(inserted, nowSeconds)) this.addBucket(shardIndex, d, pairs, pfadd);
    return { keys, args };
  }

  private addBucket(
    shard: number,
    d: BucketDelta,
    pairs: (op: 'H' | 'Z' | 'D', key: string, exp: number, entries: Array<[string, string | number]>) => void,
    pfadd: (key: string, exp: number, members: Set<string>) => void,
  ): void {
    const { g, bucket, expireAt: exp } = d;
    pairs('H', this.keys.analyticsCounts(shard, g, bucket), exp, [...d.counts]);
    pairs('Z', this.keys.analyticsUserCounts(shard, g, bucket), exp, [...d.users].map(([u, a]) => [u, a.count]));
    pairs('D', this.keys.analyticsUserDetails(shard, g, bucket), exp, [...d.users].map(([u, a]) => [u, encodeUserActivity(a.types)]));
    pfadd(this.keys.analyticsUniques('users', g, bucket), exp, d.userIds);
    pfadd(this.keys.analyticsUniques('sessions', g, bucket), exp, d.sessionIds);
    // Distinct users of one type are counted exactly from the activity hashes when asked for
    // (see RollupReader.topUsers), so only sessions need a HyperLogLog per type.
    for (const [type, sessions] of d.typeSessionIds) pfadd(this.keys.analyticsUniques('sessions', g, bucket, type), exp, sessions);
  }
}

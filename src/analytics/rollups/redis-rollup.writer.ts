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
import { hasUserCounts } from './rollup-granularity';

/**
 * How long the "this batch was applied" marker lives. It only has to outlive the retries of one
 * flush inside one worker (other deliveries never apply the same documents: a redelivered event
 * is a duplicate, and one adopted from an uncertain write is counted by one delivery only): at
 * most MAX_RETRIES (≤ 100) backoffs of ≤ 5 s plus a 2 s command timeout per attempt, ~12 min.
 * One marker per flush (165 bytes of Redis each, measured): a day's TTL kept ~4 M keys (~0.7 GB,
 * beside the stream) at 5,000 events/s in flushes of 100; an hour keeps ~180 k (~30 MB).
 */
export const APPLIED_MARKER_TTL_SECONDS = 3_600;

/**
 * Applies one flush's rollups atomically. KEYS[1] is the batch marker: when it already exists the
 * batch was applied before (a retry after a lost reply) and nothing happens. ARGV[1] is the
 * marker's TTL, then one section per bucket (or per chunk of a large bucket):
 *   expireAt, k, z, nTypes, { type, count, nSessions, session… } × nTypes, nUsers, { user, count, activity } × nUsers
 * where KEYS[k…k+3] are the bucket's counts hash, user-activity hash, and users and sessions
 * HyperLogLogs; when z is 1, KEYS[k+4] is its user-count sorted set; the per-type session
 * HyperLogLogs follow.
 *
 * Each structure is updated with one read and one multi-member write (HMGET + HSET, ZMSCORE +
 * ZADD) instead of one call per member, and the users and sessions lists are sent once per
 * bucket, feeding both the per-user structures and the HyperLogLogs: fewer script arguments
 * for the worker to encode and for Redis to parse (scripts/rollup-cost.js prices a build).
 */
const APPLY_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local function merge(cur, delta)
  -- Fast path: a one-type delta (most users have one event per bucket and flush) is added in
  -- place, or appended when the type is new, without taking the whole value apart.
  local t, c, l = string.match(delta, '^([^,=]+)=(%d+)@(%d+)$')
  if t then
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
  for _, s in ipairs({cur, delta}) do
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
  local exp, k, z, nt = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2] == '1', tonumber(ARGV[i + 3])
  local tk0 = k + (z and 4 or 3)
  i = i + 4
  if nt > 0 then
    local types, hset, sessions = {}, {}, {}
    for t = 1, nt do
      local ns = tonumber(ARGV[i + 2])
      types[t] = ARGV[i]
      hset[2 * t] = tonumber(ARGV[i + 1])
      local tk = KEYS[tk0 + t]
      redis.call('PFADD', tk, unpack(ARGV, i + 3, i + 2 + ns))
      redis.call('EXPIREAT', tk, exp)
      for j = i + 3, i + 2 + ns do sessions[#sessions + 1] = ARGV[j] end
      i = i + 3 + ns
    end
    local cur = redis.call('HMGET', KEYS[k], unpack(types))
    for t = 1, nt do
      hset[2 * t - 1] = types[t]
      hset[2 * t] = string.format('%d', hset[2 * t] + (tonumber(cur[t]) or 0))
    end
    redis.call('HSET', KEYS[k], unpack(hset))
    redis.call('EXPIREAT', KEYS[k], exp)
    redis.call('PFADD', KEYS[k + 3], unpack(sessions))
    redis.call('EXPIREAT', KEYS[k + 3], exp)
  end
  local nu = tonumber(ARGV[i])
  i = i + 1
  if nu > 0 then
    local users = {}
    for j = 1, nu do users[j] = ARGV[i + 3 * (j - 1)] end
    local activity = redis.call('HMGET', KEYS[k + 1], unpack(users))
    local hset = {}
    for j = 1, nu do
      local a = i + 3 * (j - 1)
      hset[2 * j - 1] = users[j]
      hset[2 * j] = activity[j] and merge(activity[j], ARGV[a + 2]) or ARGV[a + 2]
    end
    redis.call('HSET', KEYS[k + 1], unpack(hset))
    redis.call('PFADD', KEYS[k + 2], unpack(users))
    redis.call('EXPIREAT', KEYS[k + 1], exp)
    redis.call('EXPIREAT', KEYS[k + 2], exp)
    if z then
      local scores = redis.call('ZMSCORE', KEYS[k + 4], unpack(users))
      local zadd = {}
      for j = 1, nu do
        zadd[2 * j - 1] = string.format('%d', tonumber(ARGV[i + 3 * (j - 1) + 1]) + (tonumber(scores[j]) or 0))
        zadd[2 * j] = users[j]
      end
      redis.call('ZADD', KEYS[k + 4], unpack(zadd))
      redis.call('EXPIREAT', KEYS[k + 4], exp)
    end
    i = i + 3 * nu
  end
end
return 1
`;

/**
 * Members per section: every unpack() stays far below Lua's C stack limit (LUAI_MAXCSTACK 8000)
 * whatever BATCH_SIZE is; a larger bucket is sent as several sections, which add up.
 */
const SECTION_LIMIT = 500;

/**
 * The rollups live in Redis (see README "## Analytics" for why not on the FerretDB shards):
 * per shard and bucket, counts by type (hash), per-user activity (hash) and, for hour and day
 * buckets, counts by user (sorted set), plus HyperLogLogs of users and sessions per bucket. One flush = one EVALSHA, atomic,
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
    for (const d of groupIntoBuckets(inserted, nowSeconds)) this.addBucket(shardIndex, d, keys, args);
    return { keys, args };
  }

  private addBucket(shard: number, d: BucketDelta, keys: string[], args: Array<string | number>): void {
    const { g, bucket, expireAt } = d;
    const withUserCounts = hasUserCounts(g);
    const base = [
      this.keys.analyticsCounts(shard, g, bucket),
      this.keys.analyticsUserDetails(shard, g, bucket),
      this.keys.analyticsUniques('users', g, bucket),
      this.keys.analyticsUniques('sessions', g, bucket),
      ...(withUserCounts ? [this.keys.analyticsUserCounts(shard, g, bucket)] : []),
    ];
    const types = [...d.typeSessionIds].map(([type, sessions]) => ({ type, count: d.counts.get(type) ?? 0, sessions: [...sessions] }));
    const users = [...d.users];
    // Usually one section; chunks of types (with their sessions) and of users otherwise.
    let t = 0;
    let u = 0;
    while (t < types.length || u < users.length) {
      const k = keys.length + 1; // Lua arrays are 1-based
      keys.push(...base);
      args.push(expireAt, k, withUserCounts ? 1 : 0);
      const typesAt = args.length;
      args.push(0);
      let members = 0;
      let nTypes = 0;
      while (t < types.length && (nTypes === 0 || members + types[t].sessions.length <= SECTION_LIMIT)) {
        const { type, count, sessions } = types[t];
        // One type with more sessions than the limit: its count goes with the first part only.
        const part = sessions.slice(0, SECTION_LIMIT);
        keys.push(this.keys.analyticsUniques('sessions', g, bucket, type));
        args.push(type, count, part.length, ...part);
        members += part.length;
        nTypes += 1;
        if (part.length < sessions.length) {
          types[t] = { type, count: 0, sessions: sessions.slice(SECTION_LIMIT) };
          break;
        }
        t += 1;
      }
      args[typesAt] = nTypes;
      const chunk = users.slice(u, u + SECTION_LIMIT);
      args.push(chunk.length);
      for (const [user, a] of chunk) args.push(user, a.count, encodeUserActivity(a.types));
      u += chunk.length;
    }
  }
}

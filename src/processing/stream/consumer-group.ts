import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisKeys } from '../../redis/redis-keys';
import { REDIS_CLIENT } from '../../redis/redis.tokens';
import { WorkerSettings } from '../worker-settings';
import { compareStreamIds } from './stream-ids';

/** One stream entry handed to this process, with what the worker needs to judge it. */
export interface DeliveredEntry {
  partition: number;
  stream: string;
  id: string;
  /** Flat field/value list as XREADGROUP returns it. */
  fields: string[];
  /** Times the group delivered it to a consumer (1 for a first read; XPENDING's counter + 1 on a claim). */
  deliveries: number;
  /** Deliveries that ended in a transient storage failure: these do not count toward MAX_DELIVERIES. */
  transientFailures: number;
  /**
   * processedAt (epoch ms) of earlier deliveries whose write ended with an unknown outcome (lost
   * answer, timeout) and was left pending: if the document turns out stored with one of these,
   * that write stored it and its rollups are still to be applied (EventWriter.write).
   */
  uncertainWrites?: number[];
}

/** Field of the transient-failures hash that lists an entry's uncertain writes (beside its count). */
const uncertainField = (id: string): string => `${id}:w`;

/**
 * Appends ARGV[2] to the comma-separated list in field ARGV[1] of hash KEYS[1], unless it is
 * there already or the list holds 16: the oldest writes are kept, since a shard that wakes up
 * stores the first write it was sent and refuses the later ones as duplicates.
 */
const APPEND_UNCERTAIN_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
if string.find(',' .. cur .. ',', ',' .. ARGV[2] .. ',', 1, true) then return 0 end
if select(2, string.gsub(cur, ',', '')) >= 15 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], cur .. ',' .. ARGV[2])
return 1
`;

export interface PartitionStream {
  partition: number;
  stream: string;
}

export interface ClaimPage {
  entries: DeliveredEntry[];
  /** Exclusive start of the next page, or null when the pending list has been walked. */
  next: string | null;
}

type RawEntry = [string, string[] | null];

/**
 * Lowest entry id any consumer group of the stream may still need, and XTRIM MINID to it, in one
 * atomic script (no group can move between the look and the trim). For each group, the lower of
 * its oldest pending id (XPENDING summary) and its last-delivered-id: everything after that is
 * undelivered, and keeping the last-delivered entry itself costs one acked entry. Both count even
 * when entries are pending, so a group rewound with XGROUP SETID is not trimmed past its new
 * position. The minimum over all groups is the trim point; approximate trimming (`~`) only removes
 * whole macro nodes, so it trims at most that much, never more. No group → no trim.
 * Ids are compared as strings of digits (Redis writes them without leading zeros): Lua numbers are
 * doubles, which round sequence numbers above 2^53 and overflow at 2^64 - 1.
 * Returns {minId, trimmedCount} or false. Exported for its tests.
 */
export const TRIM_SCRIPT = `
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return false end
local function numlt(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function idlt(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if am ~= bm then return numlt(am, bm) end
  return numlt(as, bs)
end
local best
for _, g in ipairs(groups) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local need = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    local oldest = redis.call('XPENDING', KEYS[1], info['name'])[2]
    if idlt(oldest, need) then need = oldest end
  end
  if best == nil or idlt(need, best) then best = need end
end
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', '~', best)
return {best, trimmed}
`;

/**
 * Removes consumers of the group that hold nothing and have not been seen for ARGV[2] ms
 * (crashed or retired processes), never ARGV[3] (ourselves). Atomic, so a consumer cannot gain
 * pending entries between the check and the removal. Returns how many were removed.
 */
const EXPIRE_CONSUMERS_SCRIPT = `
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
local removed = 0
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[2]) and info['name'] ~= ARGV[3] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
`;

/**
 * Resets the idle time of entries this consumer still owns, without counting a delivery:
 * XCLAIM … JUSTID (min-idle 0) leaves the delivery counter alone. Entries another consumer has
 * meanwhile claimed are skipped (the owner is checked in the same script, so nothing is taken
 * back). ARGV: group, consumer, ids…; returns how many were touched.
 */
const TOUCH_SCRIPT = `
local owned = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p > 0 and p[1][2] == ARGV[2] then owned[#owned + 1] = ARGV[i] end
end
local n = #owned
if n > 0 then
  owned[n + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(owned))
end
return n
`;
const TOUCH_CHUNK = 500;

/**
 * The worker's Redis side: consumer groups, reads, acknowledgements, claims and hygiene on every
 * partition stream. Non-blocking commands use the shared command connection; the blocking read
 * gets a connection of its own from the caller.
 */
@Injectable()
export class ConsumerGroup {
  readonly streams: PartitionStream[];
  private readonly partitionOf = new Map<string, number>();
  private readonly lastForgetMinId = new Map<number, string>();

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly settings: WorkerSettings,
  ) {
    this.streams = keys.allStreams().map((stream, partition) => ({ partition, stream }));
    for (const s of this.streams) this.partitionOf.set(s.stream, s.partition);
  }

  /**
   * Creates the group on every partition stream (and the stream itself). A new group starts at
   * `0`, not `$`: the API may have appended entries before any worker ever ran, and `$` would
   * silently skip them. (Re-reading an old backlog is harmless: writes are idempotent.)
   */
  async ensureGroups(): Promise<void> {
    for (const { stream } of this.streams) {
      try {
        await this.redis.xgroup('CREATE', stream, this.settings.group, '0', 'MKSTREAM');
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      }
    }
  }

  /**
   * One blocking XREADGROUP over all partition streams (`>`: entries never delivered to the
   * group). A single command across several keys suits one Redis node; on Redis Cluster the
   * partitions live in different slots and would need one reader per partition.
   */
  async read(reader: Redis): Promise<DeliveredEntry[]> {
    const { group, consumer, readCount, blockMs } = this.settings;
    const names = this.streams.map((s) => s.stream);
    const reply = (await reader.call(
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      readCount,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...names,
      ...names.map(() => '>'),
    )) as Array<[string, RawEntry[]]> | null;
    if (!reply) return [];
    const out: DeliveredEntry[] = [];
    for (const [stream, entries] of reply) {
      const partition = this.partitionOf.get(stream) ?? 0;
      for (const [id, fields] of entries) {
        out.push({ partition, stream, id, fields: fields ?? [], deliveries: 1, transientFailures: 0 });
      }
    }
    return out;
  }

  /** Makes a blocked XREADGROUP of connection `clientId` return now (as a timeout). */
  async unblock(clientId: number): Promise<void> {
    await this.redis.client('UNBLOCK', clientId);
  }

  /** XACK (one command per stream) and forget their transient-failure counts. */
  async ack(entries: DeliveredEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [partition, group] of groupByPartition(entries)) {
      const stream = this.keys.stream(partition);
      pipeline.xack(stream, this.settings.group, ...group.map((e) => e.id));
      const counted = group.filter((e) => e.transientFailures > 0 || (e.uncertainWrites?.length ?? 0) > 0).flatMap((e) => [e.id, uncertainField(e.id)]);
      if (counted.length > 0) pipeline.hdel(this.failuresKey(partition), ...counted);
    }
    await execOrThrow(pipeline);
  }

  /**
   * Keeps entries this process is still working on (buffered or being written) from looking idle:
   * other consumers reclaim entries idle ≥ CLAIM_IDLE_MS, and every such reclaim counts a
   * delivery — slow writes would otherwise bounce entries between workers until MAX_DELIVERIES.
   */
  async touch(entries: DeliveredEntry[]): Promise<number> {
    let touched = 0;
    for (const [partition, group] of groupByPartition(entries)) {
      const stream = this.keys.stream(partition);
      for (let i = 0; i < group.length; i += TOUCH_CHUNK) {
        const ids = group.slice(i, i + TOUCH_CHUNK).map((e) => e.id);
        touched += Number(await this.redis.eval(TOUCH_SCRIPT, 1, stream, this.settings.group, this.settings.consumer, ...ids));
      }
    }
    return touched;
  }

  /**
   * Remember that these deliveries failed for a transient reason (they stay pending), and for
   * `uncertain` (a subset) that their write, stamped `processedAtMs`, may have stored them anyway.
   */
  async recordTransientFailure(entries: DeliveredEntry[], uncertain: DeliveredEntry[] = [], processedAtMs = 0): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const e of entries) pipeline.hincrby(this.failuresKey(e.partition), e.id, 1);
    for (const e of uncertain) pipeline.eval(APPEND_UNCERTAIN_SCRIPT, 1, this.failuresKey(e.partition), uncertainField(e.id), String(processedAtMs));
    await execOrThrow(pipeline);
  }

  /**
   * Takes over the uncertain-write record of each entry (HDEL, atomic): only the deliveries that
   * removed it may count the document it names, so overlapping deliveries of one entry, or a
   * delivery after a failed ack, never count it twice. Returns the entries this call took over.
   */
  async takeUncertainWrites(entries: DeliveredEntry[]): Promise<DeliveredEntry[]> {
    if (entries.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const e of entries) pipeline.hdel(this.failuresKey(e.partition), uncertainField(e.id));
    const results = (await pipeline.exec()) ?? [];
    return entries.filter((_, i) => {
      const [err, removed] = results[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      return Number(removed) === 1;
    });
  }

  /**
   * One page of idle pending entries taken over by this consumer: our own entries left pending
   * after a transient failure (idle ≥ ownRetryIdleMs and not held by this process right now),
   * and other consumers' entries idle ≥ CLAIM_IDLE_MS (their worker crashed or hangs).
   * XCLAIM re-checks the idle time atomically, so two workers never both take the same entry.
   */
  async claimIdlePage(
    { partition, stream }: PartitionStream,
    start: string,
    isHeld: (stream: string, id: string) => boolean,
    includeOwn = true,
  ): Promise<ClaimPage> {
    const { group, consumer, claimIdleMs, ownRetryIdleMs, readCount } = this.settings;
    const minIdle = Math.min(ownRetryIdleMs, claimIdleMs);
    const rows = (await this.redis.call('XPENDING', stream, group, 'IDLE', minIdle, start, '+', readCount)) as Array<
      [string, string, number, number]
    >;
    const next = rows.length < readCount ? null : `(${rows[rows.length - 1][0]}`;
    const own: string[] = [];
    const foreign: string[] = [];
    const deliveredBefore = new Map<string, number>();
    for (const [id, owner, idle, count] of rows) {
      deliveredBefore.set(id, Number(count));
      if (owner === consumer) {
        if (includeOwn && !isHeld(stream, id)) own.push(id);
      } else if (Number(idle) >= claimIdleMs) {
        foreign.push(id);
      }
    }
    const claimed: RawEntry[] = [];
    if (own.length > 0) claimed.push(...((await this.redis.call('XCLAIM', stream, group, consumer, ownRetryIdleMs, ...own)) as RawEntry[]));
    if (foreign.length > 0) claimed.push(...((await this.redis.call('XCLAIM', stream, group, consumer, claimIdleMs, ...foreign)) as RawEntry[]));
    // Entries trimmed or deleted meanwhile come back as nil (or not at all) and leave the PEL.
    const live = claimed.filter((e): e is [string, string[]] => Array.isArray(e) && Array.isArray(e[1]));
    if (live.length === 0) return { entries: [], next };
    const ids = live.map((e) => e[0]);
    const values = await this.redis.hmget(this.failuresKey(partition), ...ids, ...ids.map(uncertainField));
    const entries = live.map(([id, fields], i): DeliveredEntry => {
      const writes = values[ids.length + i];
      return {
        partition,
        stream,
        id,
        fields,
        deliveries: (deliveredBefore.get(id) ?? 0) + 1,
        transientFailures: values[i] === null ? 0 : Number(values[i]),
        ...(writes ? { uncertainWrites: writes.split(',').map(Number).filter(Number.isFinite) } : {}),
      };
    });
    return { entries, next };
  }

  /**
   * Trims every partition stream below what any group still needs; returns entries removed. A
   * partition that fails (its key missing after Redis restarted empty, say) does not keep the
   * others from being trimmed: the first failure is thrown after all were tried.
   */
  async trim(): Promise<number> {
    let removed = 0;
    let failure: unknown;
    for (const { partition, stream } of this.streams) {
      try {
        const result = (await this.redis.eval(TRIM_SCRIPT, 1, stream)) as [string, number] | null;
        if (!result) continue;
        removed += Number(result[1]);
        await this.forgetTransientBelow(partition, result[0]);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
    return removed;
  }

  /**
   * Entries below the trim point are acknowledged by every group; transient-failure counts left
   * for them (another consumer acked without knowing the count) are dropped.
   */
  private async forgetTransientBelow(partition: number, minId: string): Promise<void> {
    // Nothing new can be below an unchanged trim point (during an outage the hash is large).
    if (this.lastForgetMinId.get(partition) === minId) return;
    const key = this.failuresKey(partition);
    if ((await this.redis.hlen(key)) === 0) {
      this.lastForgetMinId.set(partition, minId);
      return;
    }
    let cursor = '0';
    do {
      const [nextCursor, flat] = await this.redis.hscan(key, cursor, 'COUNT', 500);
      cursor = nextCursor;
      const stale: string[] = [];
      // Fields are entry ids, or entry ids with ':w' (uncertain writes).
      for (let i = 0; i < flat.length; i += 2) if (compareStreamIds(flat[i].replace(/:w$/, ''), minId) < 0) stale.push(flat[i]);
      if (stale.length > 0) await this.redis.hdel(key, ...stale);
    } while (cursor !== '0');
    this.lastForgetMinId.set(partition, minId);
  }

  /** This group's transient-failure hash of a partition. */
  private failuresKey(partition: number): string {
    return this.keys.workerTransientFailures(partition, this.settings.group);
  }

  /** Removes long-gone consumers that hold no entries; returns how many. */
  async expireConsumers(): Promise<number> {
    let removed = 0;
    for (const { stream } of this.streams) {
      removed += Number(
        await this.redis.eval(EXPIRE_CONSUMERS_SCRIPT, 1, stream, this.settings.group, this.settings.consumerExpiryMs, this.settings.consumer),
      );
    }
    return removed;
  }
}

function groupByPartition(entries: DeliveredEntry[]): Map<number, DeliveredEntry[]> {
  const out = new Map<number, DeliveredEntry[]>();
  for (const e of entries) {
    const list = out.get(e.partition);
    if (list) list.push(e);
    else out.set(e.partition, [e]);
  }
  return out;
}

async function execOrThrow(pipeline: ReturnType<Redis['pipeline']>): Promise<void> {
  const results = await pipeline.exec();
  for (const [err] of results ?? []) if (err) throw err;
}

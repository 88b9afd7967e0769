import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/http/api-error';
import { AnalyticsCache } from './analytics-cache';
import { Interval, MetricsQueryDto, TimeseriesQueryDto, UserEventsQueryDto } from './dto/analytics-query.dto';
import { RollupReader, TopUser } from './rollup.reader';
import { Granularity, isRetained, RETENTION_SECONDS } from './rollups/rollup-granularity';
import { bucketsOf, MAX_RANGE_SECONDS, MAX_TIMESERIES_POINTS, planIntervalWindow, planMetricsWindow, PRESET_RANGES, tile, TimeWindow } from './time-window';
import { decodeCursor, UserEventsReader, UserEventView } from './user-events.reader';

export const TOP_USERS = 10;

export interface TimePoint {
  timestamp: string;
  count: number;
}

export interface MetricsResult {
  totalEvents: number;
  timeRange: { start: string; end: string };
  eventsByType: Array<{ eventType: string; count: number; percentage: number }>;
  topUsers: TopUser[];
  eventsOverTime: TimePoint[];
  avgEventsPerUser: number;
  uniqueUsers: number;
  uniqueSessions: number;
  /** Width of one eventsOverTime point, in seconds. */
  bucketSeconds: number;
  /** True when uniqueUsers/uniqueSessions are HyperLogLog estimates (standard error 0.81%). */
  uniquesApproximate: boolean;
}

const INTERVAL_GRANULARITY: Record<Interval, Granularity> = { minute: 'm', hour: 'h', day: 'd' };
/** Default span of a timeseries request without `from`. */
const DEFAULT_SPAN: Record<Interval, number> = { minute: 3_600, hour: 86_400, day: 30 * 86_400 };

const round2 = (n: number): number => Math.round(n * 100) / 100;
const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();
const bad = (field: string, message: string): ApiError => ApiError.validation('Request validation failed', [{ field, message }]);

/**
 * Epoch ms of an ISO 8601 date-time. The DTO's IsISO8601 admits forms Date.parse cannot read
 * (week dates, ordinal dates, basic format, a comma fraction): those get a 400 naming the field,
 * not a misleading "from must be before to".
 */
function parseInstant(field: 'from' | 'to', value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw bad(field, `${field} must be an ISO 8601 date-time such as 2026-12-01T10:00:00Z (calendar date, extended format)`);
  return ms;
}

/** Resolves from/to (ISO strings) into epoch seconds with the rules: from < to, at most 400 days. */
function resolveRange(from: string | undefined, to: string | undefined, defaultSpan: number, nowMs: number): { from: number; to: number } {
  const toMs = to !== undefined ? parseInstant('to', to) : nowMs;
  const fromMs = from !== undefined ? parseInstant('from', from) : toMs - defaultSpan * 1000;
  if (!(fromMs < toMs)) throw bad('from', 'from must be before to');
  if (toMs - fromMs > MAX_RANGE_SECONDS * 1000) throw bad('to', 'the range may span at most 400 days');
  return { from: Math.floor(fromMs / 1000), to: Math.ceil(toMs / 1000) };
}

/**
 * Dashboard queries. Everything but a userId-filtered query is answered from the Redis rollups
 * (cost ∝ buckets and active users in the range, never ∝ stored events); a userId filter reads
 * that user's events from the one shard that owns them.
 */
@Injectable()
export class AnalyticsService {
  constructor(
    private readonly rollups: RollupReader,
    private readonly userEvents: UserEventsReader,
    private readonly cache: AnalyticsCache,
  ) {}

  async metrics(q: MetricsQueryDto, nowMs = Date.now()): Promise<{ value: MetricsResult; hit: boolean }> {
    if (q.timeRange !== undefined && (q.from !== undefined || q.to !== undefined)) {
      throw bad('timeRange', 'give either timeRange or from/to, not both');
    }
    if (q.to !== undefined && q.from === undefined) throw bad('from', 'from is required with to');
    const span = PRESET_RANGES[q.timeRange ?? '24h'];
    const range = resolveRange(q.from, q.to, span, nowMs);
    const now = Math.floor(nowMs / 1000);
    const window = planMetricsWindow(range.from, range.to, now);
    // Rollups end with the day granularity's retention; a userId query reads raw events instead.
    if (q.userId === undefined && !isRetained(window.start, window.g, now)) {
      throw bad('from', `analytics rollups are kept for ${RETENTION_SECONDS.d / 86_400} days; from must be within them (or filter by userId)`);
    }
    const key = AnalyticsCache.normalize('metrics', { start: window.start, end: window.end, width: window.width, eventType: q.eventType, userId: q.userId });
    return this.cache.getOrCompute(key, () =>
      q.userId !== undefined ? this.userMetrics(window, q.userId, q.eventType) : this.rollupMetrics(window, now, q.eventType),
    );
  }

  async timeseries(q: TimeseriesQueryDto, nowMs = Date.now()): Promise<{ value: TimePoint[]; hit: boolean }> {
    const interval = q.interval ?? 'hour';
    const g = INTERVAL_GRANULARITY[interval];
    const range = resolveRange(q.from, q.to, DEFAULT_SPAN[interval], nowMs);
    const window = planIntervalWindow(range.from, range.to, g, Math.floor(nowMs / 1000));
    if (!window) {
      throw bad('interval', `${interval} data is kept for ${RETENTION_SECONDS[g] / 86_400} days; use a coarser interval for older ranges`);
    }
    const points = (window.end - window.start) / window.width;
    if (points > MAX_TIMESERIES_POINTS) {
      throw bad('to', `the range holds ${points} ${interval} buckets; at most ${MAX_TIMESERIES_POINTS} per request: narrow it or use a coarser interval`);
    }
    const key = AnalyticsCache.normalize('timeseries', { start: window.start, end: window.end, g, eventType: q.eventType });
    return this.cache.getOrCompute(key, async () => {
      const buckets = bucketsOf(window);
      const { perBucket } = await this.rollups.counts(window.g, buckets, q.eventType);
      return buckets.map((b, i) => ({ timestamp: iso(b), count: perBucket[i] }));
    });
  }

  async userEventsPage(userId: string, q: UserEventsQueryDto, nowMs = Date.now()): Promise<{ userId: string; events: UserEventView[]; nextCursor: string | null }> {
    if (userId.length < 1 || userId.length > 128) throw bad('userId', 'userId must be 1 to 128 characters');
    let from: Date | undefined;
    let to: Date | undefined;
    if (q.from !== undefined || q.to !== undefined) {
      const toMs = q.to !== undefined ? parseInstant('to', q.to) : nowMs + 86_400_000; // events may be up to 24 h ahead
      const fromMs = q.from !== undefined ? parseInstant('from', q.from) : toMs - MAX_RANGE_SECONDS * 1000;
      if (!(fromMs < toMs)) throw bad('from', 'from must be before to');
      if (toMs - fromMs > MAX_RANGE_SECONDS * 1000) throw bad('to', 'the range may span at most 400 days');
      from = new Date(fromMs);
      to = new Date(toMs);
    }
    const cursor = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
    const page = await this.userEvents.page(userId, { from, to }, q.limit ?? 100, cursor);
    return { userId, ...page };
  }

  private async rollupMetrics(window: TimeWindow, now: number, eventType?: string): Promise<MetricsResult> {
    const buckets = bucketsOf(window);
    const pieces = tile(window, now);
    const [counts, sessions, top, allUsers] = await Promise.all([
      this.rollups.counts(window.g, buckets, eventType),
      this.rollups.uniques('sessions', pieces, eventType),
      this.rollups.topUsers(pieces, TOP_USERS, eventType),
      eventType === undefined ? this.rollups.uniques('users', pieces) : Promise.resolve(0),
    ]);
    // With an eventType, distinct users are exact (counted while ranking); otherwise a HyperLogLog.
    const users = top.distinctUsers ?? allUsers;
    const perPoint = this.points(window);
    buckets.forEach((b, i) => (perPoint[Math.floor((b - window.start) / window.width)].count += counts.perBucket[i]));
    const total = counts.perBucket.reduce((a, b) => a + b, 0);
    return this.assemble(window, total, counts.byType, top.users, perPoint, users, sessions, true);
  }

  /** userId filter: that user's events on their shard, exact (sessions counted exactly too). */
  private async userMetrics(window: TimeWindow, userId: string, eventType?: string): Promise<MetricsResult> {
    const events = await this.userEvents.activity(userId, new Date(window.start * 1000), new Date(window.end * 1000), eventType);
    const perPoint = this.points(window);
    const byType = new Map<string, number>();
    const typeLast = new Map<string, number>();
    const sessions = new Set<string>();
    for (const e of events) {
      const ms = e.timestamp.getTime();
      perPoint[Math.floor((Math.floor(ms / 1000) - window.start) / window.width)].count += 1;
      byType.set(e.eventType, (byType.get(e.eventType) ?? 0) + 1);
      typeLast.set(e.eventType, Math.max(typeLast.get(e.eventType) ?? -Infinity, ms));
      sessions.add(e.sessionId);
    }
    const total = events.length;
    const lastMs = Math.max(...typeLast.values());
    const topUsers: TopUser[] =
      total > 0 ? [{ userId, eventCount: total, lastEventAt: new Date(lastMs).toISOString(), eventTypes: [...byType.keys()].sort() }] : [];
    return this.assemble(window, total, byType, topUsers, perPoint, total > 0 ? 1 : 0, sessions.size, false);
  }

  private points(window: TimeWindow): TimePoint[] {
    const out: TimePoint[] = [];
    for (let t = window.start; t < window.end; t += window.width) out.push({ timestamp: iso(t), count: 0 });
    return out;
  }

  private assemble(
    window: TimeWindow,
    total: number,
    byType: Map<string, number>,
    topUsers: TopUser[],
    eventsOverTime: TimePoint[],
    uniqueUsers: number,
    uniqueSessions: number,
    approximate: boolean,
  ): MetricsResult {
    const eventsByType = [...byType]
      .filter(([, count]) => count > 0)
      .map(([eventType, count]) => ({ eventType, count, percentage: total > 0 ? round2((count / total) * 100) : 0 }))
      .sort((a, b) => b.count - a.count || (a.eventType < b.eventType ? -1 : a.eventType > b.eventType ? 1 : 0));
    return {
      totalEvents: total,
      timeRange: { start: iso(window.start), end: iso(window.end) },
      eventsByType,
      topUsers,
      eventsOverTime,
      avgEventsPerUser: uniqueUsers > 0 ? round2(total / uniqueUsers) : 0,
      uniqueUsers,
      uniqueSessions,
      bucketSeconds: window.width,
      uniquesApproximate: approximate,
    };
  }
}

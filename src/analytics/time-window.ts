import { Granularity, GRANULARITY_SECONDS, isRetained } from './rollups/rollup-granularity';

/** Longest range any analytics query may span (issue: "a range over 400 days → 400"). */
export const MAX_RANGE_SECONDS = 400 * 86_400;

/**
 * `eventsOverTime` has about this many points at most (~200, so a chart stays readable); aligning
 * the range outward to whole points may add one.
 */
export const MAX_POINTS = 200;

/**
 * Most buckets one timeseries answer lists: 400 days of hours fit, minutes up to ~7 days (they
 * are kept 3). Without a cap a minute interval over a 400-day range (ending in the future) read
 * ~576,000 buckets per shard for one request.
 */
export const MAX_TIMESERIES_POINTS = 10_000;

export const PRESET_RANGES = { '15m': 15 * 60, '1h': 3_600, '24h': 86_400, '7d': 7 * 86_400 } as const;
export type PresetRange = keyof typeof PRESET_RANGES;

/**
 * Point widths, finest first. Each is a whole number of buckets of one rollup granularity, and
 * minute widths stop at 10 min so a query never reads more than ~2,000 minute buckets.
 */
const WIDTHS = [60, 300, 600, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800];

export const baseGranularity = (width: number): Granularity => (width % 86_400 === 0 ? 'd' : width % 3_600 === 0 ? 'h' : 'm');

/**
 * The window a query is answered over: [start, end) in epoch seconds, aligned to `width` (the
 * eventsOverTime point width), read from rollups of granularity `g`. Aligning the requested
 * range outward to whole points makes every number exact for the window reported back in
 * `timeRange`, and makes the cache key stable within a point.
 */
export interface TimeWindow {
  start: number;
  end: number;
  width: number;
  g: Granularity;
}

const alignDown = (t: number, w: number): number => Math.floor(t / w) * w;
const alignUp = (t: number, w: number): number => Math.ceil(t / w) * w;

/**
 * Finest width giving at most MAX_POINTS points whose rollup granularity is still retained at the
 * start of the range (older ranges are answered at a coarser width instead of with zeros).
 */
export function planMetricsWindow(from: number, to: number, now: number): TimeWindow {
  for (const width of WIDTHS) {
    const g = baseGranularity(width);
    const start = alignDown(from, width);
    const end = Math.max(alignUp(to, width), start + width);
    if ((end - start) / width > MAX_POINTS + 1) continue;
    if (!isRetained(start, g, now)) continue;
    return { start, end, width, g };
  }
  const width = WIDTHS[WIDTHS.length - 1];
  return { start: alignDown(from, width), end: Math.max(alignUp(to, width), alignDown(from, width) + width), width, g: 'd' };
}

/** Window of an explicit interval, or undefined when that granularity is no longer kept for `from`. */
export function planIntervalWindow(from: number, to: number, g: Granularity, now: number): TimeWindow | undefined {
  const width = GRANULARITY_SECONDS[g];
  const start = alignDown(from, width);
  const end = Math.max(alignUp(to, width), start + width);
  return isRetained(start, g, now) ? { start, end, width, g } : undefined;
}

/** Bucket starts of granularity g in [start, end). */
export function bucketsOf(window: Pick<TimeWindow, 'start' | 'end' | 'g'>): number[] {
  const size = GRANULARITY_SECONDS[window.g];
  const out: number[] = [];
  for (let t = window.start; t < window.end; t += size) out.push(t);
  return out;
}

export interface Piece {
  g: Granularity;
  bucket: number;
}

/**
 * Covers [start, end) with the fewest retained buckets, coarsest first (whole days, then whole
 * hours, then minutes), for the reads whose cost grows with the number of keys (sorted-set
 * unions, HyperLogLog merges, per-user activity).
 */
export function tile(window: Pick<TimeWindow, 'start' | 'end'>, now: number): Piece[] {
  const pieces: Piece[] = [];
  let t = window.start;
  while (t < window.end) {
    let placed = false;
    for (const g of ['d', 'h', 'm'] as const) {
      const size = GRANULARITY_SECONDS[g];
      if (t % size === 0 && t + size <= window.end && isRetained(t, g, now)) {
        pieces.push({ g, bucket: t });
        t += size;
        placed = true;
        break;
      }
    }
    if (!placed) throw new RangeError(`window [${window.start}, ${window.end}) cannot be tiled at ${t}`);
  }
  return pieces;
}

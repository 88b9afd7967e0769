/**
 * The three rollup granularities and how long each is kept. Shared by the writer (worker) and
 * the readers (API), so both agree on bucket boundaries and on what data exists.
 *
 * Buckets are aligned to the Unix epoch (UTC): a bucket's id is its start in epoch seconds.
 * Retention is counted from the end of a bucket; the writer skips buckets already past it and
 * the readers never ask for them (they answer at a coarser granularity instead).
 */
export type Granularity = 'm' | 'h' | 'd';

export const GRANULARITIES: readonly Granularity[] = ['m', 'h', 'd'];

export const GRANULARITY_SECONDS: Record<Granularity, number> = { m: 60, h: 3_600, d: 86_400 };

/**
 * Minute data answers the short dashboards (15m, 1h, 24h at 10-minute points); hour data the 7d
 * view; day data everything up to the 400-day maximum range. Memory grows with retention ×
 * active users per bucket, so the fine granularities are kept briefly.
 */
export const RETENTION_SECONDS: Record<Granularity, number> = {
  m: 3 * 86_400,
  h: 9 * 86_400,
  d: 402 * 86_400,
};

export const bucketStart = (epochSeconds: number, g: Granularity): number =>
  Math.floor(epochSeconds / GRANULARITY_SECONDS[g]) * GRANULARITY_SECONDS[g];

/** Epoch second after which the bucket's keys expire. */
export const bucketExpiry = (bucket: number, g: Granularity): number => bucket + GRANULARITY_SECONDS[g] + RETENTION_SECONDS[g];

/** True while the bucket starting at `bucket` is still kept at granularity `g`. */
export const isRetained = (bucket: number, g: Granularity, nowSeconds: number): boolean => bucketExpiry(bucket, g) > nowSeconds;

/**
 * Per-user counts are also kept as a sorted set (fast top-k unions) at hour and day granularity
 * only. Keeping one per minute bucket cost the worker's flush ~15% of its Redis time (a sorted-set
 * update is a skiplist delete and insert, measured ~5 µs per user and bucket); minute pieces,
 * which only appear at the edges of short windows, are summed from the activity hashes instead.
 */
export const hasUserCounts = (g: Granularity): boolean => g !== 'm';

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

import { createHash } from 'node:crypto';

/**
 * Stable bucket for a key, identical in every process, language and restart:
 *
 *   bucket = jumpConsistentHash(uint64_be(md5(utf8(key))[0..8]), buckets)
 *
 * MD5 spreads any id format uniformly; Jump Consistent Hash (Lamping & Veach, 2014) then moves
 * only ~1/N of the keys when a bucket is added, instead of almost all of them with `hash % N`.
 */
export function stableBucket(key: string, buckets: number): number {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError('buckets must be a positive integer');
  if (buckets === 1) return 0;
  const digest = createHash('md5').update(key, 'utf8').digest();
  return jumpConsistentHash(digest.readBigUInt64BE(0), buckets);
}

const MASK64 = (1n << 64n) - 1n;
const LCG_MULTIPLIER = 2862933555777941757n;

export function jumpConsistentHash(key: bigint, buckets: number): number {
  let k = key & MASK64;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = (k * LCG_MULTIPLIER + 1n) & MASK64;
    // Same float expression as the paper's reference, so every implementation agrees.
    j = Math.floor((b + 1) * (2 ** 31 / Number((k >> 33n) + 1n)));
  }
  return b;
}

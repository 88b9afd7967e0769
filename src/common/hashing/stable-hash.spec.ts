import { jumpConsistentHash, stableBucket } from './stable-hash';

describe('stableBucket', () => {
  // Golden values cross-checked against an independent Go implementation of
  // md5 → uint64 big-endian → Jump Consistent Hash. A change here moves users between shards.
  it.each([
    ['user-1', 2, 3, 3],
    ['user-2', 1, 1, 4],
    ['alice', 0, 0, 4],
    ['bob', 2, 3, 5],
    ['42', 1, 1, 1],
    ['ünïcødé', 2, 2, 2],
    ['', 1, 3, 9],
  ])('maps %j to the documented bucket', (id, b3, b4, b10) => {
    expect([stableBucket(id, 3), stableBucket(id, 4), stableBucket(id, 10)]).toEqual([b3, b4, b10]);
  });

  it('spreads 100k ids uniformly over 3 buckets (33% ± 2%)', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 100_000; i++) counts[stableBucket(`user-${i}`, 3)]++;
    for (const c of counts) {
      expect(c / 100_000).toBeGreaterThan(1 / 3 - 0.02);
      expect(c / 100_000).toBeLessThan(1 / 3 + 0.02);
    }
  });

  it('moves only about 1/N of the keys when a bucket is added', () => {
    let moved = 0;
    for (let i = 0; i < 20_000; i++) if (stableBucket(`u${i}`, 3) !== stableBucket(`u${i}`, 4)) moved++;
    // Ideal is 1/4; `hash % N` would move about 3/4.
    expect(moved / 20_000).toBeGreaterThan(0.2);
    expect(moved / 20_000).toBeLessThan(0.3);
  });

  it('always answers 0 for one bucket and rejects nonsense', () => {
    expect(stableBucket('anything', 1)).toBe(0);
    expect(() => stableBucket('x', 0)).toThrow(RangeError);
    expect(jumpConsistentHash(0n, 1)).toBe(0);
  });
});

import { backoffDelayMs } from './retry-policy';

describe('backoffDelayMs (exponential, full jitter)', () => {
  it('grows as base·2^(n-1) and is capped', () => {
    const top = (n: number) => backoffDelayMs(n, 100, 5_000, () => 0.999999);
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(top)).toEqual([99, 199, 399, 799, 1599, 3199, 4999, 4999]);
  });

  it('draws uniformly from [0, ceiling): zero jitter gives zero', () => {
    expect(backoffDelayMs(5, 100, 5_000, () => 0)).toBe(0);
    expect(backoffDelayMs(3, 100, 5_000, () => 0.5)).toBe(200);
  });

  it('stays within bounds for random draws', () => {
    for (let n = 1; n <= 12; n++) {
      for (let i = 0; i < 200; i++) {
        const d = backoffDelayMs(n, 100, 5_000);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(5_000, 100 * 2 ** (n - 1)));
      }
    }
  });
});

import { compareStreamIds } from './stream-ids';

describe('compareStreamIds', () => {
  it('orders by milliseconds, then sequence, numerically', () => {
    expect(compareStreamIds('999-0', '1000-0')).toBeLessThan(0);
    expect(compareStreamIds('1000-10', '1000-9')).toBeGreaterThan(0);
    expect(compareStreamIds('1700000000000-5', '1700000000000-5')).toBe(0);
    expect(compareStreamIds('1700000000000', '1700000000000-1')).toBeLessThan(0);
    expect(compareStreamIds('1-18446744073709551615', '2-0')).toBeLessThan(0);
  });
});

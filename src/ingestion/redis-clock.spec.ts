import { RedisClock } from './redis-clock';

describe('RedisClock', () => {
  it('estimates the offset from the midpoint of the round trip', () => {
    const clock = new RedisClock();
    clock.observe(10_500, 1_000, 1_010);
    expect(clock.redisNow(2_000)).toBe(11_495);
  });

  it('prefers a precise recent sample to a slow one, but follows drift after 30 s', () => {
    const clock = new RedisClock();
    clock.observe(5_000, 1_000, 1_002); // offset 3999, rtt 2
    clock.observe(6_100, 2_000, 2_400); // slow sample (offset 3900 ± 200): ignored
    expect(clock.redisNow(3_000)).toBe(6_999);
    clock.observe(40_000, 40_000, 40_400); // 30 s later: taken
    expect(clock.redisNow(41_000)).toBe(40_800);
  });

  it('follows a stepped clock at once, even from an imprecise sample', () => {
    const clock = new RedisClock();
    clock.observe(5_000, 1_000, 1_002); // offset 3999
    clock.observe(12_000, 2_000, 2_400); // offset 9800: 5.8 s off, far beyond the 200 ms error
    expect(clock.redisNow(3_000)).toBe(12_800);
  });
});

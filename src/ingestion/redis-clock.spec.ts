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
    clock.observe(9_999, 2_000, 2_400); // slow sample: ignored
    expect(clock.redisNow(3_000)).toBe(6_999);
    clock.observe(40_000, 40_000, 40_400); // 30 s later: taken
    expect(clock.redisNow(41_000)).toBe(40_800);
  });
});

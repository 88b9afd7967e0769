import { ShardBreaker } from './shard-breaker';

describe('ShardBreaker', () => {
  let now = 0;
  const breaker = () => new ShardBreaker(500, 5_000, () => now);

  beforeEach(() => (now = 1_000));

  it('is closed until a failure, then open for the pause', () => {
    const b = breaker();
    expect(b.enter()).toBe('closed');
    b.failure();
    expect(b.enter()).toBe('open');
    now += 499;
    expect(b.enter()).toBe('open');
  });

  it('lets exactly one probe through after the pause; success closes it', () => {
    const b = breaker();
    b.failure();
    now += 500;
    expect(b.enter()).toBe('probe');
    expect(b.enter()).toBe('open');
    b.success();
    expect(b.enter()).toBe('closed');
  });

  it('doubles the pause after each failed probe, up to the cap', () => {
    const b = breaker();
    const pauses: number[] = [];
    for (let i = 0; i < 6; i++) {
      b.failure();
      const start = now;
      while (b.enter() !== 'probe') now += 100;
      pauses.push(now - start);
    }
    expect(pauses).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
  });

  it('tells its phase: closed, pausing, probe due, probing', () => {
    const b = breaker();
    expect(b.phase).toBe('closed');
    b.failure();
    expect(b.phase).toBe('pausing');
    now += 500;
    expect(b.phase).toBe('probe-due');
    expect(b.enter()).toBe('probe');
    expect(b.phase).toBe('probing');
    b.failure();
    expect(b.phase).toBe('pausing');
    now += 1_000;
    b.enter();
    b.success();
    expect(b.phase).toBe('closed');
  });

  it('release() frees the probe slot without a verdict', () => {
    const b = breaker();
    b.failure();
    now += 500;
    expect(b.enter()).toBe('probe');
    b.release();
    expect(b.enter()).toBe('probe');
  });
});

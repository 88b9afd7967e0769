import { ByteBudget } from './admission-gate';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ByteBudget (admission gate)', () => {
  it('admits bodies while they fit, then in arrival order as bytes are released', async () => {
    const b = new ByteBudget(100);
    const r60 = await b.acquire(60);
    const r30 = await b.acquire(30);
    expect(typeof r60).toBe('function');
    expect(b.inUse).toBe(90);
    const order: string[] = [];
    const w50 = b.acquire(50).then((r) => (order.push('50'), r));
    // 5 would fit, but it arrived after 50: no overtaking.
    const w5 = b.acquire(5).then((r) => (order.push('5'), r));
    await settle();
    expect(order).toEqual([]);
    expect(b.queued).toBe(2);
    r30();
    await settle();
    expect(order).toEqual([]);
    r60();
    const r50 = await w50;
    const r5 = await w5;
    expect(order).toEqual(['50', '5']);
    expect(b.inUse).toBe(55);
    r50();
    r5();
    expect(b.inUse).toBe(0);
  });

  it('serves a body larger than the whole budget alone, once nothing else holds any', async () => {
    const b = new ByteBudget(100);
    const small = await b.acquire(10);
    let admitted = false;
    const big = b.acquire(500).then((r) => ((admitted = true), r));
    await settle();
    expect(admitted).toBe(false);
    small();
    const release = await big;
    expect(b.inUse).toBe(500);
    let next = false;
    void b.acquire(1).then(() => (next = true));
    await settle();
    expect(next).toBe(false);
    release();
    await settle();
    expect(next).toBe(true);
  });

  it('a release called twice (response closed after an abort) frees its bytes once', async () => {
    const b = new ByteBudget(100);
    const r1 = await b.acquire(100);
    const waiter = b.acquire(100);
    r1();
    r1();
    const r2 = await waiter;
    expect(b.inUse).toBe(100);
    let admitted = false;
    void b.acquire(1).then(() => (admitted = true));
    await settle();
    expect(admitted).toBe(false);
    r2();
    await settle();
    expect(admitted).toBe(true);
  });

  it('a waiter past its deadline gets null and leaves the queue; those behind it that fit are let in', async () => {
    jest.useFakeTimers();
    try {
      const b = new ByteBudget(100);
      const held = await b.acquire(60);
      const results: string[] = [];
      const big = b.acquire(80, 1_000).then((r) => (results.push(r === null ? 'big:timeout' : 'big:in'), r));
      const small = b.acquire(30, 5_000).then((r) => (results.push(r === null ? 'small:timeout' : 'small:in'), r));
      await Promise.resolve();
      expect(b.queued).toBe(2);
      jest.advanceTimersByTime(999);
      await Promise.resolve();
      expect(results).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(await big).toBeNull();
      // 30 fits beside the 60 held: once the 80 at the head gave up, it is admitted at once.
      const releaseSmall = await small;
      expect(results).toEqual(['big:timeout', 'small:in']);
      expect(b.queued).toBe(0);
      expect(b.inUse).toBe(90);
      // An admitted waiter's timer is cleared: nothing fires later.
      jest.advanceTimersByTime(10_000);
      expect(b.inUse).toBe(90);
      releaseSmall!();
      held();
      expect(b.inUse).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

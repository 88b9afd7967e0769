import { Semaphore } from './admission-gate';

describe('Semaphore (admission gate)', () => {
  it('admits up to the limit at once, then first come first served as permits are released', async () => {
    const s = new Semaphore(2);
    const r1 = (await s.acquire()) as () => void;
    const r2 = (await s.acquire()) as () => void;
    expect(s.inUse).toBe(2);
    const order: number[] = [];
    const w3 = Promise.resolve(s.acquire()).then((r) => (order.push(3), r));
    const w4 = Promise.resolve(s.acquire()).then((r) => (order.push(4), r));
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(s.queued).toBe(2);
    r1();
    const r3 = await w3;
    expect(order).toEqual([3]);
    expect(s.inUse).toBe(2);
    r2();
    const r4 = await w4;
    expect(order).toEqual([3, 4]);
    r3();
    r4();
    expect(s.inUse).toBe(0);
  });

  it('a release called twice (response closed after an abort) frees one permit only', async () => {
    const s = new Semaphore(1);
    const r1 = (await s.acquire()) as () => void;
    const waiter = Promise.resolve(s.acquire());
    r1();
    r1();
    const r2 = await waiter;
    expect(s.inUse).toBe(1);
    const third = Promise.resolve(s.acquire());
    let admitted = false;
    void third.then(() => (admitted = true));
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(false);
    r2();
    await third;
    expect(admitted).toBe(true);
  });
});

/** One window: hits so far, and when it ends (ms since the epoch). */
interface Window {
  hits: number;
  endsAt: number;
}

/**
 * Fixed-window counters per key, in this process, holding at most `maxKeys` windows (expired ones
 * go first, then the oldest tenth): a flood of distinct keys cannot grow it without bound.
 */
export class FixedWindows {
  private readonly windows = new Map<string, Window>();

  constructor(readonly maxKeys = 10_000) {}

  /**
   * Counts a hit; returns the hits in the key's window and the ms left of it. The hit that first
   * exceeds `limit` stretches the window to `blockMs` when that is longer (the throttler's block).
   */
  hit(key: string, windowMs: number, now: number, limit = Infinity, blockMs = 0): [number, number] {
    let w = this.current(key, now);
    if (!w) {
      if (this.windows.size >= this.maxKeys) this.prune(now);
      w = { hits: 0, endsAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.hits += 1;
    if (w.hits === limit + 1 && blockMs > w.endsAt - now) w.endsAt = now + blockMs;
    return [w.hits, w.endsAt - now];
  }

  /** Marks the key as seen: its window now ends windowMs from now, whatever it was before. */
  touch(key: string, windowMs: number, now: number): void {
    const w = this.current(key, now);
    if (w) {
      w.endsAt = now + windowMs;
      return;
    }
    this.hit(key, windowMs, now);
  }

  /** Takes back one hit of the key's current window (a counted attempt that turned out not to count). */
  unhit(key: string, now: number): void {
    const w = this.current(key, now);
    if (w && w.hits > 0) w.hits -= 1;
  }

  get size(): number {
    return this.windows.size;
  }

  /** Whether the key has a window that has not ended. */
  has(key: string, now = Date.now()): boolean {
    return this.current(key, now) !== undefined;
  }

  private current(key: string, now: number): Window | undefined {
    const w = this.windows.get(key);
    if (w && w.endsAt <= now) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (w.endsAt <= now) this.windows.delete(k);
    // Still full: drop the oldest tenth (Map order is insertion order), so that a flood of new
    // keys costs one scan per maxKeys/10 of them, not one per key.
    const target = Math.floor(this.maxKeys * 0.9);
    for (const k of this.windows.keys()) {
      if (this.windows.size <= target) break;
      this.windows.delete(k);
    }
  }
}

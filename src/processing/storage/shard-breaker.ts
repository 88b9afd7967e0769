export type BreakerGate = 'closed' | 'probe' | 'open';

/**
 * Per-shard circuit breaker. After a write to a shard has used up its retries on transient errors,
 * the shard is "open" for a while: writes for it fail at once (their entries stay pending) instead
 * of each batch waiting out server selection, so events for the healthy shards keep flowing.
 * When the pause ends, exactly one write goes through as a probe (single attempt); its success
 * closes the breaker, its failure reopens it for twice as long (capped).
 */
export class ShardBreaker {
  private openUntil = 0;
  private probing = false;
  private consecutiveFailures = 0;

  constructor(
    private readonly baseOpenMs = 500,
    private readonly maxOpenMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  enter(): BreakerGate {
    if (this.openUntil === 0) return 'closed';
    if (this.now() < this.openUntil || this.probing) return 'open';
    this.probing = true;
    return 'probe';
  }

  /** The shard answered (even if it refused some documents). */
  success(): void {
    this.openUntil = 0;
    this.probing = false;
    this.consecutiveFailures = 0;
  }

  failure(): void {
    this.consecutiveFailures += 1;
    this.probing = false;
    const pause = Math.min(this.maxOpenMs, this.baseOpenMs * 2 ** (this.consecutiveFailures - 1));
    this.openUntil = this.now() + pause;
  }

  /** A probe that ended without a verdict (e.g. shutting down) lets the next write probe. */
  release(): void {
    this.probing = false;
  }

  get isOpen(): boolean {
    return this.openUntil !== 0;
  }

  /** Closed; open and pausing; open with its probe due (the next write probes); open with a probe out. */
  get phase(): 'closed' | 'pausing' | 'probe-due' | 'probing' {
    if (this.openUntil === 0) return 'closed';
    if (this.probing) return 'probing';
    return this.now() < this.openUntil ? 'pausing' : 'probe-due';
  }
}

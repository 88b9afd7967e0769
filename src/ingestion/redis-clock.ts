import { Injectable } from '@nestjs/common';

/**
 * Estimated offset between Redis' clock and ours, so the ingest script can be given a deadline
 * in Redis time. Fed by the backlog sampler (one TIME per sample, no extra round trips).
 */
@Injectable()
export class RedisClock {
  private offsetMs = 0;
  private bestRttMs = Number.POSITIVE_INFINITY;
  private updatedAt = 0;

  /** `redisMs` was read by a command sent at `sentAt` and answered at `answeredAt` (local ms). */
  observe(redisMs: number, sentAt: number, answeredAt: number): void {
    const rtt = answeredAt - sentAt;
    const offset = redisMs - (sentAt + answeredAt) / 2;
    // A sample taken while our event loop was busy is less precise (error ≤ rtt/2): keep a better
    // recent one, refresh at least every 30 s so slow drift is followed, and take any sample that
    // contradicts the estimate beyond both errors (a clock was stepped, e.g. by NTP).
    const contradicts = Math.abs(offset - this.offsetMs) > rtt / 2 + this.bestRttMs / 2 + 50;
    if (rtt > this.bestRttMs && answeredAt - this.updatedAt < 30_000 && !contradicts) return;
    this.offsetMs = offset;
    this.bestRttMs = Math.max(rtt, 1);
    this.updatedAt = answeredAt;
  }

  /** Forget the precision of the current estimate: the next sample is taken whatever its round trip. */
  distrust(): void {
    this.bestRttMs = Number.POSITIVE_INFINITY;
  }

  /** Redis' current time in ms, as far as we know. */
  redisNow(localNow = Date.now()): number {
    return Math.round(localNow + this.offsetMs);
  }
}

import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { PrismaService } from '../../prisma/prisma.service';
import { LAST_USED_FLUSH_INTERVAL_MS, LAST_USED_RESOLUTION_MS } from '../auth.constants';
import { describeDbError } from '../prisma-errors';

/**
 * Records `api_keys.last_used_at` off the request path: a request only touches a Map; a timer
 * writes all pending marks in one UPDATE. A key is marked at most once per minute per process,
 * and the UPDATE skips rows written less than a minute before, so PostgreSQL sees at most one
 * write per key per minute whatever the number of API processes. Losing a mark (PostgreSQL down,
 * crash) only makes `lastUsedAt` older; it never fails a request.
 */
@Injectable()
export class ApiKeyUsageRecorder implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('auth');
  /** apiKeyId → last time this process marked it. */
  private readonly marked = new Map<string, number>();
  /** apiKeyId → use time still to be written. */
  private pending = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(private readonly prisma: PrismaService) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), LAST_USED_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  mark(apiKeyId: string, now: number): void {
    const previous = this.marked.get(apiKeyId);
    if (previous !== undefined && now - previous < LAST_USED_RESOLUTION_MS) return;
    this.marked.set(apiKeyId, now);
    this.pending.set(apiKeyId, now);
  }

  /** Writes pending marks (one statement). Public so tests and shutdown need not wait for the timer. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(): Promise<void> {
    const now = Date.now();
    for (const [id, at] of this.marked) if (now - at >= LAST_USED_RESOLUTION_MS) this.marked.delete(id);
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ids = [...batch.keys()];
    const times = ids.map((id) => new Date(batch.get(id)!));
    try {
      await this.prisma.$executeRaw`
        UPDATE api_keys AS k SET last_used_at = u.used_at
        FROM unnest(${ids}::uuid[], ${times}::timestamptz[]) AS u(id, used_at)
        WHERE k.id = u.id
          AND (k.last_used_at IS NULL OR k.last_used_at <= u.used_at - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}))`;
    } catch (err) {
      this.logger.warn({ keys: ids.length, err: describeDbError(err) }, 'could not record API key use; skipped');
    }
  }
}

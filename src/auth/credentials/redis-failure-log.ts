import { Logger } from '@nestjs/common';

/** Logs a Redis read failure on the auth path at most once per interval (the path falls back to PostgreSQL). */
export class RateLimitedWarning {
  private lastAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs = 10_000,
  ) {}

  warn(err: unknown): void {
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) return;
    this.lastAt = now;
    this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, this.message);
  }
}

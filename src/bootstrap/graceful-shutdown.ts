import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

export const SHUTDOWN_DEADLINE_MS = 9_500;

/**
 * SIGTERM/SIGINT: stop accepting and finish in-flight requests first, then run Nest's shutdown
 * hooks (consumers drain in beforeApplicationShutdown, clients close in onApplicationShutdown),
 * then exit 0. We do not use app.enableShutdownHooks(): it closes modules before the HTTP
 * server stops (in-flight requests would meet closed clients) and re-raises the signal, so the
 * process never exits 0.
 */
export function installGracefulShutdown(app: NestFastifyApplication, logger = new Logger('shutdown')): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.log({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown deadline exceeded; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    try {
      // Nest would close HTTP only after the destroy hooks; stop accepting first instead.
      await app.getHttpAdapter().close();
      await app.close();
      logger.log('shutdown complete');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, (s) => void stop(s));
}

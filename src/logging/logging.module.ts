import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
import { AppConfig } from '../config/app-config';
import { REDACT_PATHS } from './redact-paths';
import { RequestLogHook } from './request-log.hook';
import { replicaId } from './replica-id';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The request id: the client's x-request-id when it is sane, otherwise a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        // The one pino configuration of the process: Nest's Logger, the worker's batch loggers
        // and RequestLogHook's request lines all write through it.
        const options = {
          level: config.LOG_LEVEL,
          base: { role: config.ROLE, replicaId: replicaId() },
          redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
        };
        return {
          pinoHttp:
            config.NODE_ENV === 'development'
              ? { ...options, transport: { target: 'pino-pretty', options: { singleLine: true } } }
              : // Asynchronous stdout: lines written while a write is in flight leave together instead
                // of one write syscall each. pino flushes it synchronously on exit; a SIGKILL can
                // lose the last few milliseconds of lines.
                [options, pino.destination({ dest: 1, sync: false })],
          // No per-request middleware. pino-http behind Nest's middleware layer (a child logger per
          // request, bound into AsyncLocalStorage, whose promise hooks then tax every promise of
          // the process) cost ~40 µs of the ~120 µs of CPU an ingest request took (measured with
          // the bench's API). Request lines come from RequestLogHook; error lines carry `reqId`.
          forRoutes: [],
          // Nest's Logger context becomes the `module` field on every line.
          renameContext: 'module',
        };
      },
    }),
  ],
  providers: [RequestLogHook],
})
export class LoggingModule {}

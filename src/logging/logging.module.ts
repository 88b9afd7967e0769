import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';
import { replicaId } from './replica-id';

/** Paths that never reach a log line: keys, tokens, passwords (redacted by pino, not by us). */
export const REDACT_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password',
  'passwordHash',
  '*.password',
  '*.passwordHash',
  '*.apiKey',
  '*.key',
  '*.token',
  '*.secret',
];

const QUIET_PATHS = /^\/(api\/(health|ready|live)|metrics)(\?|$)/;
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
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.LOG_LEVEL,
          base: { role: config.ROLE, replicaId: replicaId() },
          redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
          transport:
            config.NODE_ENV === 'development' ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
          // Fastify already assigned req.id from x-request-id (see bootstrap); reuse it.
          genReqId: (req: IncomingMessage & { id?: unknown }) => (typeof req.id === 'string' ? req.id : requestIdOf(req)),
          // `module` goes on the request's own log lines only: as a binding of the request logger
          // it would be repeated on every line a Nest Logger (which adds its context) writes.
          customSuccessObject: (_req: IncomingMessage, _res: unknown, val: object) => ({ ...val, module: 'http' }),
          customErrorObject: (_req: IncomingMessage, _res: unknown, _err: Error, val: object) => ({ ...val, module: 'http' }),
          // Behind Nest's middleware layer req.url is mount-relative; originalUrl is the full path.
          autoLogging: {
            ignore: (req: IncomingMessage & { originalUrl?: string }) => QUIET_PATHS.test(req.originalUrl ?? req.url ?? ''),
          },
          customLogLevel: (_req: IncomingMessage, res: { statusCode: number }, err?: Error) =>
            err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
          serializers: {
            req: (req: { id: string; method: string; url: string; headers: Record<string, unknown> }) => ({
              id: req.id,
              method: req.method,
              url: req.url,
              headers: req.headers,
            }),
          },
        },
        // Nest's Logger context becomes the `module` field on every line.
        renameContext: 'module',
      }),
    }),
  ],
})
export class LoggingModule {}

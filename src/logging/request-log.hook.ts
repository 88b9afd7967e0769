import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { REDACT_PATHS } from './redact-paths';

const REQUEST_LINE_REDACT_PATHS = REDACT_PATHS.filter((p) => p.startsWith('req.headers'));

/** Probes and scrapes: polled every few seconds, they would drown the request lines. */
const QUIET_PATHS = /^\/(api\/(health|ready|live)|metrics)(\?|$)/;

/**
 * Route option (`@RouteConfig({ successLogLevel: 'debug' })`, or `config` of a Fastify route): the level of the route's 2xx/3xx lines.
 * The ingestion POSTs use it: a line per accepted event request is most of the log volume (one line
 * per request at 10k+ requests/s) and ~12% of the API's CPU per request (measured, bench API), while
 * their counts and latencies are in /metrics; their 4xx/5xx lines stay warn/error.
 */
export interface RequestLogRouteConfig {
  successLogLevel?: 'debug' | 'info';
}

/**
 * One line per answered request (`module: "http"`), written from a Fastify onResponse hook with
 * the process' pino logger: request id, method, URL and headers (secrets redacted by pino with the
 * header paths of REDACT_PATHS), status and duration. Level by status: error for 5xx, warn for 4xx, info below
 * (or the route's `successLogLevel`).
 */
@Injectable()
export class RequestLogHook implements OnModuleInit {
  constructor(
    private readonly pino: PinoLogger,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    // No HTTP server (an application context, e.g. the CLI): nothing to log.
    if (!fastify || typeof fastify.addHook !== 'function') return;
    // Outside a request nestjs-pino hands out its root logger: the configured one. A request line
    // holds secrets only in its headers, so it is redacted by the header paths alone: the
    // wildcard paths (`*.password`, …) cost more than the rest of the line (~10 µs, measured).
    const logger = this.pino.logger.child({}, { redact: { paths: REQUEST_LINE_REDACT_PATHS, censor: '[REDACTED]' } });
    fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const status = reply.statusCode;
      const level =
        status >= 500 ? 'error' : status >= 400 ? 'warn' : ((request.routeOptions.config as RequestLogRouteConfig | undefined)?.successLogLevel ?? 'info');
      if (logger.isLevelEnabled(level) && !QUIET_PATHS.test(request.url)) {
        logger[level](
          {
            module: 'http',
            req: { id: request.id, method: request.method, url: request.url, headers: request.headers },
            res: { statusCode: status },
            responseTime: Math.round(reply.elapsedTime * 100) / 100,
          },
          status >= 500 ? 'request errored' : 'request completed',
        );
      }
      done();
    });
  }
}

import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Histogram } from 'prom-client';
import { MetricsRegistry } from './metrics-registry';

/** Long-lived responses whose duration says nothing about latency. */
export const UNTIMED_ROUTES = new Set(['/api/v1/metrics/live']);

/** Route label of a request no route matched (404): one series, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * HTTP request duration by method, route pattern and status, from a Fastify onResponse hook
 * (registered before the server is ready, so it covers every route, errors and 404s included).
 * The label is the route *pattern* (`/api/v1/analytics/users/:userId/events`), never the raw URL,
 * so the number of series stays bounded.
 */
@Injectable()
export class HttpMetrics implements OnModuleInit {
  readonly duration: Histogram<'method' | 'route' | 'status'>;

  constructor(
    metrics: MetricsRegistry,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    this.duration = new Histogram({
      name: 'eventproc_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [metrics.registry],
    });
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    // No HTTP server (an application context, e.g. the CLI): nothing to time.
    if (!fastify || typeof fastify.addHook !== 'function') return;
    fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const route = routeOf(request);
      if (!UNTIMED_ROUTES.has(route)) {
        this.duration.labels(request.method, route, String(reply.statusCode)).observe(reply.elapsedTime / 1000);
      }
      done();
    });
  }
}

/** The matched route pattern, or UNMATCHED_ROUTE. */
export function routeOf(request: Pick<FastifyRequest, 'routeOptions'>): string {
  const url = request.routeOptions?.url;
  return typeof url === 'string' && url !== '' ? url : UNMATCHED_ROUTE;
}

import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { MetricsRegistry } from './metrics-registry';

/**
 * GET /metrics in the Prometheus text format, on the API port and on a worker's HEALTH_PORT.
 * Unauthenticated on purpose, as is usual for scrape targets: it carries no event data, the
 * edge nginx refuses /metrics from outside, and in Kubernetes it is scraped on the pod network.
 */
@ApiTags('operations')
@Controller()
export class PrometheusController {
  constructor(private readonly metrics: MetricsRegistry) {}

  @Get('metrics')
  @ApiOperation({ summary: 'Prometheus scrape target (text exposition format, no authentication)' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const text = await this.metrics.text();
    void reply.type(this.metrics.contentType).header('cache-control', 'no-store');
    return text;
  }
}

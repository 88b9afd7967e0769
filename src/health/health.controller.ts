import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { DependencyHealthIndicators } from './dependency-health.indicators';
import { ReadinessService } from './readiness.service';

@Controller('api')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly dependencies: DependencyHealthIndicators,
    private readonly readiness: ReadinessService,
  ) {}

  /** Round trip to every dependency; 503 names the failing ones (terminus' shape, contract §6). */
  @Get('health')
  async check(@Res() reply: FastifyReply): Promise<void> {
    try {
      const result = await this.health.check(this.dependencies.all());
      void reply.status(200).send(result);
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      void reply.status(503).header('retry-after', '5').send(err.getResponse());
    }
  }

  @Get('ready')
  ready(@Res() reply: FastifyReply): void {
    const reasons = this.readiness.notReadyReasons();
    if (reasons.length === 0) {
      void reply.status(200).send({ ready: true });
    } else {
      void reply.status(503).header('retry-after', '1').send({ ready: false, waitingFor: reasons });
    }
  }

  @Get('live')
  live(): { live: true } {
    return { live: true };
  }
}

import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiKeyOrJwtGuard } from '../auth/guards/api-key-or-jwt.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import { Roles } from '../auth/decorators/roles.decorator';
import { SuccessEnvelope as Envelope } from '../common/http/error-codes';
import { IngestionStats, IngestionStatsService } from './ingestion-stats.service';

/**
 * Contract §4, the stats. The two ingestion POSTs are Fastify routes (IngestionRoutes): the hot
 * path skips Nest's router.
 */
@Controller('api/v1/events')
export class IngestionController {
  constructor(private readonly statsService: IngestionStatsService) {}

  /** The contract does not name the credential: like analytics and metrics, an API key or a JWT (VIEWER and up). */
  @Get('stats')
  @UseGuards(ApiKeyOrJwtGuard, RolesGuard)
  @Roles('VIEWER')
  async stats(): Promise<Envelope<IngestionStats>> {
    return { success: true, data: await this.statsService.stats() };
  }
}

import { Controller, Get, HttpCode, HttpStatus, Post, Req, Res, UseGuards } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyOrJwtGuard } from '../auth/guards/api-key-or-jwt.guard';
import { ApiKeyGuard } from '../auth/guards/api-key.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import { Roles } from '../auth/decorators/roles.decorator';
import type { RequestWithPrincipal } from '../auth/principal';
import { SuccessEnvelope as Envelope } from '../common/http/error-codes';
import type { RequestLogRouteConfig } from '../logging/request-log.hook';
import { AdmissionRouteConfig } from './admission-gate';
import { IngestionStats, IngestionStatsService } from './ingestion-stats.service';
import { BatchResult, IngestionService, SingleResult } from './ingestion.service';
import { MAX_SINGLE_BODY_BYTES } from './schemas/event.schema';

type IngestRequest = FastifyRequest & RequestWithPrincipal;

/**
 * Accepted event requests are logged at debug, not info (RequestLogHook): one line per event
 * request would be most of the log volume and ~12% of a request's CPU; /metrics counts them.
 */
const QUIET_SUCCESS: RequestLogRouteConfig = { successLogLevel: 'debug' };

/**
 * Contract §4. Bodies are read from the raw request, not through @Body(): the hot path skips
 * Nest's pipes and class-transformer; the compiled JSON Schema in EventValidator is the validation.
 */
@Controller('api/v1/events')
export class IngestionController {
  constructor(
    private readonly ingestion: IngestionService,
    private readonly statsService: IngestionStatsService,
  ) {}

  /** 202 accepted, 200 for a duplicate eventId; 413 for an event over 32 KiB as stored (or a body over 192 KiB). */
  @Post()
  @UseGuards(ApiKeyGuard)
  @HttpCode(HttpStatus.ACCEPTED)
  @RouteConfig({ bodyLimit: MAX_SINGLE_BODY_BYTES, ...QUIET_SUCCESS })
  async ingestOne(@Req() req: IngestRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<Envelope<SingleResult>> {
    const data = await this.ingestion.ingestOne(req.body, { apiKeyId: req.principal?.apiKeyId ?? null, receivedAt: Date.now() });
    if (data.duplicate) void reply.status(HttpStatus.OK);
    return { success: true, data };
  }

  @Post('batch')
  @UseGuards(ApiKeyGuard)
  @HttpCode(HttpStatus.ACCEPTED)
  @RouteConfig({ ...QUIET_SUCCESS, admission: true } satisfies RequestLogRouteConfig & AdmissionRouteConfig)
  async ingestBatch(@Req() req: IngestRequest): Promise<Envelope<BatchResult>> {
    const data = await this.ingestion.ingestBatch(req.body, { apiKeyId: req.principal?.apiKeyId ?? null, receivedAt: Date.now() });
    return { success: true, data };
  }

  /** The contract does not name the credential: like analytics and metrics, an API key or a JWT (VIEWER and up). */
  @Get('stats')
  @UseGuards(ApiKeyOrJwtGuard, RolesGuard)
  @Roles('VIEWER')
  async stats(): Promise<Envelope<IngestionStats>> {
    return { success: true, data: await this.statsService.stats() };
  }
}

import { Controller, Get, Param, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Roles } from '../auth/decorators/roles.decorator';
import { ApiKeyOrJwtGuard } from '../auth/guards/api-key-or-jwt.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import { SuccessEnvelope as Envelope } from '../common/http/error-codes';
import { MetricsResult, TimePoint, AnalyticsService } from './analytics.service';
import { MetricsQueryDto, TimeseriesQueryDto, UserEventsQueryDto } from './dto/analytics-query.dto';
import { RawQuery, StrictQueryPipe } from './dto/strict-query';
import { UserEventView } from './user-events.reader';

/** Header telling whether an answer came from the 10 s cache (HIT) or was computed (MISS). */
export const CACHE_HEADER = 'x-analytics-cache';

/** Contract §6. A JWT (VIEWER or above) or an API key; never anonymous. */
@Controller('api/v1/analytics')
@UseGuards(ApiKeyOrJwtGuard, RolesGuard)
@Roles('VIEWER')
export class AnalyticsController {
  constructor(private readonly analytics: AnalyticsService) {}

  @Get('metrics')
  async metrics(
    @RawQuery(new StrictQueryPipe(MetricsQueryDto)) query: MetricsQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Envelope<MetricsResult>> {
    const { value, hit } = await this.analytics.metrics(query);
    void reply.header(CACHE_HEADER, hit ? 'HIT' : 'MISS');
    return { success: true, data: value };
  }

  @Get('timeseries')
  async timeseries(
    @RawQuery(new StrictQueryPipe(TimeseriesQueryDto)) query: TimeseriesQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Envelope<TimePoint[]>> {
    const { value, hit } = await this.analytics.timeseries(query);
    void reply.header(CACHE_HEADER, hit ? 'HIT' : 'MISS');
    return { success: true, data: value };
  }

  @Get('users/:userId/events')
  async userEvents(
    @Param('userId') userId: string,
    @RawQuery(new StrictQueryPipe(UserEventsQueryDto)) query: UserEventsQueryDto,
  ): Promise<Envelope<{ userId: string; events: UserEventView[]; nextCursor: string | null }>> {
    return { success: true, data: await this.analytics.userEventsPage(userId, query) };
  }
}

import { Controller, Get, Sse, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Observable } from 'rxjs';
import { Roles } from '../auth/decorators/roles.decorator';
import { ApiKeyOrJwtGuard } from '../auth/guards/api-key-or-jwt.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import { LiveMetricsHub, SseMessage } from './live-metrics.hub';
import { MetricsSnapshot, MetricsSnapshotService } from './metrics-snapshot.service';

/** Contract §6: a JWT (VIEWER or above) or an API key. */
@ApiTags('metrics')
@Controller('api/v1/metrics')
@UseGuards(ApiKeyOrJwtGuard, RolesGuard)
@Roles('VIEWER')
export class MetricsController {
  constructor(
    private readonly snapshots: MetricsSnapshotService,
    private readonly hub: LiveMetricsHub,
  ) {}

  @Get()
  @ApiOperation({ summary: "This process's Prometheus metrics as JSON, plus the sampled stream view (lengths, lag, DLQ size, rates)" })
  async json(): Promise<{ success: true; data: MetricsSnapshot }> {
    return { success: true, data: await this.snapshots.snapshot() };
  }

  /**
   * Server-sent events, one a second: ingest rate, process rate, backlog, DLQ size. Browsers read
   * it with fetch() and an Authorization header (EventSource cannot send one; a token never goes
   * in the URL). Streams end after 10 minutes; clients reconnect.
   */
  @Sse('live')
  @ApiOperation({ summary: 'Live metrics as server-sent events, one message a second (JSON in `data:`)' })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'text/event-stream; each `data:` line is a LiveMetricsMessage', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  live(): Observable<SseMessage> {
    return this.hub.stream();
  }
}

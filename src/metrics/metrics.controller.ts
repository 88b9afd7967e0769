import { Controller, Get, Req, Sse, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { IncomingHttpHeaders } from 'node:http';
import { catchError, exhaustMap, filter, from, interval, Observable, of, take, takeUntil } from 'rxjs';
import { ApiError } from '../common/http/api-error';
import { Roles } from '../auth/decorators/roles.decorator';
import { ApiKeyOrJwtGuard } from '../auth/guards/api-key-or-jwt.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import { LIVE_INTERVAL_MS, LiveMetricsHub, SseMessage } from './live-metrics.hub';
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
    private readonly credentials: ApiKeyOrJwtGuard,
  ) {}

  @Get()
  @ApiOperation({ summary: "This process's Prometheus metrics as JSON, plus the sampled stream view (lengths, lag, DLQ size, rates)" })
  async json(): Promise<{ success: true; data: MetricsSnapshot }> {
    return { success: true, data: await this.snapshots.snapshot() };
  }

  /**
   * Server-sent events, one a second: ingest rate, process rate, backlog, DLQ size. Browsers read
   * it with fetch() and an Authorization header (EventSource cannot send one; a token never goes
   * in the URL). Streams end after 10 minutes; clients reconnect. The credential is checked again
   * every tick (a local cache hit, mostly): a stream ends within a second or two of its key being
   * revoked, its user disabled or its token expiring, not 10 minutes later. A check that cannot be
   * made (Redis and PostgreSQL down) does not end it.
   */
  @Sse('live')
  @ApiOperation({ summary: 'Live metrics as server-sent events, one message a second (JSON in `data:`)' })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'text/event-stream; each `data:` line is a LiveMetricsMessage', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  live(@Req() req: { headers: IncomingHttpHeaders }): Observable<SseMessage> {
    const revoked = interval(LIVE_INTERVAL_MS).pipe(
      exhaustMap(() => from(this.stillAuthorized(req.headers)).pipe(catchError(() => of(true)))),
      filter((ok) => !ok),
      take(1),
    );
    return this.hub.stream().pipe(takeUntil(revoked));
  }

  /**
   * The guard's check again (the role is not: every role may read metrics). Its 401 means no
   * longer valid; anything else (a dependency down) is thrown and leaves the stream open.
   */
  private async stillAuthorized(headers: IncomingHttpHeaders): Promise<boolean> {
    try {
      await this.credentials.principalOf(headers);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.getStatus() === 401) return false;
      throw err;
    }
  }
}

import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { RedisConnections } from '../redis/redis-connections';
import { AdmissionGate } from './admission-gate';
import { BacklogGauge, BacklogMonitor } from './backlog-monitor';
import { EventAppender, RedisEventAppender } from './event-appender';
import { EventValidator } from './event-validator';
import { IngestionStatsService } from './ingestion-stats.service';
import { IngestionController } from './ingestion.controller';
import { IngestionService } from './ingestion.service';
import { IngestionRoutes } from './ingestion.routes';
import { INGEST_REDIS } from './ingestion.tokens';
import { RedisClock } from './redis-clock';

/** POST /api/v1/events, /events/batch, GET /events/stats (ROLE=api and all). */
@Module({
  imports: [AuthModule],
  controllers: [IngestionController],
  providers: [
    {
      provide: INGEST_REDIS,
      inject: [RedisConnections],
      useFactory: (connections: RedisConnections) => connections.connect('ingest', { enableAutoPipelining: true }),
    },
    RedisClock,
    AdmissionGate,
    EventValidator,
    BacklogMonitor,
    { provide: BacklogGauge, useExisting: BacklogMonitor },
    { provide: EventAppender, useClass: RedisEventAppender },
    IngestionService,
    IngestionStatsService,
    IngestionRoutes,
  ],
})
export class IngestionModule {}

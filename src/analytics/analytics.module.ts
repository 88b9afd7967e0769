import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { AnalyticsCache } from './analytics-cache';
import { AnalyticsController } from './analytics.controller';
import { AnalyticsService } from './analytics.service';
import { RollupReader } from './rollup.reader';
import { UserEventsReader } from './user-events.reader';

/**
 * Dashboard queries (API role). The rollups they read are written by the worker through
 * RollupsModule (src/analytics/rollups), in the same flush as the raw events.
 */
@Module({
  imports: [AuthModule],
  controllers: [AnalyticsController],
  providers: [AnalyticsService, AnalyticsCache, RollupReader, UserEventsReader],
})
export class AnalyticsModule {}

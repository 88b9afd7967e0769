import { DynamicModule, Module } from '@nestjs/common';
import { AnalyticsModule } from './analytics/analytics.module';
import { AuthModule } from './auth/auth.module';
import { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/app-config.module';
import { AppRole } from './config/app-role';
import { DashboardModule } from './dashboard/dashboard.module';
import { DlqModule } from './dlq/dlq.module';
import { HealthModule } from './health/health.module';
import { IngestionModule } from './ingestion/ingestion.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { MongoShardsModule } from './mongo/mongo-shards.module';
import { PrismaModule } from './prisma/prisma.module';
import { ProcessingModule } from './processing/processing.module';
import { RedisModule } from './redis/redis.module';

/** Infrastructure and health: every role has these. */
const commonImports = (config: AppConfig) => [
  AppConfigModule.forRoot(config),
  LoggingModule,
  RedisModule,
  MongoShardsModule.forRoot(config.mongoShardUris),
  HealthModule,
  MetricsModule.forRoot(config),
];

/** HTTP features (ROLE=api). PostgreSQL is only needed here: users and API keys. */
const apiImports = [PrismaModule, AuthModule, IngestionModule, AnalyticsModule, DlqModule, DashboardModule];

/** Stream consumers (ROLE=worker). */
const workerImports = [ProcessingModule];

@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ApiModule, imports: [...commonImports(config), ...apiImports] };
  }
}

@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: WorkerModule, imports: [...commonImports(config), ...workerImports] };
  }
}

@Module({})
export class AllModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: AllModule, imports: [...commonImports(config), ...apiImports, ...workerImports] };
  }
}

const ROLE_MODULES: Record<AppRole, { forRoot(config: AppConfig): DynamicModule }> = {
  api: ApiModule,
  worker: WorkerModule,
  all: AllModule,
};

export const appModuleFor = (config: AppConfig): DynamicModule => ROLE_MODULES[config.ROLE].forRoot(config);

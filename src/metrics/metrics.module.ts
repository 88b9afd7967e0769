import { DynamicModule, Global, Module, Provider, Type } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { AppConfig } from '../config/app-config';
import { DlqStoreModule } from '../dlq/dlq-store.module';
import { ProcessingModule } from '../processing/processing.module';
import { HttpMetrics } from './http-metrics';
import { PromIngestionMetrics } from './ingestion-metrics';
import { LiveMetricsHub } from './live-metrics.hub';
import { MetricsRegistry } from './metrics-registry';
import { MetricsSnapshotService } from './metrics-snapshot.service';
import { MetricsController } from './metrics.controller';
import { BatchWriteMetrics, IngestionMetrics } from './metrics.ports';
import { PromProcessingMetrics } from './processing-metrics';
import { PrometheusController } from './prometheus.controller';
import { StreamStatsSampler } from './stream-stats.sampler';

/**
 * Prometheus metrics for every role (`GET /metrics`: the API port, or HEALTH_PORT for a worker),
 * and for the API roles `GET /api/v1/metrics` (JSON) and `/api/v1/metrics/live` (SSE).
 * Global so that ingestion and processing can inject the small ports of metrics.ports.ts.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const api = config.ROLE !== 'worker';
    const worker = config.ROLE !== 'api';
    const imports: DynamicModule['imports'] = [DlqStoreModule];
    const controllers: Type[] = [PrometheusController];
    const providers: Provider[] = [MetricsRegistry, HttpMetrics, StreamStatsSampler, MetricsSnapshotService];
    const exports: NonNullable<DynamicModule['exports']> = [MetricsRegistry];
    if (api) {
      imports.push(AuthModule);
      controllers.push(MetricsController);
      providers.push(LiveMetricsHub, PromIngestionMetrics, { provide: IngestionMetrics, useExisting: PromIngestionMetrics });
      exports.push(IngestionMetrics);
    }
    if (worker) {
      // Already in this role's graph (WorkerModule/AllModule): importing it here only gives access to WorkerMetrics.
      imports.push(ProcessingModule);
      providers.push(PromProcessingMetrics, { provide: BatchWriteMetrics, useExisting: PromProcessingMetrics });
      exports.push(BatchWriteMetrics);
    }
    return { module: MetricsModule, imports, controllers, providers, exports };
  }
}

import { Module } from '@nestjs/common';
import { RollupsModule } from '../analytics/rollups/rollups.module';
import { AppConfig } from '../config/app-config';
import { DlqStoreModule } from '../dlq/dlq-store.module';
import { BatchProcessor } from './batch-processor';
import { EventWriter } from './storage/event-writer';
import { StreamWorker } from './stream-worker.service';
import { ConsumerGroup } from './stream/consumer-group';
import { WorkerMetrics } from './worker-metrics';
import { WorkerSettings } from './worker-settings';

/**
 * The stream worker (ROLE=worker/all): Redis stream → sharded MongoDB, exactly once per eventId,
 * with retries, dead-letter queue, reclaim and trimming. RollupWriter (called once per written
 * batch with the newly inserted documents) comes from the analytics RollupsModule.
 */
@Module({
  imports: [RollupsModule, DlqStoreModule],
  providers: [
    { provide: WorkerSettings, inject: [AppConfig], useFactory: (config: AppConfig) => WorkerSettings.fromConfig(config) },
    WorkerMetrics,
    ConsumerGroup,
    EventWriter,
    BatchProcessor,
    StreamWorker,
  ],
  exports: [WorkerMetrics],
})
export class ProcessingModule {}

import { Module } from '@nestjs/common';
import { DlqRepository } from './dlq.repository';

/** The dead-letter collection, shared by the worker (writes) and the DLQ endpoints (reads). */
@Module({
  providers: [DlqRepository],
  exports: [DlqRepository],
})
export class DlqStoreModule {}

import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { DlqStoreModule } from './dlq-store.module';
import { DlqController } from './dlq.controller';
import { DlqService } from './dlq.service';

/** DLQ endpoints (ROLE=api/all). The worker writes the same collection via DlqStoreModule. */
@Module({
  imports: [AuthModule, DlqStoreModule],
  controllers: [DlqController],
  providers: [DlqService],
})
export class DlqModule {}

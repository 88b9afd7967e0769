import { Module } from '@nestjs/common';
import { RollupWriter } from '../../processing/rollup-writer';
import { RedisRollupWriter } from './redis-rollup.writer';

/**
 * Provides the RollupWriter port to the worker (ProcessingModule imports this module and calls
 * `apply(shard, inserted)` once per flush with the newly inserted documents of that shard).
 * Redis and RedisKeys come from the global RedisModule.
 */
@Module({
  providers: [{ provide: RollupWriter, useClass: RedisRollupWriter }],
  exports: [RollupWriter],
})
export class RollupsModule {}

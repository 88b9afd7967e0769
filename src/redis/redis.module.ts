import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RedisConnections } from './redis-connections';
import { RedisKeys } from './redis-keys';
import { REDIS_CLIENT } from './redis.tokens';

@Global()
@Module({
  providers: [
    RedisConnections,
    {
      provide: RedisKeys,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new RedisKeys(config.STREAM_KEY, config.STREAM_PARTITIONS),
    },
    {
      provide: REDIS_CLIENT,
      inject: [RedisConnections],
      useFactory: (connections: RedisConnections) => connections.connect('commands'),
    },
  ],
  exports: [RedisConnections, RedisKeys, REDIS_CLIENT],
})
export class RedisModule {}

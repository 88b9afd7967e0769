import { DynamicModule, Global, Module } from '@nestjs/common';
import { getConnectionToken, MongooseModule } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { MongoShards, shardName } from './mongo-shards';
import { ShardRouter } from './shard-router';

/**
 * One named Mongoose connection per shard URI (never the global mongoose.connect). The URIs are
 * known before the graph is built (main.ts validates config first), so each shard gets its own
 * MongooseModule.forRootAsync; connection failures abort boot instead of retrying for minutes.
 */
@Global()
@Module({})
export class MongoShardsModule {
  static forRoot(uris: string[]): DynamicModule {
    const names = uris.map((_, i) => shardName(i));
    return {
      module: MongoShardsModule,
      imports: uris.map((uri, i) =>
        MongooseModule.forRootAsync({
          connectionName: names[i],
          useFactory: () => ({
            uri,
            retryAttempts: 1,
            serverSelectionTimeoutMS: 5_000,
            connectTimeoutMS: 5_000,
            // Fail operations at once while a shard is down: the worker retries and keeps
            // entries pending, the API answers 503. Buffering would only hide the outage.
            bufferCommands: false,
            maxPoolSize: 20,
            autoIndex: false,
          }),
        }),
      ),
      providers: [
        {
          provide: MongoShards,
          inject: names.map((n) => getConnectionToken(n)),
          useFactory: (...connections: Connection[]) => new MongoShards(connections),
        },
        ShardRouter,
      ],
      exports: [MongoShards, ShardRouter],
    };
  }
}

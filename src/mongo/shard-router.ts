import { Injectable } from '@nestjs/common';
import { stableBucket } from '../common/hashing/stable-hash';
import { MongoShards, Shard } from './mongo-shards';

/**
 * Maps a userId to the shard that owns all of that user's events. The mapping is
 * `stableBucket(userId, shardCount)` (see stable-hash.ts): the same in every process and after
 * restarts, uniform, and moving only ~1/N of users when a shard is added.
 */
@Injectable()
export class ShardRouter {
  constructor(private readonly shards: MongoShards) {}

  indexFor(userId: string): number {
    return stableBucket(userId, this.shards.count);
  }

  shardFor(userId: string): Shard {
    return this.shards.get(this.indexFor(userId));
  }
}

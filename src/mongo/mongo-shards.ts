import type { Connection } from 'mongoose';

export const shardName = (index: number): string => `mongo-shard-${index}`;

export interface Shard {
  index: number;
  /** `mongo-shard-<index>`: the Mongoose connection name and the health-check key. */
  name: string;
  connection: Connection;
}

/** The named Mongoose connections, one per URI of MONGO_SHARD_URIS, in configuration order. */
export class MongoShards {
  readonly all: readonly Shard[];

  constructor(connections: Connection[]) {
    this.all = connections.map((connection, index) => ({ index, name: shardName(index), connection }));
  }

  get count(): number {
    return this.all.length;
  }

  get(index: number): Shard {
    const shard = this.all[index];
    if (!shard) throw new RangeError(`no shard ${index} (have ${this.count})`);
    return shard;
  }
}

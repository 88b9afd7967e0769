import type { Shard } from '../mongo/mongo-shards';
import type { StoredEventDocument } from '../events/event.types';

/**
 * Port the worker calls in the same flush as the raw write, with only the events that were
 * newly inserted on `shard` (never the duplicate-key ones), so a redelivered batch cannot
 * double-count. Implemented by the analytics rollups; a no-op until they exist.
 */
export abstract class RollupWriter {
  abstract apply(shard: Shard, inserted: StoredEventDocument[]): Promise<void>;
}

'use strict';
// Documents exactly as the worker stores them: dist's toStoredDocument (StoredEventDocument
// shape, field-name storage form) routed with dist's stableBucket (the ShardRouter's mapping),
// and the worker's index definitions.
require('reflect-metadata');
const path = require('node:path');

const dist = (p) => require(path.join(__dirname, '..', '..', 'dist', p));

const { toStoredDocument } = dist('processing/storage/event-document.js');
const { stableBucket } = dist('common/hashing/stable-hash.js');
const { EVENT_INDEXES } = dist('processing/stream-worker.service.js');
const { EVENTS_COLLECTION } = dist('events/event.types.js');

/** Worker-shaped documents of `count` fresh events, grouped per shard. */
function documentsPerShard({ gen, count, shards, apiKeyId, timestampOf }) {
  const perShard = Array.from({ length: shards }, () => []);
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const event = gen.eventAt(timestampOf ? timestampOf(i) : now - Math.floor(Math.random() * 300_000));
    const doc = toStoredDocument({ event, apiKeyId, receivedAt: now }, new Date(now));
    perShard[stableBucket(doc.userId, shards)].push(doc);
  }
  return perShard;
}

async function ensureEventIndexes(collection) {
  await collection.createIndexes(EVENT_INDEXES.map((i) => ({ key: { ...i.key }, name: i.name })));
}

function chunk(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

module.exports = { documentsPerShard, ensureEventIndexes, chunk, stableBucket, EVENTS_COLLECTION, dist };

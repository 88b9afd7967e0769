'use strict';
// The product's own append path without HTTP: EventValidator.prepare + RedisEventAppender (the
// atomic dedup + XADD Lua script) from dist/, on an ioredis connection with the API's options.
// Used to pre-fill the stream for the drain steps, and to measure what Redis does with the
// ingest script when no HTTP server stands in front of it.
const path = require('node:path');
const Redis = require('ioredis');

const dist = (p) => require(path.join(__dirname, '..', '..', 'dist', p));

async function createDirectIngest(env) {
  const { EventValidator } = dist('ingestion/event-validator.js');
  const { RedisEventAppender } = dist('ingestion/event-appender.js');
  const { RedisClock } = dist('ingestion/redis-clock.js');
  const { RedisKeys } = dist('redis/redis-keys.js');
  // The API's ingest connection: auto-pipelining, no offline queue.
  const redis = new Redis(env.redisUrl, { enableAutoPipelining: true, enableOfflineQueue: false, lazyConnect: true, commandTimeout: 10_000 });
  await redis.connect();
  const validator = new EventValidator();
  const appender = new RedisEventAppender(redis, new RedisKeys(env.streamKey, 1), { DEDUP_TTL_SECONDS: 600 }, new RedisClock());

  /** Appends one batch body's events (JSON text, as the API would receive it). */
  async function appendBatch(bodyText) {
    const ctx = { apiKeyId: env.apiKeyId, receivedAt: Date.now() };
    const { events } = JSON.parse(bodyText);
    const prepared = [];
    for (const e of events) {
      const p = validator.prepare(e, ctx);
      if (p.ok) prepared.push(p);
    }
    const { statuses, failure } = await appender.append(prepared, events.length - prepared.length, ctx);
    if (failure) throw failure;
    let accepted = 0;
    for (const s of statuses) if (s === 'accepted') accepted++;
    return { accepted, duplicates: statuses.length - accepted };
  }

  /**
   * Keeps `concurrency` batches in flight until `total` events were sent or `seconds` passed.
   * @returns {{events: number, accepted: number, duplicates: number, seconds: number}}
   */
  async function fill({ gen, total = Infinity, seconds = Infinity, batchSize = 100, concurrency = 16, onProgress }) {
    let sent = 0;
    let accepted = 0;
    let duplicates = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let lastReport = started;
    const lane = async () => {
      while (sent < total && performance.now() < deadline) {
        const n = Math.min(batchSize, total - sent);
        sent += n;
        const r = await appendBatch(gen.batch(n));
        accepted += r.accepted;
        duplicates += r.duplicates;
        if (onProgress && performance.now() - lastReport > 2000) {
          lastReport = performance.now();
          onProgress({ sent, accepted, seconds: (lastReport - started) / 1000 });
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    return { events: sent, accepted, duplicates, seconds: (performance.now() - started) / 1000 };
  }

  return { fill, appendBatch, close: () => redis.quit().catch(() => redis.disconnect()) };
}

module.exports = { createDirectIngest };

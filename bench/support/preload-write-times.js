'use strict';
// Bench only (`node -r bench/support/preload-write-times.js dist/main.js`, lag scenario): the same
// worker, with EventWriter.write wrapped to note when each shard write was acknowledged by the
// database — the moment its documents became visible. One line per batch is appended to
// BENCH_WRITE_LOG: `<shard> <processedAt ms> <write acknowledged ms> <documents>`. The bench
// joins it to the stored documents by (shard, processedAt), which the worker sets per batch.
const fs = require('node:fs');
const path = require('node:path');
const { EventWriter } = require(path.join(__dirname, '..', '..', 'dist', 'processing', 'storage', 'event-writer.js'));

const file = process.env.BENCH_WRITE_LOG;
const original = EventWriter.prototype.write;
EventWriter.prototype.write = async function writeAndNote(shard, docs) {
  const result = await original.call(this, shard, docs);
  if (file && docs.length > 0) {
    fs.appendFileSync(file, `${shard.index} ${docs[0].processedAt.getTime()} ${Date.now()} ${docs.length}\n`);
  }
  return result;
};

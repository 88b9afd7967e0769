'use strict';
// Bench only (`node -r bench/support/preload-no-rollups.js dist/main.js`): the same worker
// process with the analytics rollup write replaced by a no-op, to price the rollups (analytics
// issue: drain rate with rollups vs without, ratio >= 0.8). The product has no switch to turn
// rollups off; this replaces RedisRollupWriter.apply in memory before main.js builds the app.
const path = require('node:path');
const { RedisRollupWriter } = require(path.join(__dirname, '..', '..', 'dist', 'analytics', 'rollups', 'redis-rollup.writer.js'));

RedisRollupWriter.prototype.apply = async function applyNothing() {};

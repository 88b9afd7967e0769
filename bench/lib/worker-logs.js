'use strict';
// Counts the worker log lines that explain a slow or stalled drain (the worker logs JSON lines
// with a `msg`): deferred batches, background index retries, read failures, dead letters.
const fs = require('node:fs');

const WATCHED = {
  'transient storage failure; entries left pending for a later retry': 'deferredBatches',
  'could not ensure indexes yet; retrying in the background': 'indexRetries',
  'stream read failed; retrying': 'readFailures',
  'entry dead-lettered': 'deadLettered',
  'batch failed unexpectedly; entries left pending': 'batchFailures',
  'rollup update failed; raw events stored, rollups short': 'rollupFailures',
};

function workerLogIssues(files) {
  const counts = {};
  let total = 0;
  for (const file of files) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /"msg":"([^"]*)"/.exec(line);
      const key = m && WATCHED[m[1]];
      if (key) {
        counts[key] = (counts[key] ?? 0) + 1;
        total++;
      }
    }
  }
  return { counts, total };
}

module.exports = { workerLogIssues };

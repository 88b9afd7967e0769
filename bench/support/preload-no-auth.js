'use strict';
// Bench only (`node -r bench/support/preload-no-auth.js dist/main.js`): the same API process with
// the API key check taken out, to price authentication (auth issue: ingestion with a cached key
// vs the same request without auth, ratio >= 0.9). The product has no switch for this, on
// purpose; this replaces ApiKeyGuard.authenticate (the check behind its canActivate, and what the
// ingestion routes call) in memory before main.js builds the app, and puts the principal the real
// check would put on the request (the bench key's owner).
const path = require('node:path');
const { ApiKeyGuard } = require(path.join(__dirname, '..', '..', 'dist', 'auth', 'guards', 'api-key.guard.js'));

const principal = JSON.parse(process.env.BENCH_PRINCIPAL ?? '{}');
ApiKeyGuard.prototype.authenticate = function authenticateWithoutAuth(request) {
  request.principal = principal;
  return Promise.resolve(principal);
};

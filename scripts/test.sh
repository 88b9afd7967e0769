#!/usr/bin/env bash
# `npm test`: the whole suite against real services. Brings the services up (idempotent),
# migrates the test database, builds dist/ (process-level tests run `node dist/main.js`),
# then runs unit, integration and e2e tests. Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
bash scripts/services.sh up
export EVP_SERVICES_READY=1
npm run --silent build
npx tsc -p test/tsconfig.json
# Integration and e2e tests share real services and spawn processes: one file at a time.
mkdir -p .local
status=0
# --forceExit: a library timer left behind by one suite must not hang CI after the results are in.
npx jest --runInBand --forceExit --json --outputFile=.local/jest-results.json "$@" || status=$?
# One plain closing line that CI tools read: "jest: N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync(".local/jest-results.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"

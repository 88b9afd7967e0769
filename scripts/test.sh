#!/usr/bin/env bash
# `npm test`: the whole suite against real services. Brings the services up (idempotent),
# migrates the test database, builds dist/ (process-level tests run `node dist/main.js`),
# then runs unit, integration and e2e tests. Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh up
export EVP_SERVICES_READY=1
node scripts/prisma-generate.js >/dev/null
npm run --silent build
npx tsc -p test/tsconfig.json
# Integration and e2e tests share real services and spawn processes: one file at a time.
npx jest --runInBand "$@"

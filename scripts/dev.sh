#!/usr/bin/env bash
# `npm run dev`: the whole system locally in one command — dependencies, services (Redis,
# PostgreSQL, three FerretDB shards), migrations, build, a first admin + API key (printed once,
# only when no admin exists), then one ROLE=all process on PORT (default 3001).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
bash scripts/services.sh up
node scripts/db-migrate.js
npm run --silent build
node dist/cli/cli.js bootstrap-admin
echo "starting ROLE=${ROLE:-all} on port ${PORT:-3001} (Ctrl-C stops it; npm run services:down stops the services)"
ROLE="${ROLE:-all}" exec node dist/main.js

#!/usr/bin/env bash
# Installs node_modules (npm ci) when missing or older than package-lock.json, and generates the
# Prisma client when missing. Sourced by dev.sh and test.sh so a fresh clone needs no extra step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund
fi
if [ ! -f src/generated/prisma/client.ts ] || [ prisma/schema.prisma -nt src/generated/prisma/client.ts ]; then
  node scripts/prisma-generate.js >/dev/null
fi

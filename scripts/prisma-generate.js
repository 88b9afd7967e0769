#!/usr/bin/env node
// `prisma generate` for the `prisma-client` generator needs no engine, but the CLI insists on
// locating a schema engine binary and would try to download one (no network here). Point it at
// any existing file unless the caller configured a real one.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
const root = path.join(__dirname, '..');
execFileSync(path.join(root, 'node_modules', '.bin', 'prisma'), ['generate', '--config', 'prisma/prisma.config.ts'], {
  cwd: root,
  env,
  stdio: 'inherit',
});

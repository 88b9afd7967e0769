'use strict';
// Where the shared local services are and which parts of them the fault suite may use.
// Defaults match `npm run services:up`; FAULTS_* variables override them.
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS_DIR = path.join(REPO_ROOT, 'test', 'faults', 'results');

const REDIS_BASE = (process.env.FAULTS_REDIS_URL || 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');
// PostgreSQL server (trust auth locally); the suite uses only databases it names itself.
const pgServer = new URL(process.env.FAULTS_PG_URL || 'postgresql://postgres@127.0.0.1:5432');
pgServer.pathname = '';
const PG_BASE = pgServer.toString().replace(/\/$/, '');
/** URL of database `db` on the suite's PostgreSQL server. */
const pgUrl = (db) => `${PG_BASE}/${db}`;
const MONGO_HOSTS = (process.env.FAULTS_MONGO_HOSTS || '127.0.0.1:27017,127.0.0.1:27018,127.0.0.1:27019').split(',');

module.exports = {
  REPO_ROOT,
  RESULTS_DIR,
  MAIN_JS: path.join(REPO_ROOT, 'dist', 'main.js'),
  CLI_JS: path.join(REPO_ROOT, 'dist', 'cli', 'cli.js'),
  REDIS_BASE,
  /** Logical Redis databases reserved for this suite (one per scenario, flushed before use). */
  REDIS_DBS: [13, 14, 15],
  PG_BASE,
  pgUrl,
  /** Users and API keys of the suite's processes (migrated by the runner). */
  FAULTS_DATABASE: 'event_processor_faults',
  /** PostgreSQL database behind the suite's private FerretDB shard. */
  PRIVATE_FERRETDB_DATABASE: 'ferretdb_faults_private',
  MONGO_HOSTS,
  /** A JWT secret for the suite's processes only (NODE_ENV=production requires one). */
  JWT_SECRET: 'faults-suite-jwt-secret-0123456789abcdefghij',
};

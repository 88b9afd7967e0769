import { randomBytes } from 'node:crypto';

/**
 * Environment for a test process or app. Each test file gets its own Redis database number,
 * stream key and Mongo database name, so files never see each other's data.
 *
 * Defaults match `npm run services:up`; override with TEST_REDIS_URL / TEST_DATABASE_URL /
 * TEST_MONGO_HOSTS (comma-separated host:port list).
 */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/event_processor_test';
export const TEST_REDIS_BASE = (process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');
export const TEST_MONGO_HOSTS = (process.env.TEST_MONGO_HOSTS ?? '127.0.0.1:27017,127.0.0.1:27018,127.0.0.1:27019').split(',');

export const uniqueSuffix = (): string => randomBytes(4).toString('hex');

export const mongoUris = (dbName: string, hosts: string[] = TEST_MONGO_HOSTS): string =>
  hosts.map((h) => `mongodb://${h}/${dbName}`).join(',');

export interface TestEnvOptions {
  /** Redis logical database (1–15); pick one per test file. */
  redisDb: number;
  overrides?: Record<string, string | undefined>;
}

export function testEnv({ redisDb, overrides = {} }: TestEnvOptions): Record<string, string> {
  const suffix = uniqueSuffix();
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    ENV_FILE: '/nonexistent/.env',
    ROLE: 'all',
    PORT: '0',
    HEALTH_PORT: '0',
    REDIS_URL: `${TEST_REDIS_BASE}/${redisDb}`,
    DATABASE_URL: TEST_DATABASE_URL,
    MONGO_SHARD_URIS: mongoUris(`evp_test_${suffix}`),
    JWT_SECRET: `test-secret-${suffix}-0123456789abcdefghijkl`,
    STREAM_KEY: `events_stream_${suffix}`,
    CONSUMER_GROUP: 'event-processors',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** process.env minus our variables: a child process must see only what the test gives it. */
export function cleanProcessEnv(): Record<string, string> {
  const ours = /^(ROLE|PORT|HEALTH_PORT|REDIS_URL|DATABASE_URL|MONGO_SHARD_URIS|JWT_SECRET|LOG_LEVEL|NODE_ENV|STREAM_|CONSUMER_GROUP|DEDUP_|BATCH_|READ_COUNT|CLAIM_IDLE_MS|MAX_|TRUST_PROXY|ENV_FILE)/;
  return Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => v !== undefined && !ours.test(k)),
  ) as Record<string, string>;
}

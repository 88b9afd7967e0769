import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { plainToInstance, Transform, Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsString,
  Matches,
  Max,
  MinLength,
  Min,
  ValidateIf,
  validateSync,
  IsNotEmpty,
  ValidateBy,
} from 'class-validator';
import { APP_ROLES, AppRole } from './app-role';
import { DEFAULT_CONSUMER_GROUP } from '../redis/redis-keys';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const NODE_ENVS = ['development', 'production', 'test'] as const;

/**
 * TRUST_PROXY: `false` (default), `true` (trust every hop: only when the proxy in front replaces
 * X-Forwarded-For, as deploy/nginx does), or a comma-separated list of proxy addresses/CIDRs
 * (proxy-addr's names `loopback`, `linklocal`, `uniquelocal` too). Fastify's `trustProxy` takes
 * each form as is. Hop counts (`1`, `2`, …) are refused at start: Fastify 5.12.1 dropped them (a
 * count trusts whoever connects, so a client reaching the API directly picks its own address), and
 * passing one on would silently trust nothing.
 */
export type TrustProxy = boolean | string;
const toTrustProxy = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  // `0` is "no proxy"; other digits stay a string the address check refuses, never `true`.
  if (v === '0') return false;
  if (['true', 'yes', 'on'].includes(v)) return true;
  if (['false', 'no', 'off'].includes(v)) return false;
  return v.split(',').map((a) => a.trim()).join(',');
};
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const isProxyAddress = (item: string): boolean => {
  if (PROXY_NAMES.has(item)) return true;
  const [address, bits, ...rest] = item.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
};
const IsTrustProxy = () =>
  ValidateBy({
    name: 'isTrustProxy',
    validator: {
      validate: (value: unknown) => typeof value === 'boolean' || (typeof value === 'string' && value.split(',').every(isProxyAddress)),
    },
  });

const toLower = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim().toLowerCase() : value;

/**
 * The whole process configuration, read from the environment once at start.
 * Defaults follow the contract (§2). Injected as `AppConfig` everywhere.
 */
export class AppConfig {
  @Transform(toLower)
  @IsIn(APP_ROLES)
  ROLE: AppRole = 'all';

  @Transform(toLower)
  @IsIn(NODE_ENVS)
  NODE_ENV: (typeof NODE_ENVS)[number] = 'development';

  // 0 = any free port (tests).
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3001;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  HEALTH_PORT = 3002;

  @Transform(toLower)
  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  @Transform(toTrustProxy)
  @IsTrustProxy()
  TRUST_PROXY: TrustProxy = false;

  @Matches(/^rediss?:\/\/\S+$/)
  REDIS_URL = 'redis://127.0.0.1:6379';

  // The API keeps users and keys there (and health reports it). A worker never opens it, so it
  // need not hold the database password: role-specific, like Twenty's @ValidateIf variables.
  @ValidateIf((c: AppConfig) => c.ROLE !== 'worker')
  @IsString()
  @IsNotEmpty()
  @Matches(/^postgres(ql)?:\/\/\S+$/)
  DATABASE_URL!: string;

  @Matches(/^mongodb(\+srv)?:\/\/[^,\s]+(,mongodb(\+srv)?:\/\/[^,\s]+)*$/)
  MONGO_SHARD_URIS =
    'mongodb://127.0.0.1:27017/event_processor,mongodb://127.0.0.1:27018/event_processor,mongodb://127.0.0.1:27019/event_processor';

  // Production must set a real secret; development falls back to a random per-process one. A
  // worker issues and checks no tokens.
  @ValidateIf((c: AppConfig) => c.ROLE !== 'worker' && (c.NODE_ENV === 'production' || (c.JWT_SECRET ?? '') !== ''))
  @IsString()
  @MinLength(32)
  JWT_SECRET?: string;

  @Matches(/^[A-Za-z0-9_.:-]{1,100}$/)
  STREAM_KEY = 'events_stream';

  @Matches(/^[A-Za-z0-9_.:-]{1,100}$/)
  CONSUMER_GROUP = DEFAULT_CONSUMER_GROUP;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1024)
  STREAM_PARTITIONS = 1;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  DEDUP_TTL_SECONDS = 600;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  MAX_STREAM_BACKLOG = 250_000;

  /**
   * Longest an HTTP request may take to arrive in full (Fastify's default is no limit, so a
   * trickled body could hold its connection, and its share of the admission budget, forever).
   */
  @Type(() => Number)
  @IsInt()
  @Min(1_000)
  @Max(600_000)
  HTTP_REQUEST_TIMEOUT_MS = 30_000;

  /** Bytes of batch bodies one API process works on at once; more wait, body unread (AdmissionGate). */
  @Type(() => Number)
  @IsInt()
  @Min(65_536)
  INGEST_INFLIGHT_BODY_BYTES = 4 * 1024 * 1024;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100_000)
  BATCH_SIZE = 100;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  BATCH_TIMEOUT_MS = 500;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100_000)
  READ_COUNT = 50;

  @Type(() => Number)
  @IsInt()
  @Min(100)
  CLAIM_IDLE_MS = 60_000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  MAX_RETRIES = 3;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  MAX_DELIVERIES = 5;

  get isProduction(): boolean {
    return this.NODE_ENV === 'production';
  }

  get mongoShardUris(): string[] {
    return this.MONGO_SHARD_URIS.split(',').map((u) => u.trim());
  }
}

export class ConfigValidationError extends Error {
  constructor(readonly variables: string[]) {
    // Names only: values may be secrets (DATABASE_URL carries a password, JWT_SECRET is one).
    super(`Invalid configuration: ${variables.map((v) => `${v} is missing or invalid`).join('; ')}`);
  }
}

/** Validates an environment into a typed AppConfig; throws ConfigValidationError naming bad variables. */
export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  // Empty strings mean "unset" so that `FOO=` in a .env file falls back to the default.
  const plain = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const config = plainToInstance(AppConfig, plain, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: false, forbidUnknownValues: false });
  if (errors.length > 0) throw new ConfigValidationError(errors.map((e) => e.property));
  return config;
}

/** Loads `.env` (or ENV_FILE) into process.env without overriding variables already set. */
export function loadEnvFile(path = process.env.ENV_FILE ?? '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

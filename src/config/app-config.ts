import { existsSync } from 'node:fs';
import { plainToInstance, Transform, Type } from 'class-transformer';
import {
  IsBoolean,
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
} from 'class-validator';
import { APP_ROLES, AppRole } from './app-role';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const NODE_ENVS = ['development', 'production', 'test'] as const;

const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  return value;
};
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

  @Transform(toBool)
  @IsBoolean()
  TRUST_PROXY = false;

  @Matches(/^rediss?:\/\/\S+$/)
  REDIS_URL = 'redis://127.0.0.1:6379';

  // Required in every role: the API keeps users and keys there; health reports it.
  @IsString()
  @IsNotEmpty()
  @Matches(/^postgres(ql)?:\/\/\S+$/)
  DATABASE_URL!: string;

  @Matches(/^mongodb(\+srv)?:\/\/[^,\s]+(,mongodb(\+srv)?:\/\/[^,\s]+)*$/)
  MONGO_SHARD_URIS =
    'mongodb://127.0.0.1:27017/event_processor,mongodb://127.0.0.1:27018/event_processor,mongodb://127.0.0.1:27019/event_processor';

  // Production must set a real secret; development falls back to a random per-process one.
  @ValidateIf((c: AppConfig) => c.NODE_ENV === 'production' || (c.JWT_SECRET ?? '') !== '')
  @IsString()
  @MinLength(32)
  JWT_SECRET?: string;

  @Matches(/^[A-Za-z0-9_.:-]{1,100}$/)
  STREAM_KEY = 'events_stream';

  @Matches(/^[A-Za-z0-9_.:-]{1,100}$/)
  CONSUMER_GROUP = 'event-processors';

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

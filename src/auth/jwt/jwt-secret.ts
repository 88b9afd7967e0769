import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';

/**
 * JWT_SECRET, or in development/test a random per-process secret (tokens then die with the
 * process and are not accepted by other replicas) announced by a loud warning. Production
 * without a secret never gets here: config validation stops the process first.
 */
export function resolveJwtSecret(config: AppConfig, logger = new Logger('auth')): string {
  if (config.JWT_SECRET) return config.JWT_SECRET;
  if (config.isProduction) throw new Error('JWT_SECRET is required in production');
  logger.warn(
    '!!! JWT_SECRET is not set: using a random per-process secret. Tokens stop working on restart and ' +
      'are not accepted by other API replicas. Set JWT_SECRET (at least 32 characters) for anything but local development. !!!',
  );
  return randomBytes(48).toString('base64url');
}

import { ExecutionContext, Injectable, Provider } from '@nestjs/common';
import { getOptionsToken, getStorageToken, ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import { ApiError } from '../../common/http/api-error';
import { RedisKeys } from '../../redis/redis-keys';
import { AUTH_RATE_LIMIT, AUTH_RATE_WINDOW_MS } from '../auth.constants';
import { clientOf } from '../guards/credentials';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/**
 * 100 requests per minute per client IP across all of /api/auth/* (one counter per IP in Redis,
 * shared by every API replica). The client IP is Fastify's `request.ip`: the socket address, or
 * the X-Forwarded-For client that TRUST_PROXY (every hop, or trusted proxy addresses)
 * leads to (trustProxy in create-app.ts). IPv6
 * clients are counted per /64. Beyond the limit: 429 RATE_LIMITED with Retry-After.
 * Put it first in @UseGuards so that floods are refused before any credential check.
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw ApiError.tooManyRequests('RATE_LIMITED', 'Too many requests to the auth endpoints; retry later', detail.timeToBlockExpire);
  }
}

/**
 * ThrottlerGuard's options and storage, provided inside AuthModule only (no global
 * ThrottlerModule, so other modules can configure their own limits independently).
 */
export const authRateLimitProviders: Provider[] = [
  RedisThrottlerStorage,
  { provide: getStorageToken(), useExisting: RedisThrottlerStorage },
  {
    provide: getOptionsToken(),
    inject: [RedisKeys],
    useFactory: (keys: RedisKeys): ThrottlerModuleOptions => ({
      throttlers: [{ name: 'default', limit: AUTH_RATE_LIMIT, ttl: AUTH_RATE_WINDOW_MS }],
      getTracker: (req: Record<string, unknown>) => clientOf(req),
      generateKey: (_context: ExecutionContext, tracker: string) => keys.authRateLimit(tracker),
      // X-RateLimit-Limit/Remaining/Reset on every auth response; Retry-After on 429.
      setHeaders: true,
    }),
  },
  AuthRateLimitGuard,
];

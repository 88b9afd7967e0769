import { Logger, Module, OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { AppConfig } from '../config/app-config';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { ApiKeysService } from './api-keys/api-keys.service';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { AuthCacheInvalidator, RedisAuthCacheInvalidator } from './cache/auth-cache-invalidator';
import { AuthCacheStore } from './cache/auth-cache.store';
import { LocalAuthCache } from './cache/local-auth-cache';
import { ApiKeyUsageRecorder } from './credentials/api-key-usage.recorder';
import { CachedApiKeyVerifier } from './credentials/cached-api-key.verifier';
import { AccessTokenVerifier, ApiKeyVerifier } from './credentials/credential-verifiers';
import { UserStateReader } from './credentials/user-state.reader';
import { ApiKeyOrJwtGuard } from './guards/api-key-or-jwt.guard';
import { ApiKeyGuard } from './guards/api-key.guard';
import { JwtAuthGuard } from './guards/jwt-auth.guard';
import { RolesGuard } from './guards/roles.guard';
import { AccessTokens, JWT_ALGORITHMS } from './jwt/access-tokens';
import { resolveJwtSecret } from './jwt/jwt-secret';
import { PasswordHasher } from './passwords/password-hasher';
import { authRateLimitProviders } from './rate-limit/auth-rate-limit.guard';
import { UsersController } from './users/users.controller';
import { UsersService } from './users/users.service';

/**
 * Users, roles, API keys, JWT, auth rate limit (ROLE=api/all; needs PostgreSQL and Redis).
 *
 * Other feature modules import AuthModule and use the exported guards:
 * `@UseGuards(ApiKeyGuard)`, `@UseGuards(ApiKeyOrJwtGuard, RolesGuard) @Roles('VIEWER')`,
 * `@UseGuards(JwtAuthGuard, RolesGuard) @Roles('OPERATOR')`, then `@CurrentPrincipal()`.
 */
@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        secret: resolveJwtSecret(config),
        signOptions: { algorithm: 'HS256' },
        verifyOptions: { algorithms: [...JWT_ALGORITHMS] },
      }),
    }),
  ],
  controllers: [AuthController, ApiKeysController, UsersController],
  providers: [
    PasswordHasher,
    AuthCacheStore,
    LocalAuthCache,
    { provide: AuthCacheInvalidator, useClass: RedisAuthCacheInvalidator },
    ApiKeyUsageRecorder,
    UserStateReader,
    AccessTokens,
    { provide: AccessTokenVerifier, useExisting: AccessTokens },
    CachedApiKeyVerifier,
    { provide: ApiKeyVerifier, useExisting: CachedApiKeyVerifier },
    AuthService,
    UsersService,
    ApiKeysService,
    ...authRateLimitProviders,
    ApiKeyGuard,
    JwtAuthGuard,
    ApiKeyOrJwtGuard,
    RolesGuard,
  ],
  // Guards used in another module's controllers are instantiated there: their ports must be exported.
  exports: [ApiKeyVerifier, AccessTokenVerifier, ApiKeyGuard, JwtAuthGuard, ApiKeyOrJwtGuard, RolesGuard],
})
export class AuthModule implements OnModuleInit {
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  onModuleInit(): void {
    // Declare request.principal up front so Fastify request objects keep one shape (V8 fast path).
    const instance: unknown = this.adapterHost?.httpAdapter?.getInstance?.();
    const fastify = instance as { decorateRequest?: (name: string, value: undefined) => void; hasRequestDecorator?: (name: string) => boolean };
    if (typeof fastify?.decorateRequest !== 'function' || fastify.hasRequestDecorator?.('principal')) return;
    try {
      // undefined (not null) keeps the type `principal?: Principal` true before a guard runs.
      fastify.decorateRequest('principal', undefined);
    } catch (err) {
      new Logger('auth').debug({ err: (err as Error).message }, 'request.principal not pre-declared');
    }
  }
}

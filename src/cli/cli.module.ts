import { DynamicModule, Module } from '@nestjs/common';
import { ApiKeysService } from '../auth/api-keys/api-keys.service';
import { AuthCacheInvalidator, OneShotAuthCacheInvalidator } from '../auth/cache/auth-cache-invalidator';
import { AuthCacheStore } from '../auth/cache/auth-cache.store';
import { PasswordHasher } from '../auth/passwords/password-hasher';
import { UsersService } from '../auth/users/users.service';
import { AppConfig } from '../config/app-config';
import { AppConfigModule } from '../config/app-config.module';
import { PrismaModule } from '../prisma/prisma.module';
import { RedisModule } from '../redis/redis.module';

/**
 * The operator CLI's module graph: PostgreSQL (users, keys) and Redis (so a revocation or a
 * user change reaches the API processes' caches at once). No HTTP, no MongoDB, no worker.
 */
@Module({})
export class CliModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CliModule,
      imports: [AppConfigModule.forRoot(config), RedisModule, PrismaModule],
      providers: [
        PasswordHasher,
        AuthCacheStore,
        { provide: AuthCacheInvalidator, useClass: OneShotAuthCacheInvalidator },
        UsersService,
        ApiKeysService,
      ],
    };
  }
}

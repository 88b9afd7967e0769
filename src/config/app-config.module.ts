import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AppConfig } from './app-config';
import { APP_ROLE } from './app-role';

/** Global, already-validated configuration; validation happens in main.ts before the graph is built. */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      // ConfigService stays available for libraries that expect it; our code injects the typed AppConfig.
      // `validate` hands it the instance main.ts already validated (tests pass their own env).
      imports: [ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, cache: true, validate: () => ({ ...config }) })],
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: APP_ROLE, useValue: config.ROLE },
      ],
      exports: [AppConfig, APP_ROLE],
    };
  }
}

import 'reflect-metadata';
import { createApp, listenPort } from './bootstrap/create-app';
import { installGracefulShutdown } from './bootstrap/graceful-shutdown';
import { applyServerV8Flags } from './bootstrap/v8-flags';
import { ConfigValidationError, loadAppConfig, loadEnvFile } from './config/app-config';
import { InvalidRoleError, parseRole } from './config/app-role';

async function bootstrap(): Promise<void> {
  applyServerV8Flags();
  loadEnvFile();
  // The role decides the module graph, so it is settled before Nest builds anything.
  parseRole(process.env.ROLE);
  const config = loadAppConfig();
  const app = await createApp(config);
  installGracefulShutdown(app);
  await app.listen(listenPort(config), '0.0.0.0');
}

bootstrap().catch((err: unknown) => {
  const known = err instanceof InvalidRoleError || err instanceof ConfigValidationError;
  // Config errors name variables only; boot errors carry no stack in the message (no secrets either).
  console.error(`event-processor failed to start: ${known || err instanceof Error ? (err as Error).message : String(err)}`);
  process.exit(1);
});

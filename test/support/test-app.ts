import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap/create-app';
import { loadAppConfig } from '../../src/config/app-config';

/**
 * The real application (real module graph, real Redis/PostgreSQL/FerretDB) for supertest:
 * `request(app.getHttpServer())`. Close it with `await app.close()`.
 */
export async function startTestApp(env: Record<string, string>): Promise<NestFastifyApplication> {
  const app = await createApp(loadAppConfig(env));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

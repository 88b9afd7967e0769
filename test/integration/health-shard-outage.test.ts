import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { PrivateFerretDb } from '../support/ferretdb';
import { startTestApp } from '../support/test-app';
import { TEST_MONGO_HOSTS, testEnv, uniqueSuffix } from '../support/test-env';

/** /api/health with shard 1 on a private FerretDB that the test stops and starts. */
describe('health reports a failing shard by name', () => {
  let ferret: PrivateFerretDb;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    ferret = await PrivateFerretDb.create('health_test');
    const db = `evp_health_${uniqueSuffix()}`;
    const uris = [`mongodb://${TEST_MONGO_HOSTS[0]}/${db}`, `${ferret.uri}/${db}`, `mongodb://${TEST_MONGO_HOSTS[2]}/${db}`].join(',');
    app = await startTestApp(testEnv({ redisDb: 1, overrides: { ROLE: 'api', MONGO_SHARD_URIS: uris } }));
  });

  afterAll(async () => {
    await app?.close();
    await ferret?.stop();
  });

  it('200 with every dependency, 503 naming mongo-shard-1 while it is down, 200 again after restart', async () => {
    const ok = await request(app.getHttpServer()).get('/api/health');
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body.info).sort()).toEqual(['mongo-shard-0', 'mongo-shard-1', 'mongo-shard-2', 'postgres', 'redis']);

    await ferret.stop();
    const down = await request(app.getHttpServer()).get('/api/health');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBeDefined();
    expect(down.body.status).toBe('error');
    expect(Object.keys(down.body.error)).toEqual(['mongo-shard-1']);
    expect(down.body.info).toHaveProperty('mongo-shard-0');

    await ferret.start();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await request(app.getHttpServer()).get('/api/health')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  });
});

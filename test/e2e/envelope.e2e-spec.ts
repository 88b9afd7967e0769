import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { startTestApp } from '../support/test-app';
import { testEnv } from '../support/test-env';

/**
 * Fastify's own errors leave in the contract's envelope (§3). Body parsing runs before auth,
 * so no API key is needed to reach these answers.
 */
describe('error envelope (real app, ROLE=api)', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await startTestApp(testEnv({ redisDb: 1, overrides: { ROLE: 'api' } }));
  });
  afterAll(async () => {
    await app?.close();
  });

  const expectEnvelope = (res: request.Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ success: false, error: expect.objectContaining({ code, message: expect.any(String) }) });
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/); // no stack trace
    expect(res.headers['x-request-id']).toBeDefined();
  };

  it('malformed JSON → 400 VALIDATION_ERROR', async () => {
    const res = await request(app.getHttpServer()).post('/api/v1/events/batch').set('content-type', 'application/json').send('{"events": [');
    expectEnvelope(res, 400, 'VALIDATION_ERROR');
  });

  it('body over 5 MiB → 413 PAYLOAD_TOO_LARGE', async () => {
    const big = JSON.stringify({ events: [{ payload: { blob: 'x'.repeat(5 * 1024 * 1024 + 10) } }] });
    const res = await request(app.getHttpServer()).post('/api/v1/events/batch').set('content-type', 'application/json').send(big);
    expectEnvelope(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml'])('content type %s → 415 UNSUPPORTED_MEDIA_TYPE', async (type) => {
    const res = await request(app.getHttpServer()).post('/api/v1/events').set('content-type', type).send('a=b');
    expectEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('unknown route → 404 NOT_FOUND', async () => {
    const res = await request(app.getHttpServer()).get('/api/v1/nothing-here');
    expectEnvelope(res, 404, 'NOT_FOUND');
  });

  it('echoes a client x-request-id', async () => {
    const res = await request(app.getHttpServer()).get('/api/live').set('x-request-id', 'client-id-42');
    expect(res.headers['x-request-id']).toBe('client-id-42');
  });
});

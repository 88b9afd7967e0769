import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, RouteOptions } from 'fastify';
import request from 'supertest';
import { createApp } from '../../src/bootstrap/create-app';
import { loadAppConfig } from '../../src/config/app-config';
import { OPERATIONS } from '../../src/openapi/openapi-schemas';
import { testEnv } from '../support/test-env';

/**
 * The OpenAPI document covers the application: every route Fastify actually registered (seen
 * through an onRoute hook installed before Nest registers anything) is in /docs/json with its
 * method, and nothing in the document is made up. Redis DB 13 belongs to this file.
 */
const REDIS_DB = 13;
const NOT_DOCUMENTED = /^\/(docs|dashboard)(\/|$)/;

type Obj = Record<string, any>;

describe('OpenAPI document (/docs/json) and Swagger UI (/docs)', () => {
  let app: NestFastifyApplication;
  let doc: Obj;
  const registered: Array<{ method: string; path: string }> = [];

  beforeAll(async () => {
    app = await createApp(loadAppConfig(testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'all' } })));
    const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
    fastify.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) registered.push({ method: String(method).toLowerCase(), path: route.url });
    });
    await app.init();
    await fastify.ready();
    const res = await request(app.getHttpServer()).get('/docs/json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    doc = res.body;
  });
  afterAll(async () => app?.close());

  const openApiPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  const routes = () =>
    registered
      .filter((r) => r.method !== 'head' && r.method !== 'options' && !NOT_DOCUMENTED.test(r.path))
      .map((r) => ({ method: r.method, path: openApiPath(r.path) }));
  const operations = () =>
    Object.entries(doc.paths as Obj).flatMap(([p, item]) => Object.entries(item as Obj).map(([method, op]) => ({ method, path: p, op: op as Obj })));

  it('is OpenAPI 3 with both security schemes and the error envelope', () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('Event Processor API');
    expect(doc.components.securitySchemes).toEqual({
      'api-key': { type: 'apiKey', in: 'header', name: 'x-api-key' },
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
    expect(doc.components.schemas.ErrorEnvelope.properties.error.properties.code.enum).toEqual(expect.arrayContaining(['VALIDATION_ERROR', 'BACKPRESSURE']));
  });

  it('documents every registered route, and only those', () => {
    const got = routes();
    expect(got.length).toBeGreaterThanOrEqual(20);
    // sanity: the hook saw the routes of every feature module
    for (const p of ['/api/v1/events', '/api/auth/login', '/api/v1/dlq/replay', '/api/health', '/metrics', '/api/v1/metrics/live']) {
      expect(got.map((r) => r.path)).toContain(p);
    }
    const missing = got.filter((r) => !doc.paths[r.path]?.[r.method]).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
    const invented = operations()
      .filter((o) => !got.some((r) => r.method === o.method && r.path === o.path))
      .map((o) => `${o.method.toUpperCase()} ${o.path}`);
    expect(invented).toEqual([]);
    // and the hand-written table of responses has no entry for a route that is gone
    const documented = new Set(got.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    expect(Object.keys(OPERATIONS).filter((k) => !documented.has(k))).toEqual([]);
  });

  it('every operation has a success response with a schema, error responses in the envelope, and security where guarded', () => {
    for (const { method, path, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      const success = Object.entries(op.responses as Obj).filter(([s]) => /^2\d\d$/.test(s));
      expect({ where, success: success.length > 0 }).toEqual({ where, success: true });
      for (const [status, r] of success) {
        if (status === '204') continue;
        const content = (r as Obj).content ?? {};
        expect({ where, status, schema: Object.values(content).every((c) => (c as Obj).schema) && Object.keys(content).length > 0 }).toEqual({ where, status, schema: true });
      }
      const errors = Object.entries(op.responses as Obj).filter(([s]) => !/^2\d\d$/.test(s));
      expect({ where, errors: errors.length > 0 }).toEqual({ where, errors: true });
      for (const [, r] of errors) expect((r as Obj).content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorEnvelope' });
      if (op.security) expect({ where, has401: '401' in op.responses }).toEqual({ where, has401: true });
    }
  });

  it('derives security and roles from the guards', () => {
    const op = (m: string, p: string) => doc.paths[p][m];
    expect(op('post', '/api/v1/events').security).toEqual([{ 'api-key': [] }]);
    expect(op('get', '/api/v1/analytics/metrics').security).toEqual([{ 'api-key': [] }, { bearer: [] }]);
    expect(op('get', '/api/v1/metrics/live').security).toEqual([{ 'api-key': [] }, { bearer: [] }]);
    expect(op('post', '/api/v1/dlq/replay').security).toEqual([{ bearer: [] }]);
    expect(op('post', '/api/v1/dlq/replay').description).toContain('OPERATOR');
    expect(op('post', '/api/v1/dlq/replay').responses).toHaveProperty('403');
    expect(op('get', '/metrics').security).toBeUndefined();
    expect(op('post', '/api/auth/login').security).toBeUndefined();
    expect(op('post', '/api/auth/login').responses).toHaveProperty('429');
  });

  it('request schemas come from the validation rules (bodies, queries) and the ingestion JSON Schema', () => {
    const s = doc.components.schemas;
    const loginRef = doc.paths['/api/auth/login'].post.requestBody.content['application/json'].schema.$ref as string;
    const login = s[loginRef.split('/').pop()!];
    expect(login.properties.email).toMatchObject({ type: 'string', format: 'email' });
    expect(login.properties.password.type).toBe('string');
    expect(login.required).toEqual(expect.arrayContaining(['email', 'password']));

    const dlqLimit = (doc.paths['/api/v1/dlq'].get.parameters as Obj[]).find((p) => p.name === 'limit')!;
    expect(dlqLimit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } });

    const metricsParams = (doc.paths['/api/v1/analytics/metrics'].get.parameters as Obj[]).map((p) => p.name).sort();
    expect(metricsParams).toEqual(['eventType', 'from', 'timeRange', 'to', 'userId']);
    const timeRange = (doc.paths['/api/v1/analytics/metrics'].get.parameters as Obj[]).find((p) => p.name === 'timeRange')!;
    expect(timeRange.schema.enum).toEqual(expect.arrayContaining(['15m', '1h', '24h', '7d']));

    const single = doc.paths['/api/v1/events'].post;
    expect(single.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Event' });
    expect(s.Event.required).toEqual(['eventType', 'userId', 'sessionId', 'timestamp']);
    expect(Object.keys(single.responses)).toEqual(expect.arrayContaining(['200', '202', '400', '401', '413', '429', '503']));
  });

  it('serves the Swagger UI from our own server', async () => {
    const http = app.getHttpServer();
    const redirect = await request(http).get('/docs');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/docs/');
    const page = await request(http).get('/docs/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toContain('swagger-ui-bundle.js');
    expect(page.text).not.toMatch(/https?:\/\//);
    const bundle = await request(http).get('/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect((await request(http).get('/docs/../package.json')).status).toBe(404);
  });
});

import path from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { OperationObject, ParameterObject, ResponseObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { getMetadataStorage } from 'class-validator';
import type { FastifyInstance } from 'fastify';
import { ROLES_KEY } from '../auth/decorators/roles.decorator';
import { ApiKeyOrJwtGuard } from '../auth/guards/api-key-or-jwt.guard';
import { ApiKeyGuard } from '../auth/guards/api-key.guard';
import { JwtAuthGuard } from '../auth/guards/jwt-auth.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import type { Role } from '../auth/principal';
import { AuthRateLimitGuard } from '../auth/rate-limit/auth-rate-limit.guard';
import type { AppConfig } from '../config/app-config';
import { mountStaticFiles } from '../dashboard/static-files';
import { DirectRoute, IngestionRoutes } from '../ingestion/ingestion.routes';
import { COMPONENT_SCHEMAS, envelope, OPERATIONS } from './openapi-schemas';
import { applyValidationSchemas, propertySchema } from './validation-schemas';

export const DOCS_PATH = '/docs';
export const DOCS_JSON_PATH = '/docs/json';

/** A route as Nest registered it: what the document is completed from. */
export interface RouteInfo {
  method: string;
  /** OpenAPI form: `/api/v1/dlq/{id}`. */
  path: string;
  guards: Function[];
  roles: Role[];
}

const ERROR_TEXT: Record<number, string> = {
  400: 'Validation error (details per field)',
  401: 'Missing or invalid credentials',
  403: 'Role too low',
  404: 'Not found',
  409: 'Conflict',
  413: 'Body too large',
  415: 'Only application/json bodies',
  429: 'Rate limited or backpressure (Retry-After)',
  503: 'A dependency is unavailable (Retry-After)',
};

const toOpenApiPath = (...parts: string[]): string =>
  `/${parts.join('/')}`
    .replace(/\/+/g, '/')
    .replace(/(.)\/$/, '$1')
    .replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every controller route of the application, with its guards and roles. */
export function routesOf(app: NestFastifyApplication): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const cls = wrapper.metatype as Function | null;
      if (!cls || !cls.prototype) continue;
      const base = [Reflect.getMetadata(PATH_METADATA, cls) ?? ''].flat()[0] as string;
      const classGuards = (Reflect.getMetadata(GUARDS_METADATA, cls) ?? []) as Function[];
      for (const name of Object.getOwnPropertyNames(cls.prototype)) {
        const handler = (cls.prototype as Record<string, unknown>)[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        if (sub === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod].toLowerCase();
        const guards = [...classGuards, ...((Reflect.getMetadata(GUARDS_METADATA, handler) ?? []) as Function[])];
        const roles = (Reflect.getMetadata(ROLES_KEY, handler) ?? Reflect.getMetadata(ROLES_KEY, cls) ?? []) as Role[];
        for (const p of [sub].flat()) routes.push({ method, path: toOpenApiPath(base, p), guards, roles });
      }
    }
  }
  return routes;
}

const errorResponse = (status: number): ResponseObject => ({
  description: ERROR_TEXT[status] ?? 'Error',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
});

/** Query parameters from a DTO's class-validator rules (for routes that parse the raw query). */
function queryParameters(dto: Function): ParameterObject[] {
  const metas = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  const names = [...new Set(metas.map((m) => m.propertyName))];
  return names.map((name) => {
    const { required, ...schema } = propertySchema(
      metas.filter((m) => m.propertyName === name),
      Reflect.getMetadata('design:type', dto.prototype, name),
      undefined,
    );
    return { name, in: 'query', required, schema: schema as SchemaObject };
  });
}

function directRoutesOf(app: NestFastifyApplication): readonly DirectRoute[] {
  try {
    return app.get(IngestionRoutes, { strict: false }).routes;
  } catch {
    return []; // no IngestionModule in this application
  }
}

/**
 * Routes served by Fastify directly (IngestionRoutes) have no controller for SwaggerModule to
 * scan: their operations start empty here, and completeDocument fills them like any other.
 */
export function addDirectRoutes(document: OpenAPIObject, routes: readonly DirectRoute[]): void {
  for (const r of routes) {
    const item = (document.paths[r.path] ??= {});
    item[r.method] = { operationId: r.operationId, tags: [r.tag], parameters: [], responses: {} };
  }
}

/** Fills in what decorators cannot know: schemas of raw bodies/queries, security from guards, errors. */
export function completeDocument(document: OpenAPIObject, routes: RouteInfo[]): void {
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ...COMPONENT_SCHEMAS } };
  for (const route of routes) {
    const op = document.paths[route.path]?.[route.method as 'get'] as OperationObject | undefined;
    const doc = OPERATIONS[`${route.method.toUpperCase()} ${route.path}`];
    if (!op || !doc) continue; // the OpenAPI test names what is missing
    if (doc.summary) op.summary = doc.summary;
    const responses: Record<string, ResponseObject> = {};
    if (doc.content) responses[doc.status] = { description: 'OK', content: doc.content };
    else if (doc.data) responses[doc.status] = { description: 'OK', content: { 'application/json': { schema: doc.raw ? doc.data : envelope(doc.data) } } };
    else responses[doc.status] = { description: 'No content' };
    for (const [status, extra] of Object.entries(doc.also ?? {})) {
      responses[status] = { description: extra.description, content: { 'application/json': { schema: envelope(extra.data) } } };
    }
    if (doc.body) {
      op.requestBody = { required: true, content: { 'application/json': { schema: doc.body } } };
    }
    if (doc.query) op.parameters = [...(op.parameters ?? []).filter((p) => 'in' in p && p.in !== 'query'), ...queryParameters(doc.query)];

    const g = new Set(route.guards);
    const security: Array<Record<string, string[]>> = [];
    if (g.has(ApiKeyGuard) || g.has(ApiKeyOrJwtGuard)) security.push({ 'api-key': [] });
    if (g.has(JwtAuthGuard) || g.has(ApiKeyOrJwtGuard)) security.push({ bearer: [] });
    if (security.length > 0) op.security = security;
    const errors = new Set<number>(doc.errors ?? []);
    if (security.length > 0) errors.add(401);
    if (g.has(RolesGuard) && route.roles.length > 0) {
      errors.add(403);
      op.description = `${op.description ? `${op.description}\n\n` : ''}Requires role ${route.roles.join(' or ')} or above.`;
    }
    if (g.has(AuthRateLimitGuard)) errors.add(429);
    const takesInput = doc.body || doc.query || op.requestBody || (op.parameters ?? []).length > 0;
    if (takesInput) errors.add(400);
    if (route.path !== '/api/live' && route.path !== '/metrics') errors.add(503);
    for (const status of [...errors].sort()) responses[status] = errorResponse(status);
    // Any other failure still comes in the envelope.
    if (!route.path.startsWith('/api/health') && route.path !== '/api/ready') responses.default = errorResponse(500);
    op.responses = responses;
  }
}

const SWAGGER_UI_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Event Processor API</title>
<link rel="stylesheet" href="swagger-ui.css"><link rel="icon" href="favicon-32x32.png"></head>
<body><div id="swagger-ui"></div><script src="swagger-ui-bundle.js"></script><script src="swagger-init.js"></script></body></html>
`;
const SWAGGER_INIT_JS = `window.ui = SwaggerUIBundle({ url: '${DOCS_JSON_PATH}', dom_id: '#swagger-ui', deepLinking: true, presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout' });\n`;

/**
 * The OpenAPI document (API roles): built once at start from the controllers, DTO validation
 * rules and OPERATIONS; JSON at /docs/json, Swagger UI at /docs (served by us, no CDN).
 */
export function setupOpenApi(app: NestFastifyApplication, config: AppConfig): OpenAPIObject | undefined {
  if (config.ROLE === 'worker') return undefined;
  applyValidationSchemas();
  const builder = new DocumentBuilder()
    .setTitle('Event Processor API')
    .setDescription(
      'REST ingestion, analytics, DLQ, auth and operations. Successful JSON answers are `{success: true, data}`, errors `{success: false, error: {code, message, details?}}`.',
    )
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, 'api-key')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
    .build();
  const document = SwaggerModule.createDocument(app, builder, { autoTagControllers: true });
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  // They are registered at init, after this: known by their provider, present in the API roles.
  const direct = directRoutesOf(app);
  addDirectRoutes(document, direct);
  completeDocument(document, [...routesOf(app), ...direct]);
  SwaggerModule.setup(DOCS_PATH, app, document, { ui: false, raw: ['json'], jsonDocumentUrl: DOCS_JSON_PATH });

  const dist = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  const files = new Map<string, string | Buffer>([
    ['index.html', Buffer.from(SWAGGER_UI_HTML)],
    ['swagger-init.js', Buffer.from(SWAGGER_INIT_JS)],
    ['swagger-ui.css', path.join(dist, 'swagger-ui.css')],
    ['swagger-ui-bundle.js', path.join(dist, 'swagger-ui-bundle.js')],
    ['favicon-32x32.png', path.join(dist, 'favicon-32x32.png')],
  ]);
  mountStaticFiles(fastify, {
    prefix: `${DOCS_PATH}/`,
    files,
    headers: {
      'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    },
  });
  return document;
}

import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { appModuleFor } from '../app.module';
import { AllExceptionsFilter } from '../common/http/all-exceptions.filter';
import { createValidationPipe } from '../common/http/validation.pipe';
import { AppConfig } from '../config/app-config';
import { requestIdOf } from '../logging/logging.module';
import { setupOpenApi } from '../openapi/openapi.setup';
import { clientErrorHandler, frameworkErrorHandler } from './transport-errors';

/** Largest accepted body: a batch of up to 1000 events (contract §4). Routes may set less. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** How often Node looks for requests past HTTP_REQUEST_TIMEOUT_MS (its default, 30 s, would double a short timeout). */
const REQUEST_TIMEOUT_CHECK_MS = 1_000;

/** Builds the Nest application of `config.ROLE` (used by main.ts and by the e2e tests). */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: MAX_BODY_BYTES,
    trustProxy: config.TRUST_PROXY,
    genReqId: requestIdOf,
    requestIdHeader: false,
    // Close idle keep-alive sockets on shutdown so draining does not wait for clients.
    forceCloseConnections: 'idle',
    // A property named __proto__ / constructor.prototype anywhere in a body is refused (400),
    // never merged into an object.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // While closing, keep serving in-flight keep-alive requests normally (our clients are still
    // open until HTTP has drained) instead of Fastify's bare 503 outside the envelope.
    return503OnClosing: false,
    // A request (headers and body) must arrive within HTTP_REQUEST_TIMEOUT_MS, or it is answered
    // 408 and its socket closed (clientErrorHandler). Node checks once per connectionsCheckingInterval,
    // and (Node 20, measured) never enforces requestTimeout while headersTimeout (default 60 s) is
    // larger: both are set. The top-level value is what Fastify assigns after creating the server;
    // the one in `http` is not redundant: Node refuses at creation a headersTimeout above its own
    // requestTimeout (default 300 s), i.e. any HTTP_REQUEST_TIMEOUT_MS over 300000.
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    http: {
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: REQUEST_TIMEOUT_CHECK_MS,
      // A request without Host gets our 400 in the envelope (onRequest below) instead of Node's empty 400.
      requireHostHeader: false,
    },
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
  });
  const app = await NestFactory.create<NestFastifyApplication>(appModuleFor(config), adapter, {
    bufferLogs: true,
    // Only application/json bodies: Nest's urlencoded parser would turn form posts into objects.
    bodyParser: false,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));

  const fastify = app.getHttpAdapter().getInstance();
  // Fastify parses text/plain by default; the contract answers 415 for anything but JSON.
  fastify.removeContentTypeParser('text/plain');
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id);
    // HTTP/1.1 requires Host (RFC 9112 §3.2); refused here so the answer is in the envelope.
    if (req.headers.host === undefined && req.raw.httpVersion === '1.1') {
      void reply.status(400).send({ success: false, error: { code: 'VALIDATION_ERROR', message: 'Host header is required' } });
      return;
    }
    done();
  });

  // Nest routes Fastify's own errors (body parsing, content type, unknown route) through this
  // filter too, so every error leaves in the contract's envelope.
  app.useGlobalFilters(new AllExceptionsFilter());
  app.useGlobalPipes(createValidationPipe());
  // OpenAPI document (/docs/json) and Swagger UI (/docs) for the API roles.
  setupOpenApi(app, config);
  return app;
}

/** The port of this role: a worker serves only health (and metrics) on HEALTH_PORT. */
export const listenPort = (config: AppConfig): number => (config.ROLE === 'worker' ? config.HEALTH_PORT : config.PORT);

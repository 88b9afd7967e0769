import type { HttpAdapterHost } from '@nestjs/core';
import type { PinoLogger } from 'nestjs-pino';
import { RequestLogHook } from './request-log.hook';

type Level = 'debug' | 'info' | 'warn' | 'error';
type Hook = (request: unknown, reply: unknown, done: () => void) => void;

/** A fake Fastify (captures the onResponse hook) and a fake pino logger (records calls). */
function setup(enabled: Level[] = ['debug', 'info', 'warn', 'error']) {
  const calls: Array<{ level: Level; obj: Record<string, any>; msg: string }> = [];
  const childOptions: unknown[] = [];
  const logger = {
    isLevelEnabled: (l: Level) => enabled.includes(l),
    ...Object.fromEntries((['debug', 'info', 'warn', 'error'] as Level[]).map((l) => [l, (obj: Record<string, any>, msg: string) => calls.push({ level: l, obj, msg })])),
  };
  const root = { child: (_bindings: unknown, options: unknown) => (childOptions.push(options), logger) };
  let hook: Hook | undefined;
  const fastify = { addHook: (name: string, fn: Hook) => name === 'onResponse' && (hook = fn) };
  new RequestLogHook({ logger: root } as unknown as PinoLogger, { httpAdapter: { getInstance: () => fastify } } as unknown as HttpAdapterHost).onModuleInit();
  const respond = (status: number, url = '/api/v1/events', config: Record<string, unknown> = {}) => {
    let done = false;
    hook!({ id: 'r1', method: 'POST', url, headers: { 'x-api-key': 'k' }, routeOptions: { config } }, { statusCode: status, elapsedTime: 1.234 }, () => (done = true));
    expect(done).toBe(true);
  };
  return { calls, childOptions, respond };
}

describe('RequestLogHook', () => {
  it('logs one line per request with the level of its status', () => {
    const { calls, respond } = setup();
    respond(202);
    respond(404);
    respond(503);
    expect(calls.map((c) => [c.level, c.msg])).toEqual([
      ['info', 'request completed'],
      ['warn', 'request completed'],
      ['error', 'request errored'],
    ]);
    expect(calls[0].obj).toEqual({
      module: 'http',
      req: { id: 'r1', method: 'POST', url: '/api/v1/events', headers: { 'x-api-key': 'k' } },
      res: { statusCode: 202 },
      responseTime: 1.23,
    });
  });

  it("writes a route's 2xx lines at its successLogLevel, never its errors", () => {
    const { calls, respond } = setup();
    const quiet = { successLogLevel: 'debug' };
    respond(202, '/api/v1/events', quiet);
    respond(200, '/api/v1/events', quiet);
    respond(400, '/api/v1/events', quiet);
    respond(503, '/api/v1/events', quiet);
    expect(calls.map((c) => c.level)).toEqual(['debug', 'debug', 'warn', 'error']);
  });

  it('skips disabled levels and the probe/scrape paths', () => {
    const { calls, respond } = setup(['info', 'warn', 'error']);
    respond(202, '/api/v1/events', { successLogLevel: 'debug' });
    respond(200, '/api/health');
    respond(200, '/metrics');
    respond(503, '/api/ready');
    respond(200, '/api/v1/events/stats');
    expect(calls.map((c) => [c.level, c.obj.req.url])).toEqual([['info', '/api/v1/events/stats']]);
  });

  it('redacts request lines by the header paths only', () => {
    const { childOptions } = setup();
    expect(childOptions).toEqual([{ redact: { paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers.cookie'], censor: '[REDACTED]' } }]);
  });
});

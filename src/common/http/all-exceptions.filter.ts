import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from './error-mapping';

/** Every error leaves as the contract's envelope (§3); never a stack trace. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const ctx = host.switchToHttp();
    sendError(ctx.getResponse<FastifyReply>(), exception, this.logger, ctx.getRequest<FastifyRequest>());
  }
}

export function sendError(reply: FastifyReply, exception: unknown, logger: Pick<Logger, 'error' | 'warn'>, req?: FastifyRequest): void {
  const res = toErrorResponse(exception);
  if (res.unexpected) {
    logger.error({ err: exception, reqId: req?.id, url: req?.url }, 'unhandled error');
  } else if (res.status === 503) {
    logger.warn({ reqId: req?.id, url: req?.url, reason: exception instanceof Error ? exception.message : String(exception) }, 'dependency unavailable');
  }
  if (reply.sent) return;
  if (res.retryAfterSeconds !== undefined) void reply.header('retry-after', String(res.retryAfterSeconds));
  void reply.status(res.status).header('content-type', 'application/json; charset=utf-8').send(res.body);
}

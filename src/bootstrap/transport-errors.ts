import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, ErrorEnvelope } from '../common/http/error-codes';

/**
 * Errors Fastify raises before a request reaches routing still answer in the contract's
 * envelope with an x-request-id (contract §3): unparseable HTTP on the socket, and URLs the
 * router cannot decode (`/api/%zz`).
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', ErrorCode.VALIDATION_ERROR, 'Request headers or URL are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', ErrorCode.REQUEST_TIMEOUT, 'The request was not received in time; nothing of it was accepted']
        : [400, 'Bad Request', ErrorCode.VALIDATION_ERROR, 'Malformed HTTP request'];
  const body = JSON.stringify({ success: false, error: { code, message } } satisfies ErrorEnvelope);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export function frameworkErrorHandler(err: Error, req: FastifyRequest, reply: FastifyReply): void {
  void reply
    .status(400)
    .header('x-request-id', req.id)
    .header('content-type', 'application/json; charset=utf-8')
    .send({ success: false, error: { code: ErrorCode.VALIDATION_ERROR, message: `Malformed URL: ${err.message}` } } satisfies ErrorEnvelope);
}

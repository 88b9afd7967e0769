import { HttpException, HttpStatus } from '@nestjs/common';
import { isRedisTransientError } from '../../redis/redis-errors';
import { ApiError, DependencyUnavailableError } from './api-error';
import { ErrorCode, ErrorDetail, ErrorEnvelope } from './error-codes';

export interface ErrorResponse {
  status: number;
  body: ErrorEnvelope;
  retryAfterSeconds?: number;
  /** True when the error is a defect on our side (logged at error level). */
  unexpected: boolean;
}

const envelope = (code: ErrorCode, message: string, details?: ErrorDetail[]): ErrorEnvelope => ({
  success: false,
  error: { code, message, ...(details && details.length > 0 ? { details } : {}) },
});

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: ErrorCode.VALIDATION_ERROR,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  408: ErrorCode.REQUEST_TIMEOUT,
  409: ErrorCode.CONFLICT,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  429: ErrorCode.RATE_LIMITED,
  503: ErrorCode.SERVICE_UNAVAILABLE,
};

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
}

/** Names of errors that mean "a dependency is unreachable", whichever client raised them. */
const UNAVAILABLE_ERROR_NAMES = new Set([
  'MongoNetworkError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoNetworkTimeoutError',
  'MaxRetriesPerRequestError',
  'PrismaClientInitializationError',
]);

function isDependencyDown(err: unknown): string | undefined {
  if (err instanceof DependencyUnavailableError) return err.dependency;
  if (!(err instanceof Error)) return undefined;
  if (UNAVAILABLE_ERROR_NAMES.has(err.name)) return err.name.startsWith('Mongo') ? 'MongoDB' : 'A dependency';
  // Lost or refused connections (any client), and Redis stalls or refusals that pass: ioredis's
  // "Command timed out", BUSY, LOADING, OOM… — the same list the worker retries on. A dependency
  // that cannot serve now is a 503 with Retry-After, never a 500.
  if (isRedisTransientError(err)) return 'A dependency';
  return undefined;
}

function fieldOf(v: { instancePath?: string; params?: Record<string, unknown> }, context?: string): string {
  const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const missing = v.params?.missingProperty;
  const leaf = typeof missing === 'string' ? (path ? `${path}.${missing}` : missing) : path;
  return leaf || context || 'body';
}

/** Maps anything thrown while serving a request to the contract's status, code and envelope (§3). */
export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof ApiError) {
    return { status: err.getStatus(), body: err.getResponse() as ErrorEnvelope, retryAfterSeconds: err.retryAfterSeconds, unexpected: false };
  }
  const down = isDependencyDown(err);
  if (down) {
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      body: envelope(ErrorCode.SERVICE_UNAVAILABLE, `${down} is unavailable; nothing was accepted, retry later`),
      retryAfterSeconds: 1,
      unexpected: false,
    };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = STATUS_CODES[status] ?? (status >= 500 ? ErrorCode.INTERNAL_ERROR : ErrorCode.VALIDATION_ERROR);
    const res = err.getResponse();
    let message = err.message;
    if (typeof res === 'object' && res !== null && 'message' in res) {
      const m = (res as { message: unknown }).message;
      message = Array.isArray(m) ? m.join('; ') : String(m);
    }
    if (status === 404) message = 'Route or resource not found';
    if (status >= 500) message = 'Internal error';
    return { status, body: envelope(code, message), retryAfterSeconds: status === 429 ? 60 : undefined, unexpected: status >= 500 };
  }
  const fe = (err ?? {}) as FastifyLikeError;
  if (Array.isArray(fe.validation)) {
    const details = fe.validation.map((v) => ({ field: fieldOf(v, fe.validationContext), message: v.message ?? 'is invalid' }));
    return {
      status: 400,
      body: envelope(ErrorCode.VALIDATION_ERROR, 'Request validation failed', details),
      unexpected: false,
    };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, body: envelope(ErrorCode.VALIDATION_ERROR, fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'Request body is empty' : 'Malformed JSON body'), unexpected: false };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: envelope(ErrorCode.PAYLOAD_TOO_LARGE, 'Request body is too large'), unexpected: false };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return { status: 415, body: envelope(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Content-Type must be application/json'), unexpected: false };
  }
  // JSON.parse errors surface as SyntaxError with statusCode 400 from Fastify's parser.
  if (err instanceof SyntaxError || (fe.statusCode === 400 && fe.message)) {
    return { status: 400, body: envelope(ErrorCode.VALIDATION_ERROR, 'Malformed JSON body'), unexpected: false };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = STATUS_CODES[fe.statusCode] ?? ErrorCode.VALIDATION_ERROR;
    return { status: fe.statusCode, body: envelope(code, fe.message ?? 'Bad request'), unexpected: false };
  }
  return { status: 500, body: envelope(ErrorCode.INTERNAL_ERROR, 'Internal error'), unexpected: true };
}

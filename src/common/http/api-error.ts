import { HttpException, HttpStatus } from '@nestjs/common';
import { ErrorCode, ErrorDetail, ErrorEnvelope } from './error-codes';

/**
 * The one exception type our code throws for a client-visible error: it carries the
 * envelope code and, for 429/503, the Retry-After seconds.
 */
export class ApiError extends HttpException {
  constructor(
    status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly retryAfterSeconds?: number,
  ) {
    super({ success: false, error: { code, message, ...(details ? { details } : {}) } } satisfies ErrorEnvelope, status);
  }

  static validation(message: string, details?: ErrorDetail[]): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_ERROR, message, details);
  }
  static notFound(message = 'Resource not found'): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, ErrorCode.NOT_FOUND, message);
  }
  static unauthorized(message = 'Authentication required'): ApiError {
    return new ApiError(HttpStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, message);
  }
  static forbidden(message = 'Your role does not allow this'): ApiError {
    return new ApiError(HttpStatus.FORBIDDEN, ErrorCode.FORBIDDEN, message);
  }
  static unavailable(dependency: string, retryAfterSeconds = 1): ApiError {
    return new ApiError(
      HttpStatus.SERVICE_UNAVAILABLE,
      ErrorCode.SERVICE_UNAVAILABLE,
      `${dependency} is unavailable; nothing was accepted, retry later`,
      undefined,
      retryAfterSeconds,
    );
  }
  static tooManyRequests(code: 'RATE_LIMITED' | 'BACKPRESSURE', message: string, retryAfterSeconds: number): ApiError {
    return new ApiError(HttpStatus.TOO_MANY_REQUESTS, ErrorCode[code], message, undefined, retryAfterSeconds);
  }
}

/** Thrown by infrastructure adapters when a dependency cannot serve a request; mapped to 503. */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: string,
    cause?: unknown,
  ) {
    super(`${dependency} unavailable`, { cause });
  }
}

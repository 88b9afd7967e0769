import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './api-error';
import { ErrorDetail } from './error-codes';

function flatten(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** class-validator DTOs (everything but the ingestion hot path): unknown fields dropped, 400 names each field. */
export const createValidationPipe = (): ValidationPipe =>
  new ValidationPipe({
    whitelist: true,
    transform: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ApiError.validation('Request validation failed', flatten(errors)),
  });

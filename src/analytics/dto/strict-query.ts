import { createParamDecorator, ExecutionContext, PipeTransform } from '@nestjs/common';
import { ClassConstructor, plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ApiError } from '../../common/http/api-error';
import { ErrorDetail } from '../../common/http/error-codes';

/**
 * The raw query string object. Deliberately outside the global ValidationPipe (which would strip
 * unknown keys silently): analytics must refuse, not ignore, parameters it does not know, such as
 * `eventType[$ne]=x`, and any parameter that arrives as an array or object.
 */
export const RawQuery = createParamDecorator((_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<{ query?: unknown }>().query ?? {});

/** Validates a raw query into `dto`: only known keys, each given once as a plain string. */
export class StrictQueryPipe<T extends object> implements PipeTransform<unknown, T> {
  constructor(private readonly dto: ClassConstructor<T>) {}

  transform(value: unknown): T {
    const raw = (value ?? {}) as Record<string, unknown>;
    const details: ErrorDetail[] = [];
    for (const [key, v] of Object.entries(raw)) {
      if (typeof v !== 'string') details.push({ field: key, message: `${key} must be given once, as a plain value` });
    }
    if (details.length > 0) throw ApiError.validation('Request validation failed', details);
    const instance = plainToInstance(this.dto, raw);
    const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true, validationError: { target: false, value: false } });
    if (errors.length > 0) {
      throw ApiError.validation(
        'Request validation failed',
        errors.flatMap((e) => Object.values(e.constraints ?? { invalid: `${e.property} is invalid` }).map((message) => ({ field: e.property, message }))),
      );
    }
    return instance;
  }
}

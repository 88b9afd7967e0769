import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import type { Principal, RequestWithPrincipal } from '../principal';

/**
 * The authenticated caller (`request.principal`, set by the auth guards):
 * `handler(@CurrentPrincipal() principal: Principal)`. Throws 401 if no guard ran.
 */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<RequestWithPrincipal>().principal;
  if (!principal) throw ApiError.unauthorized();
  return principal;
});

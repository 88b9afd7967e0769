import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError } from '../../common/http/api-error';
import { roleSatisfies, ROLES_KEY } from '../decorators/roles.decorator';
import type { RequestWithPrincipal, Role } from '../principal';

/**
 * Enforces `@Roles(...)` after an authentication guard (list it after ApiKeyGuard /
 * JwtAuthGuard / ApiKeyOrJwtGuard in @UseGuards). No principal → 401; a role below every
 * listed one → 403 FORBIDDEN. Routes without @Roles pass.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const required = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, [context.getHandler(), context.getClass()]);
    if (!required || required.length === 0) return true;
    const principal = context.switchToHttp().getRequest<RequestWithPrincipal>().principal;
    if (!principal) throw ApiError.unauthorized();
    if (!required.some((role) => roleSatisfies(principal.role, role))) throw ApiError.forbidden();
    return true;
  }
}

import { SetMetadata } from '@nestjs/common';
import { Role, ROLES } from '../principal';

export const ROLES_KEY = 'evp:roles';

/**
 * Roles allowed on a route or controller, used with RolesGuard. Roles are ordered
 * VIEWER < OPERATOR < ADMIN and a higher role passes wherever a lower one does:
 * `@Roles('OPERATOR')` admits OPERATOR and ADMIN.
 */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES_KEY, roles);

/** True when `role` is `required` or ranks above it. */
export const roleSatisfies = (role: Role, required: Role): boolean => ROLES.indexOf(role) >= ROLES.indexOf(required);

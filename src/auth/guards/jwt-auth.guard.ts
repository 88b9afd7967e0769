import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../../common/http/api-error';
import { AccessTokenVerifier } from '../credentials/credential-verifiers';
import type { RequestWithPrincipal } from '../principal';
import { bearerTokenFrom } from './credentials';

/**
 * Dashboard users: requires `Authorization: Bearer <JWT>` (HS256 only); a missing, malformed,
 * expired or tampered token, or a disabled user, is 401 UNAUTHORIZED. Sets `request.principal`
 * (kind 'user', with the user's current role).
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(private readonly tokens: AccessTokenVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RequestWithPrincipal & { headers: IncomingHttpHeaders }>();
    const token = bearerTokenFrom(request.headers);
    if (!token) throw ApiError.unauthorized(token === null ? 'Malformed Authorization header' : 'A Bearer token is required');
    const principal = await this.tokens.verify(token);
    if (!principal) throw ApiError.unauthorized('Invalid or expired token');
    request.principal = principal;
    return true;
  }
}

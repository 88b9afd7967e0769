import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../../common/http/api-error';
import { AccessTokenVerifier, ApiKeyVerifier } from '../credentials/credential-verifiers';
import type { Principal, RequestWithPrincipal } from '../principal';
import { invalidApiKey } from './api-key.guard';
import { apiKeyFrom, bearerTokenFrom, clientOf } from './credentials';

/**
 * Analytics and metrics: an API key (`x-api-key`, checked first when present: 401
 * INVALID_API_KEY if bad) or a JWT (401 UNAUTHORIZED if bad). Neither → 401 UNAUTHORIZED.
 */
@Injectable()
export class ApiKeyOrJwtGuard implements CanActivate {
  constructor(
    private readonly apiKeys: ApiKeyVerifier,
    private readonly tokens: AccessTokenVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RequestWithPrincipal & { headers: IncomingHttpHeaders; ip?: string }>();
    request.principal = await this.principalOf(request.headers, clientOf(request));
    return true;
  }

  /**
   * The principal of these headers, or the 401 they deserve. Also used to check an open stream's
   * credential again (GET /api/v1/metrics/live), so both agree on what is still valid.
   */
  async principalOf(headers: IncomingHttpHeaders, client?: string): Promise<Principal> {
    const key = apiKeyFrom(headers);
    if (key) {
      const principal = await this.apiKeys.verify(key, client);
      if (!principal) throw invalidApiKey();
      return principal;
    }
    const token = bearerTokenFrom(headers);
    if (!token) {
      throw ApiError.unauthorized(token === null ? 'Malformed Authorization header' : 'A Bearer token or an x-api-key is required');
    }
    const principal = await this.tokens.verify(token);
    if (!principal) throw ApiError.unauthorized('Invalid or expired token');
    return principal;
  }
}

import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../../common/http/api-error';
import { ErrorCode } from '../../common/http/error-codes';
import { ApiKeyVerifier } from '../credentials/credential-verifiers';
import type { Principal, RequestWithPrincipal } from '../principal';
import { apiKeyFrom, clientOf } from './credentials';

type KeyedRequest = RequestWithPrincipal & { headers: IncomingHttpHeaders; ip?: string };

export const missingApiKey = (): ApiError =>
  new ApiError(HttpStatus.UNAUTHORIZED, ErrorCode.MISSING_API_KEY, 'An API key is required in the x-api-key header');
export const invalidApiKey = (): ApiError =>
  new ApiError(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_API_KEY, 'The API key is unknown, revoked or expired');

/**
 * Ingestion: requires `x-api-key` (401 MISSING_API_KEY / INVALID_API_KEY; 429 RATE_LIMITED for a
 * client past its budget of unknown keys) and puts the key's principal (kind 'apiKey', apiKeyId,
 * owner userId and role) on `request.principal`.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly apiKeys: ApiKeyVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    await this.authenticate(context.switchToHttp().getRequest<KeyedRequest>());
    return true;
  }

  /** The check itself, for routes served by Fastify directly (IngestionRoutes): throws as the guard does. */
  async authenticate(request: KeyedRequest): Promise<Principal> {
    const key = apiKeyFrom(request.headers);
    if (!key) throw missingApiKey();
    const principal = await this.apiKeys.verify(key, clientOf(request));
    if (!principal) throw invalidApiKey();
    request.principal = principal;
    return principal;
  }
}

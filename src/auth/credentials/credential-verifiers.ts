import type { Principal } from '../principal';

/**
 * Ports the guards depend on (narrow, easy to fake in unit tests). `null` means "not a valid
 * credential" (→ 401); a dependency outage throws (→ 503).
 */
export abstract class ApiKeyVerifier {
  /**
   * `client` (the request's IP, see clientOf) bounds the unknown keys it may have looked up in
   * PostgreSQL (→ 429 beyond); without it there is no bound.
   */
  abstract verify(apiKey: string, client?: string): Promise<Principal | null>;
}

export abstract class AccessTokenVerifier {
  abstract verify(token: string): Promise<Principal | null>;
}

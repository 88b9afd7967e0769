import type { Principal } from '../principal';

/**
 * Ports the guards depend on (narrow, easy to fake in unit tests). `null` means "not a valid
 * credential" (→ 401); a dependency outage throws (→ 503).
 */
export abstract class ApiKeyVerifier {
  abstract verify(apiKey: string): Promise<Principal | null>;
}

export abstract class AccessTokenVerifier {
  abstract verify(token: string): Promise<Principal | null>;
}

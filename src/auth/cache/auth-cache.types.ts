import type { Role } from '../principal';

export type UserStatus = 'ACTIVE' | 'DISABLED';

/** What a JWT check needs to know about a user (no secrets). */
export interface UserSnapshot {
  id: string;
  email: string;
  name: string;
  role: Role;
  status: UserStatus;
  /** users.session_version: a JWT carries the one it was issued at and dies when it changes. */
  sessionVersion: number;
}

/**
 * What an API key check needs, denormalised with the owner's role and status so that one
 * Redis GET answers the whole question.
 */
export type ApiKeySnapshot =
  | { state: 'valid'; id: string; userId: string; email: string; role: Role; status: UserStatus; expiresAt: number | null }
  | { state: 'revoked' }
  | { state: 'unknown' };

/**
 * Cache entries carry a version; a write never replaces a higher one (see AuthCacheStore).
 * unknown < any user state (users.auth_version + 1) < revoked (terminal).
 */
export const VERSION_UNKNOWN = 0;
export const VERSION_REVOKED = 2 ** 52;
export const userStateVersion = (authVersion: number): number => authVersion + 1;

export interface Versioned<T> {
  version: number;
  value: T;
}

import type { Role } from '../principal';
import {
  ApiKeySnapshot,
  UserSnapshot,
  UserStatus,
  userStateVersion,
  VERSION_REVOKED,
  VERSION_UNKNOWN,
  Versioned,
} from './auth-cache.types';

/** The user columns the caches need (select exactly these from PostgreSQL). */
export const USER_STATE_SELECT = { id: true, email: true, name: true, role: true, status: true, authVersion: true, sessionVersion: true } as const;
export const API_KEY_STATE_SELECT = { id: true, userId: true, expiresAt: true, revokedAt: true } as const;

export interface UserStateRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  status: UserStatus;
  authVersion: number;
  sessionVersion: number;
}

export interface ApiKeyStateRow {
  id: string;
  userId: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export const UNKNOWN_API_KEY: Versioned<ApiKeySnapshot> = { version: VERSION_UNKNOWN, value: { state: 'unknown' } };
export const REVOKED_API_KEY: Versioned<ApiKeySnapshot> = { version: VERSION_REVOKED, value: { state: 'revoked' } };

export function userSnapshot(user: UserStateRow): Versioned<UserSnapshot> {
  const { id, email, name, role, status, sessionVersion } = user;
  return { version: userStateVersion(user.authVersion), value: { id, email, name, role, status, sessionVersion } };
}

export function apiKeySnapshot(key: ApiKeyStateRow, owner: UserStateRow): Versioned<ApiKeySnapshot> {
  if (key.revokedAt) return REVOKED_API_KEY;
  return {
    version: userStateVersion(owner.authVersion),
    value: {
      state: 'valid',
      id: key.id,
      userId: key.userId,
      email: owner.email,
      role: owner.role,
      status: owner.status,
      expiresAt: key.expiresAt ? key.expiresAt.getTime() : null,
    },
  };
}

/** What a process runs. Decided in main.ts before Nest builds the module graph. */
export const APP_ROLES = ['api', 'worker', 'all'] as const;
export type AppRole = (typeof APP_ROLES)[number];

/** Injection token for the process role (e.g. a health check that differs per role). */
export const APP_ROLE = Symbol('APP_ROLE');

export class InvalidRoleError extends Error {}

export function parseRole(value: string | undefined): AppRole {
  const role = (value ?? 'all').trim().toLowerCase();
  if ((APP_ROLES as readonly string[]).includes(role)) return role as AppRole;
  throw new InvalidRoleError(`ROLE must be one of: ${APP_ROLES.join(', ')}`);
}

export const servesApi = (role: AppRole): boolean => role === 'api' || role === 'all';
export const runsWorker = (role: AppRole): boolean => role === 'worker' || role === 'all';

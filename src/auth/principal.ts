/** User roles, lowest to highest privilege (contract §5). */
export const ROLES = ['VIEWER', 'OPERATOR', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who is calling, put on the request (`request.principal`) by the auth guards:
 * an API key (ingestion, analytics) or a logged-in user (JWT).
 */
export interface Principal {
  kind: 'apiKey' | 'user';
  /** Owner of the key, or the logged-in user. */
  userId: string;
  role: Role;
  /** Set when kind = 'apiKey'. */
  apiKeyId?: string;
  email?: string;
}

export interface RequestWithPrincipal {
  principal?: Principal;
}

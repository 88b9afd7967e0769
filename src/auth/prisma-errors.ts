import { DependencyUnavailableError } from '../common/http/api-error';

/**
 * Prisma error codes meaning "PostgreSQL cannot be reached or did not answer": connection refused
 * or lost, timeouts, pool exhausted. Requests then get 503 + Retry-After (contract §3).
 */
const UNAVAILABLE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);
const UNAVAILABLE_NAMES = new Set(['PrismaClientInitializationError', 'PrismaClientRustPanicError', 'DriverAdapterError']);

export function isPostgresUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (UNAVAILABLE_NAMES.has(err.name)) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  // pg and pg-pool errors that escape Prisma's mapping, here or in the cause it wraps: socket
  // closed mid-query; no connection free in time ("timeout exceeded when trying to connect"); no
  // answer in time (query_timeout, statement_timeout); a server shutting down or starting up
  // (57P01-57P03), which the adapter passes on as a generic database error.
  const cause = (err as { cause?: unknown }).cause;
  const text = `${err.message} ${cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : ''}`;
  return UNAVAILABLE_MESSAGE.test(text);
}

const UNAVAILABLE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|canceling statement due to statement timeout|terminating connection due to administrator command|the database system is (starting up|shutting down|in recovery mode)|57P0[123]/i;

/** Runs a PostgreSQL operation; an outage becomes DependencyUnavailableError (→ 503). */
export async function postgres<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (isPostgresUnavailable(err)) throw new DependencyUnavailableError('PostgreSQL', err);
    throw err;
  }
}

/** Unique constraint violation (P2002), e.g. a duplicate email. */
export const isUniqueViolation = (err: unknown): boolean =>
  err instanceof Error && (err as { code?: unknown }).code === 'P2002';

/** A short, secret-free description of a database error for logs (code and kind, no query text). */
export function describeDbError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const lines = err.message.split('\n').map((l) => l.trim()).filter(Boolean);
  const last = lines[lines.length - 1] ?? err.name;
  return typeof code === 'string' ? `${code}: ${last}` : `${err.name}: ${last}`;
}

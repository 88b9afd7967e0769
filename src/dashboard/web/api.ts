import { SseParser } from './sse-reader.js';

const TOKEN_KEY = 'evp.dashboard.token';

/** The API said 401: the token is missing, expired or revoked. */
export class UnauthorizedError extends Error {}

/** The API could not be reached at all (network error, connection refused, proxy 502/504). */
export class ApiUnreachableError extends Error {}

/** Any other error answer, with the contract's envelope code when there is one. */
export class ApiResponseError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The JWT lives in sessionStorage: it survives a reload of this tab, dies with the tab, is never
 * put in a URL and is sent only in the Authorization header.
 */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

async function errorOf(res: Response): Promise<Error> {
  if (res.status === 401) return new UnauthorizedError('Your session has expired or is no longer valid; sign in again.');
  let code = `HTTP_${res.status}`;
  let message = res.statusText || 'Request failed';
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not JSON (e.g. a proxy's error page)
  }
  if (res.status === 502 || res.status === 504) return new ApiUnreachableError(`The API is not reachable (${res.status}).`);
  return new ApiResponseError(res.status, code, message);
}

async function request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = session.token;
  if (auth && token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ApiUnreachableError('The API is not reachable.');
  }
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  const json = (await res.json()) as { data: T };
  return json.data;
}

export type Role = 'VIEWER' | 'OPERATOR' | 'ADMIN';

export interface Me {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface AnalyticsMetrics {
  totalEvents: number;
  timeRange: { start: string; end: string };
  eventsByType: Array<{ eventType: string; count: number; percentage: number }>;
  topUsers: Array<{ userId: string; eventCount: number; lastEventAt: string | null; eventTypes: string[] }>;
  eventsOverTime: Array<{ timestamp: string; count: number }>;
  avgEventsPerUser: number;
  uniqueUsers: number;
  uniqueSessions: number;
}

export interface LiveMessage {
  timestamp: string;
  ingestRate: number;
  processRate: number | null;
  backlog: number;
  dlqSize: number | null;
  streamLength: number;
  pending: number;
  sampledAt: string | null;
  stale: boolean;
}

export interface ReplayResult {
  replayed: string[];
  skipped: Array<{ id: string; reason: string }>;
  notFound: string[];
  remaining: number;
}

export const api = {
  login: (email: string, password: string) =>
    request<{ token: string; expiresIn: number; user: Me }>('POST', '/api/auth/login', { email, password }, false),
  me: () => request<Me>('GET', '/api/auth/me'),
  analytics: (timeRange: string) => request<AnalyticsMetrics>('GET', `/api/v1/analytics/metrics?timeRange=${encodeURIComponent(timeRange)}`),
  replayDlq: () => request<ReplayResult>('POST', '/api/v1/dlq/replay', { all: true }),
};

/**
 * Reads GET /api/v1/metrics/live until it ends, the signal aborts, or it fails. Resolves when the
 * server ends the stream (the caller reconnects); rejects with the errors above.
 */
export async function readLive(onMessage: (m: LiveMessage) => void, signal: AbortSignal): Promise<void> {
  const token = session.token;
  let res: Response;
  try {
    res = await fetch('/api/v1/metrics/live', {
      headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (signal.aborted) return;
    throw new ApiUnreachableError('The API is not reachable.');
  }
  if (!res.ok || !res.body) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const ev of parser.push(value)) onMessage(JSON.parse(ev.data) as LiveMessage);
    }
  } catch (err) {
    if (signal.aborted) return;
    throw new ApiUnreachableError('The live stream was interrupted.');
  } finally {
    reader.releaseLock();
  }
}

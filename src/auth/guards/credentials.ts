import { normalizeIp } from '@nestjs/throttler';
import type { IncomingHttpHeaders } from 'node:http';

/** The client a request is counted as for rate limits: its IP (TRUST_PROXY applied), IPv6 per /64. */
export function clientOf(request: { ip?: unknown }): string {
  return normalizeIp(String(request.ip ?? 'unknown'), 64);
}

/** The x-api-key header, or undefined when absent or empty. */
export function apiKeyFrom(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['x-api-key'];
  const key = Array.isArray(value) ? value[0] : value;
  return key ? key.trim() || undefined : undefined;
}

/**
 * The token of `Authorization: Bearer <token>`; `null` when the header is there but is not a
 * bearer token (malformed → 401), undefined when absent.
 */
export function bearerTokenFrom(headers: IncomingHttpHeaders): string | null | undefined {
  const value = headers.authorization;
  if (value === undefined || value === '') return undefined;
  const match = /^Bearer[ ]+([A-Za-z0-9_.~+/=-]+)\s*$/i.exec(value);
  return match ? match[1] : null;
}

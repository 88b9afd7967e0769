import { existsSync } from 'node:fs';
import path from 'node:path';
import { Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { filesBelow, mountStaticFiles } from './static-files';

/** URL prefix of the dashboard. */
export const DASHBOARD_PREFIX = '/dashboard/';

/**
 * Where `npm run build` (scripts/build-dashboard.js) puts the page: dist/dashboard/public. Resolved
 * from the repository root so the same path works from dist/ (node dist/main.js) and from src/
 * (tests run the TypeScript sources).
 */
export const DASHBOARD_ROOT = path.resolve(__dirname, '..', '..', 'dist', 'dashboard', 'public');

/**
 * Everything the page loads comes from here: no CDN, no inline script, no framing. The API is the
 * same origin (connect-src 'self' covers fetch() and the live stream).
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Serves the dashboard's static files at /dashboard/ (ROLE=api/all). The page itself only calls the
 * public API with the user's JWT; there is no server-side logic here.
 */
@Module({})
export class DashboardModule implements OnModuleInit {
  private readonly logger = new Logger('dashboard');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify || typeof fastify.route !== 'function') return;
    if (!existsSync(path.join(DASHBOARD_ROOT, 'index.html'))) {
      this.logger.warn({ root: DASHBOARD_ROOT }, 'dashboard assets are not built (npm run build); /dashboard answers 404');
      return;
    }
    mountStaticFiles(fastify, {
      prefix: DASHBOARD_PREFIX,
      // Listed once at start: files added to the folder later are not served until a restart.
      files: filesBelow(DASHBOARD_ROOT, (rel) => !rel.endsWith('.map')),
      headers: { 'content-security-policy': DASHBOARD_CSP, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' },
    });
  }
}

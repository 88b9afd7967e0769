import { existsSync } from 'node:fs';
import path from 'node:path';
import { Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

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
    if (!fastify || typeof fastify.register !== 'function') return;
    if (!existsSync(path.join(DASHBOARD_ROOT, 'index.html'))) {
      this.logger.warn({ root: DASHBOARD_ROOT }, 'dashboard assets are not built (npm run build); /dashboard answers 404');
      return;
    }
    void fastify.register(fastifyStatic, {
      root: DASHBOARD_ROOT,
      prefix: DASHBOARD_PREFIX,
      // /dashboard → /dashboard/ so the page's relative asset URLs resolve.
      redirect: true,
      decorateReply: false,
      index: ['index.html'],
      setHeaders: (reply: FastifyReply) => {
        void reply
          .header('content-security-policy', DASHBOARD_CSP)
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          // Small files, rebuilt with the app: revalidate every time instead of serving stale code.
          .header('cache-control', 'no-cache');
      },
    });
  }
}

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

export interface StaticMountOptions {
  /** URL prefix with a trailing slash, e.g. `/dashboard/`. */
  prefix: string;
  /** Files to serve: URL path below the prefix → absolute file path, or the content itself. */
  files: Map<string, string | Buffer>;
  /** Headers added to every answer (e.g. a Content-Security-Policy). */
  headers?: Record<string, string>;
}

/** Every file below `root` (recursively), as `relative/url/path` → absolute path. */
export function filesBelow(root: string, only?: (rel: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const abs = path.join(dir, name);
      if (statSync(abs).isDirectory()) walk(abs);
      else {
        const rel = path.relative(root, abs).split(path.sep).join('/');
        if (!only || only(rel)) out.set(rel, abs);
      }
    }
  };
  walk(root);
  return out;
}

/**
 * Serves a fixed set of small files (listed when the app starts) under a prefix: GET and HEAD,
 * `prefix` and `prefix/` give index.html, with an ETag and `no-cache` so a rebuilt app is picked up
 * at once. Only listed files exist: no path is ever joined from the URL, so nothing outside the
 * list can be reached. (@fastify/static would do, but its ESM-only dependency cannot be loaded by
 * the Jest runtime the tests use.)
 */
export function mountStaticFiles(fastify: FastifyInstance, options: StaticMountOptions): void {
  const cache = new Map<string, StaticFile>();
  const load = (rel: string): StaticFile | undefined => {
    const hit = cache.get(rel);
    if (hit) return hit;
    const source = options.files.get(rel);
    if (source === undefined) return undefined;
    const body = Buffer.isBuffer(source) ? source : readFileSync(source);
    const file = {
      body,
      type: TYPES[path.extname(rel)] ?? 'application/octet-stream',
      etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
    };
    cache.set(rel, file);
    return file;
  };
  const send = (rel: string, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const file = load(rel);
    if (!file) return undefined;
    void reply.header('content-type', file.type).header('etag', file.etag).header('cache-control', 'no-cache');
    void reply.header('x-content-type-options', 'nosniff');
    for (const [k, v] of Object.entries(options.headers ?? {})) void reply.header(k, v);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.send(file.body);
  };
  const base = options.prefix.replace(/\/$/, '');

  fastify.route({
    method: ['GET', 'HEAD'],
    url: base,
    // /dashboard → /dashboard/ so the page's relative URLs resolve below the prefix.
    handler: (request, reply) => reply.redirect(`${options.prefix}${request.url.slice(base.length)}`, 301),
  });
  fastify.route({
    method: ['GET', 'HEAD'],
    url: `${options.prefix}*`,
    handler: (request, reply) => {
      const rel = ((request.params as { '*'?: string })['*'] ?? '').split('?')[0];
      const answered = send(rel === '' ? 'index.html' : rel, request, reply);
      if (answered) return answered;
      return reply.code(404).type('application/json').send({ success: false, error: { code: 'NOT_FOUND', message: 'Not found' } });
    },
  });
}

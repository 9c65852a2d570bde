/**
 * The dashboard page's routes: GET / and GET /dashboard → dashboard/index.html, GET /dashboard/assets/NAME → a file
 * listed at start-up (static-files.ts). Nothing else under /dashboard answers (404 as any unknown path).
 *
 * These paths need no bearer token: a browser cannot attach one to a page load, and the files hold no data. Every
 * JSON endpoint the page then calls (/api/dashboard/*) does need it, so with --auth_token_file the page asks for the
 * token and sends it itself.
 *
 * Headers: `cache-control: no-cache` with a strong ETag (a reload revalidates and gets 304, a new build is seen at
 * once); `x-content-type-options: nosniff`; and a Content-Security-Policy that allows only this origin — so the
 * page can never load from a CDN, and scripts must be files under assets/ (no inline <script>; inline styles are
 * allowed).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardFiles, StaticFile } from './static-files.js';

export const PAGE_PATHS = ['/', '/dashboard', '/dashboard/'] as const;
const ASSET_PREFIX = '/dashboard/assets/';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Whether `url` is one of the page's paths (answered without credentials). */
export function isDashboardPagePath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return (PAGE_PATHS as readonly string[]).includes(path) || path.startsWith(ASSET_PREFIX);
}

function sendFile(request: FastifyRequest, reply: FastifyReply, file: StaticFile | undefined): FastifyReply {
  if (!file) return reply.callNotFound() as unknown as FastifyReply;
  reply
    .header('cache-control', 'no-cache')
    .header('etag', file.etag)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', CONTENT_SECURITY_POLICY);
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.type(file.contentType).send(file.body);
}

/** Registers the page's routes (GET, and HEAD through fastify's automatic HEAD routes). */
export function registerPageRoutes(app: FastifyInstance, files: DashboardFiles): void {
  for (const path of PAGE_PATHS) {
    app.get(path, async (request, reply) => sendFile(request, reply, files.index));
  }
  app.get<{ Params: { name: string } }>(`${ASSET_PREFIX}:name`, async (request, reply) =>
    sendFile(request, reply, files.assets.get(request.params.name)),
  );
}

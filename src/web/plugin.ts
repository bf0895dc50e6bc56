/**
 * Serves the built dashboard (src/web/dist, made by `npm run build:web`) at `/` and
 * `/assets/*`, with no auth: the page itself asks for a token and sends it on every API
 * call. Registers nothing else, so /api, /health, /ready, /metrics, /openapi.json,
 * /asyncapi.json and /schemas/ stay with their own routes.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { requireIdentity, type ApiPlugin, type ZodTypeProvider } from '../api/index.ts';
import { reportStyleCspSource } from '../scenario/index.ts';

export const defaultDistDir = fileURLToPath(new URL('./dist/', import.meta.url));

export interface WebPluginOptions {
  /** The vite build output; default src/web/dist. */
  distDir?: string;
}

/**
 * Only our own origin; no inline script or style. `blob:` lets the page show report charts and
 * hand out downloads it fetched with the bearer token. A scenario report opened from the page is
 * a blob document, which inherits this policy: its one <style> is allowed by its hash.
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  `style-src 'self' ${reportStyleCspSource}`,
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(reply: FastifyReply): void {
  void reply.header('content-security-policy', contentSecurityPolicy);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('x-frame-options', 'DENY');
}

const notBuilt = (dist: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Querstrom: dashboard not built</title></head>` +
  `<body><main><h1>The dashboard is not built</h1><p>Run <code>npm run build:web</code> (it writes ${dist.replace(/[<>&]/g, '')}), then reload. The HTTP API under /api/v1 works without it.</p></main></body></html>`;

/** Public plugin: pass it in `publicPlugins` of buildApi. */
export function webPlugin(options: WebPluginOptions = {}): ApiPlugin {
  const dist = options.distDir ?? defaultDistDir;
  return async (app: FastifyInstance) => {
    app.addHook('onSend', async (_request, reply) => securityHeaders(reply));

    const sendIndex = async (_request: unknown, reply: FastifyReply) => {
      // Read per request: a rebuild while the server runs is picked up without a restart.
      const html = await readFile(join(dist, 'index.html'), 'utf8').catch(() => undefined);
      void reply.header('cache-control', 'no-cache');
      if (html === undefined) return reply.code(503).type('text/html; charset=utf-8').send(notBuilt(dist));
      return reply.type('text/html; charset=utf-8').send(html);
    };
    app.get('/', { schema: { hide: true } }, sendIndex);
    app.get('/index.html', { schema: { hide: true } }, sendIndex);

    const assets = join(dist, 'assets');
    if (existsSync(assets)) {
      // File names carry a content hash, so browsers may keep them for good.
      await app.register(fastifyStatic, { root: assets, prefix: '/assets/', decorateReply: false, index: false, immutable: true, maxAge: '365d', wildcard: true });
    } else {
      app.get('/assets/*', { schema: { hide: true } }, async (_request, reply) => reply.code(503).type('text/plain; charset=utf-8').send('dashboard not built: run npm run build:web'));
    }
  };
}

export const sessionSchema = z
  .object({ tenant: z.string(), role: z.enum(['read', 'admin']) })
  .meta({ id: 'Session', description: 'Who the bearer token belongs to' });

/**
 * Authenticated plugin (pass it in `plugins`): `GET /api/v1/session` tells the dashboard the
 * token's tenant and role, so it can offer admin-only controls only to admins.
 */
export const sessionPlugin: ApiPlugin = async (app: FastifyInstance) => {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/session',
    { schema: { summary: 'Tenant and role of the bearer token', tags: ['operations'], response: { 200: sessionSchema } } },
    async (request) => {
      const { tenant, role } = requireIdentity(request);
      return { tenant, role };
    },
  );
};

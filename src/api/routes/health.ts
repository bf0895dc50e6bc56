/** Liveness, readiness and Prometheus metrics: no auth, so probes and scrapers need no token. */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { healthSchema, readinessSchema } from '../schemas.ts';
import type { ZodTypeProvider } from '../zod-bridge.ts';

export async function healthRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/health', { schema: { summary: 'Liveness: the process answers', tags: ['operations'], response: { 200: healthSchema } } }, async () => ({
    status: 'ok' as const,
    uptime_s: Math.round(process.uptime() * 10) / 10,
  }));

  r.get(
    '/ready',
    { schema: { summary: 'Readiness: every dependency is up', tags: ['operations'], response: { 200: readinessSchema, 503: readinessSchema } } },
    async (request, reply) => {
      let result: { ready: boolean; checks: Record<string, boolean> };
      try {
        result = await deps.ready();
      } catch (err) {
        request.log.warn({ err }, 'readiness check threw');
        result = { ready: false, checks: {} };
      }
      return reply.code(result.ready ? 200 : 503).send(result);
    },
  );

  r.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics of this process', tags: ['operations'], produces: 'text/plain; version=0.0.4' } },
    async (_request, reply) => {
      const text = await deps.metrics.metrics();
      return reply.type(deps.metrics.contentType).send(text);
    },
  );
}

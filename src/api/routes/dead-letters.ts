/** Rejected messages with their reasons: what a gateway engineer looks at first. */
import type { FastifyInstance } from 'fastify';
import { requireIdentity } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { deadLetterListSchema, deadLetterQuerySchema, errorSchema } from '../schemas.ts';
import type { ZodTypeProvider } from '../zod-bridge.ts';

export async function deadLetterRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/dead-letters',
    {
      schema: {
        summary: 'Rejected messages, newest first, with topic, reason and payload excerpt',
        tags: ['devices'],
        querystring: deadLetterQuerySchema,
        response: { 200: deadLetterListSchema, 400: errorSchema, 401: errorSchema },
      },
    },
    async (request) => {
      const { tenant } = requireIdentity(request);
      const q = request.query;
      const letters = await deps.store.deadLetters({ tenant, device: q.device, since: q.since, limit: q.limit });
      const own = letters.filter((l) => l.tenant === tenant).sort((a, b) => b.receivedAt - a.receivedAt);
      return {
        deadLetters: own.map((l) => ({ device: l.device, topic: l.topic, reason: l.reason, excerpt: l.excerpt, receivedAt: l.receivedAt })),
      };
    },
  );
}

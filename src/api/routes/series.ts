/** Raw ranges, time-bucket aggregates and latest values, always for the token's tenant. */
import type { FastifyInstance } from 'fastify';
import { requireIdentity } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { aggregateQuerySchema, aggregateSchema, errorSchema, latestQuerySchema, latestSchema, seriesQuerySchema, seriesSchema } from '../schemas.ts';
import { sendSliced } from '../sliced-json.ts';
import type { ZodTypeProvider } from '../zod-bridge.ts';
import type { Reading } from '../../store/types.ts';

const errors = { 400: errorSchema, 401: errorSchema };

/** Drops the tenant (the caller knows it) and anything a store might add beyond the contract. */
function readingView(r: Reading) {
  return { device: r.device, metric: r.metric, ts: r.ts, value: r.value, unit: r.unit };
}

export async function seriesRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/series',
    { schema: { summary: 'Raw readings in a time range, oldest first', tags: ['series'], querystring: seriesQuerySchema, response: { 200: seriesSchema, ...errors } } },
    async (request, reply) => {
      const { tenant } = requireIdentity(request);
      const q = request.query;
      // One row more than asked tells whether the answer was cut off.
      const rows = await deps.store.queryRange({ tenant, device: q.device, metric: q.metric, from: q.from, to: q.to, limit: q.limit + 1 });
      const own = rows.filter((row) => row.tenant === tenant);
      const envelope = { from: q.from, to: q.to, limit: q.limit, truncated: own.length > q.limit };
      return sendSliced(reply, seriesSchema, envelope, 'readings', own.slice(0, q.limit), readingView);
    },
  );

  r.get(
    '/series/aggregate',
    {
      schema: {
        summary: 'Time-bucket aggregates (avg, min, max, last) of one device metric',
        tags: ['series'],
        querystring: aggregateQuerySchema,
        response: { 200: aggregateSchema, ...errors },
      },
    },
    async (request) => {
      const { tenant } = requireIdentity(request);
      const q = request.query;
      const buckets = await deps.store.queryAggregate({ tenant, device: q.device, metric: q.metric, from: q.from, to: q.to, bucketMs: q.bucket, fns: q.fn });
      return { device: q.device, metric: q.metric, from: q.from, to: q.to, bucketMs: q.bucket, fns: q.fn, buckets };
    },
  );

  r.get(
    '/latest',
    { schema: { summary: 'The newest reading per device and metric', tags: ['series'], querystring: latestQuerySchema, response: { 200: latestSchema, ...errors } } },
    async (request, reply) => {
      const { tenant } = requireIdentity(request);
      const rows = await deps.store.latest({ tenant, device: request.query.device, metric: request.query.metric });
      return sendSliced(reply, latestSchema, {}, 'readings', rows.filter((row) => row.tenant === tenant), readingView);
    },
  );
}

/** Request duration and count by route pattern (not raw URL, so label cardinality stays bounded). */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

const labelNames = ['method', 'route', 'status_code'] as const;

function httpMetrics(registry: Registry) {
  // Reuse instruments when the API is built twice on one registry (tests, reloads).
  const duration =
    (registry.getSingleMetric('querstrom_http_request_duration_seconds') as Histogram<(typeof labelNames)[number]> | undefined) ??
    new Histogram({
      name: 'querstrom_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  const requests =
    (registry.getSingleMetric('querstrom_http_requests_total') as Counter<(typeof labelNames)[number]> | undefined) ??
    new Counter({ name: 'querstrom_http_requests_total', help: 'HTTP requests by route and status', labelNames, registers: [registry] });
  return { duration, requests };
}

export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const m = httpMetrics(registry);
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    };
    m.duration.observe(labels, reply.elapsedTime / 1000);
    m.requests.inc(labels);
  });
}

/**
 * The HTTP API. Built like fastify's own lib/: small encapsulated plugins per route group,
 * root-level concerns (zod bridge, errors, metrics, request ids) installed once, and one
 * authenticated scope under /api/v1 where the bearer token decides the tenant.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { LiveServer } from '../contract/generate.ts';
import { installBearerAuth } from './auth.ts';
import type { ApiDeps, ApiPlugin } from './deps.ts';
import { installErrorHandling } from './errors.ts';
import { installHttpMetrics } from './http-metrics.ts';
import { collectRoutes, openApiRoute } from './openapi.ts';
import { contractRoutes } from './routes/contract.ts';
import { deadLetterRoutes } from './routes/dead-letters.ts';
import { deviceRoutes } from './routes/devices.ts';
import { healthRoutes } from './routes/health.ts';
import { seriesRoutes } from './routes/series.ts';
import { installZodCompilers } from './zod-bridge.ts';

export type { ApiDeps, ApiPlugin, DeviceAdmin } from './deps.ts';
export { requireIdentity } from './auth.ts';
export { ApiError, notFound } from './errors.ts';
export type { ZodTypeProvider } from './zod-bridge.ts';
export { buildOpenApiDocument } from './openapi.ts';
export * as apiSchemas from './schemas.ts';

export const API_PREFIX = '/api/v1';

export interface BuildApiOptions {
  /** Mounted under /api/v1 behind bearer auth; take the tenant from `requireIdentity(request)`. */
  plugins?: ApiPlugin[];
  /** Mounted at the root with no auth (for example the dashboard's static files). */
  publicPlugins?: ApiPlugin[];
  /** Serve HTTPS with this key and certificate. */
  https?: { key: Buffer; cert: Buffer };
  /** The embedded broker, so that /asyncapi.json names its listeners as they are. */
  broker?: Omit<LiveServer, 'host'>;
}

const incomingRequestId = /^[A-Za-z0-9._:-]{1,64}$/;

/** Builds the app without listening; the caller runs `app.listen()` and `app.close()`. */
export async function buildApi(deps: ApiDeps, options: BuildApiOptions = {}): Promise<FastifyInstance> {
  // Bearer tokens must never reach a log line, whatever the caller's logger redacts.
  const log = deps.log.child(
    {},
    { redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization'], censor: '[redacted]' } },
  );
  const app = Fastify({
    ...(options.https ? { https: options.https } : {}),
    loggerInstance: log,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && incomingRequestId.test(given) ? given : randomUUID();
    },
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 300 },
  }) as unknown as FastifyInstance;

  installZodCompilers(app);
  installErrorHandling(app);
  installHttpMetrics(app, deps.metrics);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  const routes = collectRoutes(app);

  await app.register(async (scope) => healthRoutes(scope, deps));
  await app.register(async (scope) => openApiRoute(scope, routes, { securedPrefix: API_PREFIX }));
  await app.register(async (scope) => contractRoutes(scope, options.broker));
  await app.register(
    async (v1) => {
      installBearerAuth(v1, deps.tokens);
      await v1.register(async (scope) => deviceRoutes(scope, deps));
      await v1.register(async (scope) => seriesRoutes(scope, deps));
      await v1.register(async (scope) => deadLetterRoutes(scope, deps));
      for (const plugin of options.plugins ?? []) await v1.register(async (scope) => plugin(scope, deps));
    },
    { prefix: API_PREFIX },
  );
  for (const plugin of options.publicPlugins ?? []) await app.register(async (scope) => plugin(scope, deps));
  return app;
}

/**
 * The OpenAPI 3.1 document, generated from the routes as registered: each route's zod
 * schemas become its parameters, body and responses, and the named schemas in
 * `apiComponents` become `components.schemas` (via `z.toJSONSchema`). Routes added by
 * later plugins show up without further work.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { z } from 'zod';
import { apiComponents } from './schemas.ts';
import { isZodSchema, type ZodTypeProvider } from './zod-bridge.ts';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
    /** Left out of the document (aliases such as the wildcard device route). */
    hide?: boolean;
    /** Media type of a non-JSON 200 response, e.g. the Prometheus text format. */
    produces?: string;
    /** Media type of a non-JSON request body, e.g. a CSV list. */
    consumes?: string;
  }
}

export interface CollectedRoute {
  method: string;
  url: string;
  schema: FastifySchema | undefined;
}

type Json = Record<string, unknown>;
type JsonSchema = Record<string, unknown>;

const componentUri = (id: string) => `#/components/schemas/${id}`;

const statusText: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '400': 'Invalid request; `field` names the parameter at fault',
  '401': 'Missing, malformed or invalid bearer token',
  '403': 'The token lacks the role this operation needs',
  '404': 'Not found (or not visible to this token)',
  '409': 'Conflict with the current state',
  '500': 'Internal error; quote `requestId`',
  '503': 'Not ready',
};

function stripKeys(schema: JsonSchema, ...keys: string[]): JsonSchema {
  const out = { ...schema };
  for (const k of keys) delete out[k];
  return out;
}

/** Rewrites `#/$defs/X` refs (from schemas converted one at a time) to components. */
function rewriteDefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteDefs);
  if (node && typeof node === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/') ? componentUri(v.slice('#/$defs/'.length)) : rewriteDefs(v);
    }
    return out;
  }
  return node;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export interface OpenApiOptions {
  /** Routes under this prefix need a bearer token. */
  securedPrefix: string;
  title?: string;
}

export function buildOpenApiDocument(routes: readonly CollectedRoute[], options: OpenApiOptions): Json {
  const components = z.toJSONSchema(apiComponents, { uri: componentUri, io: 'output' }).schemas;
  const schemas: Record<string, JsonSchema> = {};
  for (const [id, s] of Object.entries(components)) schemas[id] = stripKeys(s as JsonSchema, '$schema', '$id');

  /** A schema as a `$ref` when it is a named component, else inline (its own $defs hoisted). */
  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const id = apiComponents.get(schema)?.id;
    if (id && io === 'output') return { $ref: componentUri(id) };
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    for (const [defId, def] of Object.entries(defs)) schemas[defId] ??= rewriteDefs(def) as JsonSchema;
    return rewriteDefs(stripKeys(json, '$schema', '$defs')) as JsonSchema;
  };

  const parameters = (schema: unknown, location: 'query' | 'path'): Json[] => {
    if (!isZodSchema(schema)) return [];
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
    return Object.entries(json.properties ?? {}).map(([name, prop]) => ({
      name,
      in: location,
      required: location === 'path' || (json.required ?? []).includes(name),
      ...(typeof prop.description === 'string' ? { description: prop.description } : {}),
      schema: rewriteDefs(stripKeys(prop, 'description')),
    }));
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const schema = route.schema ?? {};
    if (schema.hide || route.method === 'HEAD' || route.url.includes('*')) continue;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const secured = route.url.startsWith(options.securedPrefix);
    const method = route.method.toLowerCase();

    const responses: Record<string, Json> = {};
    for (const [code, rs] of Object.entries((schema.response ?? {}) as Record<string, unknown>)) {
      responses[code] = {
        description: statusText[code] ?? 'Response',
        ...(isZodSchema(rs) ? { content: { 'application/json': { schema: toSchema(rs, 'output') } } } : {}),
      };
    }
    if (schema.produces) responses['200'] = { description: 'OK', content: { [schema.produces]: { schema: { type: 'string' } } } };
    const errorRef = { content: { 'application/json': { schema: { $ref: componentUri('Error') } } } };
    if (secured) {
      responses['401'] ??= { description: statusText['401'], ...errorRef };
      if (!['get', 'options'].includes(method)) responses['403'] ??= { description: statusText['403'], ...errorRef };
    }
    if (Object.keys(responses).length === 0) responses.default = { description: 'Response' };

    const operation: Json = {
      operationId: method + path.replace(/[{}]/g, '').split(/[^A-Za-z0-9]+/).filter(Boolean).map((p) => p[0]!.toUpperCase() + p.slice(1)).join(''),
      ...(schema.summary ? { summary: schema.summary } : {}),
      ...(schema.description ? { description: schema.description } : {}),
      ...(schema.tags ? { tags: schema.tags } : {}),
      security: secured ? [{ bearer: [] }] : [],
    };
    const params = [...parameters(schema.params, 'path'), ...parameters(schema.querystring, 'query')];
    if (params.length) operation.parameters = params;
    if (isZodSchema(schema.body)) operation.requestBody = { required: true, content: { [schema.consumes ?? 'application/json']: { schema: toSchema(schema.body, 'input') } } };
    operation.responses = responses;
    (paths[path] ??= {})[method] = operation;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'Querstrom HTTP API',
      version: packageVersion(),
      description: 'Devices, readings and dead letters of one tenant. The bearer token decides the tenant; no request can name another.',
      license: { name: 'AGPL-3.0-or-later', identifier: 'AGPL-3.0-or-later' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API token issued per tenant with role read or admin' } },
    },
  };
}

const documentSchema = z.looseObject({ openapi: z.string(), info: z.record(z.string(), z.unknown()), paths: z.record(z.string(), z.unknown()) });

/** Call on the root instance before any route is registered, so every route is seen. */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      routes.push({ method, url: route.url, schema: route.schema });
    }
  });
  return routes;
}

export async function openApiRoute(app: FastifyInstance, routes: readonly CollectedRoute[], options: OpenApiOptions): Promise<void> {
  let document: Json | undefined;
  app.withTypeProvider<ZodTypeProvider>().get(
    '/openapi.json',
    { schema: { summary: 'This document', tags: ['meta'], response: { 200: documentSchema } } },
    // Built on first request, when every plugin has registered its routes.
    async () => (document ??= buildOpenApiDocument(routes, options)) as z.input<typeof documentSchema>,
  );
}

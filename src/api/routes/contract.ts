/**
 * The MQTT contract as the running server publishes it: the AsyncAPI document and the JSON
 * Schemas of firmware-specs/, generated in memory from the same zod schemas (so they match this
 * server's version, whatever is on disk). No auth: integrators and gateway engineers fetch them
 * before they have credentials, as they fetch /openapi.json.
 *
 * Given the running broker, the AsyncAPI document names its listeners as they are (ports, which
 * are on, its limits) at the host name the request came in by (an ingest worker has none, and the
 * document says so); without one it is the published document.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { generateAsyncApi, generatedFiles, stableJson, type LiveServer } from '../../contract/generate.ts';
import { notFound } from '../errors.ts';
import type { ZodTypeProvider } from '../zod-bridge.ts';

const SCHEMAS_DIR = 'schemas/';
/** A DNS name, IPv4 address or bracketed IPv6 address; anything else in the Host header is not echoed. */
const hostName = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])$/;
/** Documents kept per host name; the Host header is the client's to choose, so the cache is capped. */
const MAX_CACHED_HOSTS = 16;

export async function contractRoutes(app: FastifyInstance, broker?: Omit<LiveServer, 'host'>): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Generated on first request; the contract does not change while the process runs.
  let files: Record<string, string> | undefined;
  const file = (path: string): string | undefined => (files ??= generatedFiles())[path];
  const byHost = new Map<string, string>();
  const asyncApi = (requestHost: string): string => {
    if (!broker) return file('asyncapi.json')!;
    const host = hostName.test(requestHost) ? requestHost : 'localhost';
    let text = byHost.get(host);
    if (text === undefined) {
      if (byHost.size >= MAX_CACHED_HOSTS) byHost.clear();
      text = stableJson(generateAsyncApi({ ...broker, host }));
      byHost.set(host, text);
    }
    return text;
  };

  r.get(
    '/asyncapi.json',
    {
      schema: {
        summary: "AsyncAPI 3.0 document of the MQTT contract: gateway topics, the dispatch topics integrations read, and this server's listeners",
        tags: ['meta'],
      },
    },
    async (request, reply) => reply.type('application/json').send(asyncApi(request.hostname)),
  );

  r.get(
    '/schemas/:name',
    {
      schema: {
        summary: 'JSON Schema (draft 2020-12) of one MQTT payload, e.g. data.schema.json or dispatch-latest.schema.json',
        tags: ['meta'],
        params: z.object({ name: z.string().max(100) }),
      },
    },
    async (request, reply) => {
      const text = file(SCHEMAS_DIR + request.params.name);
      if (text === undefined) {
        const known = Object.keys(files!).filter((p) => p.startsWith(SCHEMAS_DIR)).map((p) => p.slice(SCHEMAS_DIR.length));
        throw notFound(`no schema "${request.params.name}"; there are ${known.join(', ')}`);
      }
      return reply.type('application/schema+json').send(text);
    },
  );
}

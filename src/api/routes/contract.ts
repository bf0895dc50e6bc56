/**
 * The MQTT contract as the running server publishes it: the AsyncAPI document and the JSON
 * Schemas of firmware-specs/, generated in memory from the same zod schemas (so they match this
 * server's version, whatever is on disk). No auth: integrators and gateway engineers fetch them
 * before they have credentials, as they fetch /openapi.json.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { generatedFiles } from '../../contract/generate.ts';
import { notFound } from '../errors.ts';
import type { ZodTypeProvider } from '../zod-bridge.ts';

const SCHEMAS_DIR = 'schemas/';

export async function contractRoutes(app: FastifyInstance): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Generated on first request; the contract does not change while the process runs.
  let files: Record<string, string> | undefined;
  const file = (path: string): string | undefined => (files ??= generatedFiles())[path];

  r.get(
    '/asyncapi.json',
    { schema: { summary: 'AsyncAPI 3.0 document of the MQTT contract: gateway topics and the dispatch topics integrations read', tags: ['meta'] } },
    async (_request, reply) => reply.type('application/json').send(file('asyncapi.json')),
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

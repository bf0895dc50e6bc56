/**
 * Scenario runs over HTTP, per tenant (mounted under /api/v1 behind bearer auth):
 *   POST /scenarios/runs                      start a run (scenario text or a shipped name)
 *   GET  /scenarios/runs                      the tenant's runs
 *   GET  /scenarios/runs/:id                  status, progress 0..1, KPIs when done
 *   GET  /scenarios/runs/:id/hourly.csv       hourly results of the primary mode
 *   GET  /scenarios/runs/:id/report.html      self-contained report
 *   GET  /scenarios/runs/:id/charts/:file     an SVG chart (dispatch.svg, load-duration.svg, ...)
 *   GET  /scenarios/compare?runs=a,b          side-by-side KPIs
 *   GET  /scenarios/shipped                   scenarios shipped with the product
 * Runs execute in a worker thread, one at a time; outputs under {dataDir}/scenarios/{tenant}/{runId}/.
 */
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, notFound, requireIdentity, type ApiPlugin, type ZodTypeProvider } from '../api/index.ts';
import { errorSchema } from '../api/schemas.ts';
import { compareReports, formatComparison } from './compare.ts';
import { kpiReportSchema, type KpiReport } from './kpis.ts';
import { ScenarioConfigError, shippedScenarioDir, shippedScenarioPath } from './load.ts';
import { runStatusSchema, ScenarioRunManager } from './runs.ts';
import { runModes } from './schema.ts';

const startBodySchema = z
  .object({
    scenario: z.string().min(1).max(60_000).optional().meta({ description: 'Scenario file text (YAML or JSON). Relative paths resolve against the shipped scenarios.' }),
    name: z.string().min(1).max(100).optional().meta({ description: 'Name of a shipped scenario (see GET /scenarios/shipped).' }),
    mode: z.enum(runModes).optional().meta({ description: "Default: the scenario's run.mode." }),
    rolling: z.object({ windowH: z.number().min(1).max(8784).optional(), overlapH: z.number().min(0).max(8784).optional() }).strict().optional(),
  })
  .strict()
  .refine((b) => (b.scenario === undefined) !== (b.name === undefined), { message: 'give exactly one of scenario (text) or name (shipped scenario)', path: ['scenario'] });

const runParams = z.object({ id: z.string().min(1).max(64) }).strict();
const chartParams = z.object({ id: z.string().min(1).max(64), file: z.string().regex(/^[a-z0-9-]{1,40}\.svg$/, 'chart files are names like dispatch.svg') }).strict();
const runDetailSchema = runStatusSchema.extend({ kpis: kpiReportSchema.optional(), files: z.array(z.string()).optional() }).meta({ id: 'ScenarioRun' });
const runListSchema = z.object({ runs: z.array(runStatusSchema) });
const compareQuery = z
  .object({
    runs: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .refine((a) => a.length >= 2 && a.length <= 10, 'give 2 to 10 run ids, comma-separated'),
  })
  .strict();
const compareSchema = z.object({
  runs: z.array(z.object({ id: z.string(), scenario: z.string(), contentHash: z.string() })),
  rows: z.array(z.object({ kpi: z.string(), unit: z.string(), values: z.array(z.number().nullable()), diff: z.array(z.number().nullable()), rel: z.array(z.number().nullable()) })),
  text: z.string().meta({ description: 'The same table as plain text.' }),
});
const shippedSchema = z.object({ scenarios: z.array(z.string()) });

const readErrors = { 400: errorSchema, 401: errorSchema, 404: errorSchema };

export interface ScenarioApiOptions {
  dataDir: string;
  /** Directories scenario files may read (default: the project's config/ and the shared reference data). */
  allowedRoots?: string[];
}

export type ScenarioApiPlugin = ApiPlugin & { manager: ScenarioRunManager };

export function scenarioApiPlugin(opts: ScenarioApiOptions): ScenarioApiPlugin {
  const manager = new ScenarioRunManager({ dataDir: opts.dataDir, ...(opts.allowedRoots ? { allowedRoots: opts.allowedRoots } : {}) });
  const plugin = async (app: FastifyInstance): Promise<void> => {
    app.addHook('onClose', async () => manager.close());
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/scenarios/shipped', { schema: { summary: 'Scenarios shipped with Querstrom', tags: ['scenarios'], response: { 200: shippedSchema, 401: errorSchema } } }, async () => {
      const names = (await readdir(shippedScenarioDir)).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5));
      return { scenarios: names.sort() };
    });

    r.post(
      '/scenarios/runs',
      {
        schema: {
          summary: 'Start a scenario run (admin); poll GET /scenarios/runs/{id} for progress',
          tags: ['scenarios'],
          body: startBodySchema,
          response: { 202: runStatusSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema },
        },
      },
      async (request, reply) => {
        const { tenant } = requireIdentity(request);
        const b = request.body;
        let text = b.scenario;
        let source = 'scenario';
        if (b.name !== undefined) {
          const file = shippedScenarioPath(b.name);
          if (!file || !existsSync(file)) throw notFound(`no shipped scenario "${b.name}"`);
          text = await readFile(file, 'utf8');
          source = b.name;
        }
        try {
          const status = await manager.submit(tenant, { text: text!, source, mode: b.mode, rolling: b.rolling });
          request.log.info({ tenant, run: status.id, scenario: status.scenario }, 'scenario run queued');
          return reply.code(202).send(status);
        } catch (err) {
          if (err instanceof ScenarioConfigError) {
            const issues = err.issues.slice(0, 20).map((i) => ({ field: i.path, message: i.message }));
            throw new ApiError(400, 'bad_request', `invalid scenario: ${issues[0]?.field}: ${issues[0]?.message}`, { field: issues[0]?.field ?? 'scenario', issues });
          }
          throw err;
        }
      },
    );

    r.get('/scenarios/runs', { schema: { summary: "This tenant's scenario runs, newest first", tags: ['scenarios'], response: { 200: runListSchema, 401: errorSchema } } }, async (request) => {
      return { runs: await manager.list(requireIdentity(request).tenant) };
    });

    const mustGet = async (tenant: string, id: string) => {
      const s = await manager.get(tenant, id);
      // The same 404 for "no such run" and "another tenant's run".
      if (!s) throw notFound(`no scenario run "${id}"`);
      return s;
    };
    const readKpis = async (tenant: string, id: string): Promise<KpiReport> => {
      const dir = manager.runDir(tenant, id)!;
      return kpiReportSchema.parse(JSON.parse(await readFile(join(dir, 'kpis.json'), 'utf8')));
    };

    r.get(
      '/scenarios/runs/:id',
      { schema: { summary: 'A run: status, progress 0..1, and its KPIs when done', tags: ['scenarios'], params: runParams, response: { 200: runDetailSchema, ...readErrors } } },
      async (request) => {
        const { tenant } = requireIdentity(request);
        const s = await mustGet(tenant, request.params.id);
        if (s.status !== 'done') return s;
        const dir = manager.runDir(tenant, s.id)!;
        const charts = (await readdir(join(dir, 'charts')).catch(() => [] as string[])).map((c) => `charts/${c}`);
        const files = [...(await readdir(dir)).filter((f) => !f.endsWith('.tmp') && f !== 'charts'), ...charts].sort();
        return { ...s, kpis: await readKpis(tenant, s.id), files };
      },
    );

    const sendFile = (name: string, type: string) => async (tenant: string, id: string, reply: import('fastify').FastifyReply) => {
      const s = await mustGet(tenant, id);
      if (s.status !== 'done') throw new ApiError(409, 'conflict', `run ${id} is ${s.status}; results exist once it is done`);
      const file = join(manager.runDir(tenant, id)!, name);
      if (!existsSync(file)) throw notFound(`run ${id} has no ${name}`);
      return reply.type(type).send(createReadStream(file));
    };
    const conflict = { 409: errorSchema };

    r.get(
      '/scenarios/runs/:id/hourly.csv',
      { schema: { summary: 'Hourly (per-period) results as CSV', tags: ['scenarios'], params: runParams, produces: 'text/csv', response: { ...readErrors, ...conflict } } },
      async (request, reply) => sendFile('hourly.csv', 'text/csv; charset=utf-8')(requireIdentity(request).tenant, request.params.id, reply),
    );
    r.get(
      '/scenarios/runs/:id/hourly.parquet',
      { schema: { summary: 'Hourly (per-period) results as Parquet', tags: ['scenarios'], params: runParams, produces: 'application/vnd.apache.parquet', response: { ...readErrors, ...conflict } } },
      async (request, reply) => sendFile('hourly.parquet', 'application/vnd.apache.parquet')(requireIdentity(request).tenant, request.params.id, reply),
    );
    r.get(
      '/scenarios/runs/:id/report.html',
      { schema: { summary: 'Self-contained HTML report (inline SVG charts, KPI tables)', tags: ['scenarios'], params: runParams, produces: 'text/html', response: { ...readErrors, ...conflict } } },
      async (request, reply) => sendFile('report.html', 'text/html; charset=utf-8')(requireIdentity(request).tenant, request.params.id, reply),
    );
    r.get(
      '/scenarios/runs/:id/charts/:file',
      { schema: { summary: 'One chart as SVG', tags: ['scenarios'], params: chartParams, produces: 'image/svg+xml', response: { ...readErrors, ...conflict } } },
      async (request, reply) => sendFile(`charts/${request.params.file}`, 'image/svg+xml')(requireIdentity(request).tenant, request.params.id, reply),
    );

    r.get(
      '/scenarios/compare',
      { schema: { summary: 'Side-by-side KPIs of finished runs, with differences to the first', tags: ['scenarios'], querystring: compareQuery, response: { 200: compareSchema, ...readErrors, ...conflict } } },
      async (request) => {
        const { tenant } = requireIdentity(request);
        const reports: { id: string; kpis: KpiReport }[] = [];
        for (const id of request.query.runs) {
          const s = await mustGet(tenant, id);
          if (s.status !== 'done') throw new ApiError(409, 'conflict', `run ${id} is ${s.status}; only finished runs can be compared`);
          reports.push({ id, kpis: await readKpis(tenant, id) });
        }
        const c = compareReports(reports.map((x) => ({ label: `${x.kpis.scenario} (${x.id})`, kpis: x.kpis })));
        return { runs: reports.map((x) => ({ id: x.id, scenario: x.kpis.scenario, contentHash: x.kpis.contentHash })), rows: c.rows, text: formatComparison(c) };
      },
    );
  };
  return Object.assign(plugin, { manager });
}

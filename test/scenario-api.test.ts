/**
 * Scenario runs over real HTTP on 127.0.0.1: start (worker thread), poll progress, fetch CSV,
 * report and charts, compare, tenant isolation, roles, and validation errors naming the field.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type ApiDeps } from '../src/api/index.ts';
import type { TokenIdentity } from '../src/identity/types.ts';
import { scenarioApiPlugin } from '../src/scenario/api.ts';
import type { Store } from '../src/store/types.ts';
import { httpCall, type HttpResult } from './helpers/http.ts';

const A = 'stadt-a';
const B = 'stadt-b';
const token = () => `qs_${randomBytes(18).toString('hex')}`;
const tokens = { aAdmin: token(), aRead: token(), bAdmin: token() };
const identities = new Map<string, TokenIdentity>([
  [tokens.aAdmin, { tenant: A, role: 'admin', tokenId: 'a-admin' }],
  [tokens.aRead, { tenant: A, role: 'read', tokenId: 'a-read' }],
  [tokens.bAdmin, { tenant: B, role: 'admin', tokenId: 'b-admin' }],
]);

let dir: string;
let app: FastifyInstance;
let base: string;
let plugin: ReturnType<typeof scenarioApiPlugin>;

const deps = (): ApiDeps => ({
  // The scenario routes use none of these; the store is never called.
  store: {} as Store,
  tokens: { verifyToken: (t) => identities.get(t) ?? null },
  devices: { list: () => [], get: () => undefined },
  metrics: new Registry(),
  ready: async () => ({ ready: true, checks: {} }),
  log: pino({ level: 'silent' }),
});

type Res = HttpResult;
function call(method: string, path: string, tok: string, body?: unknown): Promise<Res> {
  return httpCall(base + path, { method, token: tok, body, timeoutMs: 20_000 });
}

async function waitDone(id: string, tok: string, timeoutMs = 60_000): Promise<Res> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await call('GET', `/api/v1/scenarios/runs/${id}`, tok);
    if (r.body?.status === 'done' || r.body?.status === 'failed') return r;
    if (Date.now() > until) throw new Error(`run ${id} not done: ${r.text}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Two weeks of the reference case, with a CO2 price (so the runs differ). */
const twoWeeks = (co2: number) => `
extends: district-heating-2019.yaml
name: dh-two-weeks-co2-${co2}
horizon: { from: 2019-01-01, to: 2019-01-15 }
co2PriceEurPerT: ${co2}
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qs-scenario-api-'));
  plugin = scenarioApiPlugin({ dataDir: dir });
  app = await buildApi(deps(), { plugins: [plugin] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('scenario runs over HTTP', () => {
  let fullYear: string;
  let short0: string;
  let short100: string;

  it('starts a shipped scenario by name; progress is polled while the API stays responsive', async () => {
    const r = await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { name: 'district-heating-2019', mode: 'rolling' });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ scenario: 'district-heating-2019', mode: 'rolling', status: 'queued', progress: 0 });
    expect(r.body.contentHash).toMatch(/^[0-9a-f]{64}$/);
    fullYear = r.body.id;
    // While the year runs in its worker, requests are answered at once, and progress moves.
    const seen = new Set<number>();
    let slowest = 0;
    for (;;) {
      const s = await call('GET', `/api/v1/scenarios/runs/${fullYear}`, tokens.aAdmin);
      expect(s.status).toBe(200);
      slowest = Math.max(slowest, s.ms);
      seen.add(s.body.progress);
      if (s.body.status === 'done' || s.body.status === 'failed') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(slowest).toBeLessThan(1000);
    const done = await waitDone(fullYear, tokens.aAdmin);
    expect(done.body.status).toBe('done');
    expect(done.body.progress).toBe(1);
    expect(seen.size).toBeGreaterThan(1);
    expect(done.body.kpis.modes.rolling.total.heatDemandMWh).toBeCloseTo(66496.441, 3);
    expect(done.body.kpis.modes.rolling.rolling).toEqual({ windowH: 24, overlapH: 0 });
    expect(done.body.files).toEqual(expect.arrayContaining(['hourly.csv', 'hourly.parquet', 'report.html', 'kpis.json', 'charts/dispatch.svg']));
    expect(existsSync(join(dir, 'scenarios', A, fullYear, 'kpis.json'))).toBe(true);
  });

  it('serves the hourly CSV, the report and the charts', async () => {
    const csv = await call('GET', `/api/v1/scenarios/runs/${fullYear}/hourly.csv`, tokens.aRead);
    expect(csv.status).toBe(200);
    expect(csv.type).toContain('text/csv');
    const lines = csv.text.trim().split('\n');
    expect(lines).toHaveLength(8761);
    expect(lines[0]).toMatch(/^time,year,heat\.demand_mw,/);
    const html = await call('GET', `/api/v1/scenarios/runs/${fullYear}/report.html`, tokens.aRead);
    expect(html.status).toBe(200);
    expect(html.type).toContain('text/html');
    expect(html.text).toContain('<svg');
    const svg = await call('GET', `/api/v1/scenarios/runs/${fullYear}/charts/load-duration.svg`, tokens.aRead);
    expect(svg.status).toBe(200);
    expect(svg.type).toContain('image/svg+xml');
    expect(svg.text).toMatch(/^<svg /);
    expect((await call('GET', `/api/v1/scenarios/runs/${fullYear}/charts/nope.svg`, tokens.aRead)).status).toBe(404);
    expect((await call('GET', `/api/v1/scenarios/runs/${fullYear}/charts/..%2Fkpis.json`, tokens.aRead)).status).toBe(400);
  });

  it('runs scenario text, queues runs one after another, and compares them side by side', async () => {
    const a = await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { scenario: twoWeeks(0) });
    const b = await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { scenario: twoWeeks(100), mode: 'rolling', rolling: { windowH: 12, overlapH: 12 } });
    expect([a.status, b.status]).toEqual([202, 202]);
    short0 = a.body.id;
    short100 = b.body.id;
    expect((await waitDone(short0, tokens.aAdmin)).body.status).toBe('done');
    const rb = await waitDone(short100, tokens.aAdmin);
    expect(rb.body.status).toBe('done');
    expect(rb.body.kpis.primary).toBe('rolling');
    expect(rb.body.kpis.modes.rolling.rolling).toEqual({ windowH: 12, overlapH: 12 });
    const c = await call('GET', `/api/v1/scenarios/compare?runs=${short0},${short100}`, tokens.aRead);
    expect(c.status).toBe(200);
    expect(c.body.runs.map((r: { scenario: string }) => r.scenario)).toEqual(['dh-two-weeks-co2-0', 'dh-two-weeks-co2-100']);
    const cost = c.body.rows.find((r: { kpi: string }) => r.kpi === 'CO2 cost');
    expect(cost.values[0]).toBe(0);
    expect(cost.values[1]).toBeGreaterThan(0);
    expect(cost.diff[1]).toBeCloseTo(cost.values[1], 6);
    expect(c.body.text).toContain('dh-two-weeks-co2-100');
    const list = await call('GET', '/api/v1/scenarios/runs', tokens.aRead);
    expect(list.body.runs.map((r: { id: string }) => r.id).sort()).toEqual([fullYear, short0, short100].sort());
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const p of ['/api/v1/scenarios/runs', '/api/v1/scenarios/runs/{id}', '/api/v1/scenarios/runs/{id}/hourly.csv', '/api/v1/scenarios/runs/{id}/report.html', '/api/v1/scenarios/runs/{id}/charts/{file}', '/api/v1/scenarios/compare']) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(Object.keys(doc.paths['/api/v1/scenarios/runs']!).sort()).toEqual(['get', 'post']);
  });

  it('keeps tenants apart', async () => {
    expect((await call('GET', '/api/v1/scenarios/runs', tokens.bAdmin)).body.runs).toEqual([]);
    expect((await call('GET', `/api/v1/scenarios/runs/${fullYear}`, tokens.bAdmin)).status).toBe(404);
    expect((await call('GET', `/api/v1/scenarios/runs/${fullYear}/hourly.csv`, tokens.bAdmin)).status).toBe(404);
    expect((await call('GET', `/api/v1/scenarios/compare?runs=${short0},${short100}`, tokens.bAdmin)).status).toBe(404);
  });

  it('rejects bad requests with the field at fault, and read tokens cannot start runs', async () => {
    const bad = await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { scenario: `${twoWeeks(1)}\nunits:\n  - { id: gas_boiler }\n  - { id: heat_pump }\n  - { id: grid, phaseOut: someday }\n` });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('units[2].phaseOut');
    expect(bad.body.message).toContain('units[2].phaseOut');
    const outside = await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { scenario: `${twoWeeks(1)}\nprofiles: { sources: { x: { file: /etc/hostname } } }\n` });
    expect(outside.status).toBe(400);
    expect(outside.body.field).toBe('profiles.sources.x.file');
    expect((await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { name: 'no-such-scenario' })).status).toBe(404);
    expect((await call('POST', '/api/v1/scenarios/runs', tokens.aAdmin, { name: 'district-heating-2019', scenario: 'x' })).status).toBe(400);
    expect((await call('POST', '/api/v1/scenarios/runs', tokens.aRead, { name: 'district-heating-2019' })).status).toBe(403);
    expect((await call('GET', '/api/v1/scenarios/compare?runs=only-one', tokens.aRead)).status).toBe(400);
    expect((await call('GET', '/api/v1/scenarios/shipped', tokens.aRead)).body.scenarios).toEqual(
      expect.arrayContaining(['district-heating-2019', 'district-heating-2019-sizing', 'gas-phaseout-2030']),
    );
  });

  it('reads finished runs back from disk after a restart; unfinished ones read as failed', async () => {
    await app.close();
    const again = scenarioApiPlugin({ dataDir: dir });
    const s = await again.manager.get(A, fullYear);
    expect(s?.status).toBe('done');
    // A run the previous process left running.
    const cut = 'rcut0000000001';
    await mkdir(join(dir, 'scenarios', A, cut), { recursive: true });
    await writeFile(join(dir, 'scenarios', A, cut, 'status.json'), JSON.stringify({ ...s, id: cut, status: 'running', progress: 0.4 }));
    expect(await again.manager.get(A, cut)).toMatchObject({ status: 'failed', error: expect.stringMatching(/restart/) });
    expect(await again.manager.get(B, cut)).toBeUndefined();
    await again.manager.close();
    app = await buildApi(deps(), { plugins: [scenarioApiPlugin({ dataDir: dir })] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    base = `http://127.0.0.1:${address.port}`;
    const r = await call('GET', `/api/v1/scenarios/runs/${short100}`, tokens.aRead);
    expect(r.body.status).toBe('done');
    expect(r.body.kpis.scenario).toBe('dh-two-weeks-co2-100');
  });
});

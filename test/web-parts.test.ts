/**
 * The dashboard's parts that need no browser: the fastify plugin that serves the build (over
 * a real socket), the Sankey graph built from a real engine tick, and the event-stream parser.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../src/api/index.ts';
import { createDispatchEngine, loadCity, type DispatchResult } from '../src/coupling/index.ts';
import { IdentityRegistry } from '../src/identity/index.ts';
import { createLogger } from '../src/observability/logger.ts';
import { defaultDistDir, sessionPlugin, webPlugin } from '../src/web/index.ts';
import { buildFlowGraph, MIN_FLOW_MW } from '../src/web/app/sankey-model.ts';
import { EventStreamParser } from '../src/web/app/sse.ts';
import { collectAlarms } from '../src/web/app/alarms-model.ts';
import type { Device } from '../src/web/app/types.ts';
import { DeviceTracker } from '../src/devices/tracker.ts';
import { queryDevices } from '../src/devices/query.ts';
import { tempDir } from './helpers/server.ts';

const root = new URL('../', import.meta.url).pathname;

async function serve(distDir: string, tokens: IdentityRegistry): Promise<{ app: FastifyInstance; base: string }> {
  const app = await buildApi(
    {
      store: {} as never,
      tokens,
      devices: { list: () => [], get: () => undefined },
      metrics: new Registry(),
      log: createLogger('silent'),
      ready: async () => ({ ready: true, checks: {} }),
    },
    { plugins: [sessionPlugin], publicPlugins: [webPlugin({ distDir })] },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

describe('web plugin', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let tokens: IdentityRegistry;
  let token: string;
  let built: { app: FastifyInstance; base: string };
  let missing: { app: FastifyInstance; base: string };

  beforeAll(async () => {
    dir = await tempDir('qs-web-');
    tokens = await IdentityRegistry.open(join(dir.path, 'identity.json'));
    token = (await tokens.addToken('north', 'read')).token;
    // `npm test` builds first (pretest); a direct vitest run builds here if needed.
    if (!existsSync(join(defaultDistDir, 'index.html'))) await promisify(execFile)('npx', ['vite', 'build', '--config', 'src/web/vite.config.ts'], { cwd: root });
    built = await serve(defaultDistDir, tokens);
    const empty = join(dir.path, 'no-dist');
    await mkdir(empty);
    missing = await serve(empty, tokens);
  });
  afterAll(async () => {
    await built?.app.close();
    await missing?.app.close();
    await dir?.remove();
  });

  it('serves index.html at / with a strict CSP and hashed assets for good', async () => {
    const res = await fetch(`${built.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    const asset = await fetch(built.base + script);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    // Every asset the page names exists.
    const files = await readdir(join(defaultDistDir, 'assets'));
    for (const ref of html.matchAll(/\/assets\/([^"]+)"/g)) expect(files).toContain(ref[1]);
    expect((await fetch(`${built.base}/assets/nope-123.js`)).status).toBe(404);
    expect((await fetch(`${built.base}/assets/../package.json`)).status).toBe(404);
  });

  it('leaves /api, /health, /ready, /metrics and /openapi.json to their own routes', async () => {
    expect((await fetch(`${built.base}/api/v1/devices`)).status).toBe(401);
    expect(((await (await fetch(`${built.base}/health`)).json()) as { status: string }).status).toBe('ok');
    expect((await fetch(`${built.base}/ready`)).status).toBe(200);
    expect((await fetch(`${built.base}/metrics`)).headers.get('content-type')).toMatch(/^text\/plain/);
    const doc = (await (await fetch(`${built.base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain('/api/v1/session');
    expect(Object.keys(doc.paths)).not.toContain('/');
    expect((await fetch(`${built.base}/api/v1/nope`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });

  it('GET /api/v1/session names the tenant and role of the token, and only with one', async () => {
    const ok = await fetch(`${built.base}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } });
    expect(await ok.json()).toEqual({ tenant: 'north', role: 'read' });
    expect((await fetch(`${built.base}/api/v1/session`)).status).toBe(401);
    expect((await fetch(`${built.base}/api/v1/session`, { headers: { authorization: 'Bearer qst_wrong' } })).status).toBe(401);
  });

  it('says how to build the dashboard when it is not built, and keeps the API up', async () => {
    const res = await fetch(`${missing.base}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/npm run build:web/);
    expect((await fetch(`${missing.base}/assets/index.js`)).status).toBe(503);
    expect((await fetch(`${missing.base}/health`)).status).toBe(200);
  });
});

describe('Sankey graph from a real dispatch tick', () => {
  let result: DispatchResult;
  beforeAll(async () => {
    const engine = await createDispatchEngine(loadCity(join(root, 'config/demo-city.yaml')), {});
    try {
      engine.tick();
      result = JSON.parse(JSON.stringify(engine.tick())) as DispatchResult;
    } finally {
      engine.dispose();
    }
  });

  const sums = (g: ReturnType<typeof buildFlowGraph>) => {
    const into = new Map<string, number>();
    const out = new Map<string, number>();
    for (const l of g.links) {
      out.set(l.source, (out.get(l.source) ?? 0) + l.valueMw);
      into.set(l.target, (into.get(l.target) ?? 0) + l.valueMw);
    }
    return { into, out };
  };

  it('balances every zone and the power bus, and has no cycle', () => {
    const g = buildFlowGraph(result);
    const { into, out } = sums(g);
    const zones = g.nodes.filter((n) => n.role.kind === 'zone');
    expect(zones.length).toBe(3);
    for (const z of zones) {
      const zone = (z.role as { zone: string }).zone;
      // What units and storage feed into a zone leaves it towards demand, other zones, storage, losses or dump.
      expect(Math.abs((into.get(z.id) ?? 0) - (out.get(z.id) ?? 0)), zone).toBeLessThan(0.02);
    }
    if (into.has('power')) expect(Math.abs(into.get('power')! - (out.get('power') ?? 0))).toBeLessThan(0.02);
    // Demand nodes receive what was met.
    for (const [zone, d] of Object.entries(g.demand)) {
      expect(into.get(`demand:${zone}`) ?? 0).toBeCloseTo(d.demandMw - d.unmetMw, 1);
    }
    // Columns strictly increase along every link: a DAG that d3-sankey can lay out.
    const column = new Map(g.nodes.map((n) => [n.id, n.column]));
    for (const l of g.links) expect(column.get(l.target)!, `${l.source} → ${l.target}`).toBeGreaterThan(column.get(l.source)!);
    expect(g.links.every((l) => l.valueMw >= MIN_FLOW_MW)).toBe(true);
  });

  it('colours flows by carrier: gas is fossil, the data centre is waste heat, el is electric', () => {
    const g = buildFlowGraph(result);
    for (const l of g.links) {
      if (l.source === 'gas') expect(l.carrier).toBe('fossil');
      if (l.source === 'unit:whs1') expect(l.carrier).toBe('wasteheat');
      if (l.target === 'power' || l.source === 'power') expect(l.carrier).toMatch(/electric|renewable/);
    }
    expect(new Set(g.links.map((l) => l.carrier)).size).toBeGreaterThanOrEqual(4);
  });

  it('sends zone-to-zone transfers to the receiving demand, so opposite flows never make a cycle', () => {
    const r = structuredClone(result);
    r.flows = {
      a: { from: 'zone_north', to: 'zone_centre', flowMw: 1, forwardMw: 1, reverseMw: 0, deliveredMw: 0.98, lossMw: 0.02, capacityMw: 6, congested: false },
      b: { from: 'zone_centre', to: 'zone_south', flowMw: -2, forwardMw: 0, reverseMw: 2, deliveredMw: -1.9, lossMw: 0.1, capacityMw: 5, congested: false },
    };
    const g = buildFlowGraph(r);
    expect(g.links).toContainEqual({ source: 'zone:zone_north', target: 'demand:zone_centre', valueMw: 0.98, carrier: 'heat' });
    const back = g.links.find((l) => l.source === 'zone:zone_south' && l.target === 'demand:zone_centre');
    expect(back?.valueMw).toBeCloseTo(1.9, 9);
    expect(g.links).toContainEqual({ source: 'zone:zone_south', target: 'netloss', valueMw: 0.1, carrier: 'loss' });
    expect(g.links.some((l) => l.source.startsWith('zone:') && l.target.startsWith('zone:'))).toBe(false);
  });
});

describe('event-stream parser', () => {
  it('splits events across chunks, joins data lines and skips comments', () => {
    const got: [string, string][] = [];
    const p = new EventStreamParser((e, d) => got.push([e, d]));
    p.push('retry: 3000\n\nevent: dispa');
    p.push('tch\nid: 7\ndata: {"a":\ndata: 1}\n\n: heartbeat\n\n');
    p.push('data: plain\r\n\r\n');
    expect(got).toEqual([
      ['dispatch', '{"a":\n1}'],
      ['message', 'plain'],
    ]);
  });
});

describe('alarms from device problems', () => {
  /** A real tracker's devices, queried as the dashboard does (problems first, cut at `limit`). */
  function fleet(offline: number, stale: number, rejecting: number, limit: number) {
    let now = Date.now() - 10 * 60_000;
    const t = new DeviceTracker(undefined, () => [], () => now);
    const birth = { type: 'heat_meter' as const, firmware: '1', interval_s: 60, metrics: { heat_power: { unit: 'kW' } } };
    for (let i = 0; i < 500; i++) {
      const d = `hm-${String(i).padStart(4, '0')}`;
      t.connected('demo', d);
      t.birth('demo', d, birth);
    }
    const names = (from: number, n: number) => Array.from({ length: n }, (_, i) => `hm-${String(from + i).padStart(4, '0')}`);
    for (const d of names(0, offline)) t.disconnected('demo', d, 'connection lost');
    now += 5 * 60_000; // the first devices fall silent: stale after 3 of their 60 s intervals
    for (const d of names(offline + stale, 500 - offline - stale)) t.accepted('demo', d, 1);
    for (const d of names(offline + stale, rejecting)) t.rejected('demo', d, 'malformed JSON');
    const q = queryDevices(t.list('demo'), { status: 'problems', order: 'severity', limit }, now);
    return { problems: { list: q.devices as unknown as Device[], total: q.total, counts: q.counts }, now };
  }
  const health = { ready: true, checks: {}, influxUp: null, spoolBytes: null, at: 0 };
  const summary = (alarms: ReturnType<typeof collectAlarms>) => alarms.map((a) => `${a.severity} ${a.title} ${a.params.device ?? a.params.n}`).sort();

  it('one alarm per device while they are few', () => {
    const { problems, now } = fleet(2, 1, 1, 200);
    expect(summary(collectAlarms(null, problems, health, now))).toEqual([
      'critical alarm.deviceOffline hm-0000',
      'critical alarm.deviceOffline hm-0001',
      'warning alarm.deviceRejects hm-0003',
      'warning alarm.deviceStale hm-0002',
    ]);
  });

  it('one alarm for many devices with the same problem, with the exact count even when the list is cut', () => {
    const { problems, now } = fleet(300, 12, 2, 50);
    expect(problems.list.length).toBe(50);
    const alarms = collectAlarms(null, problems, health, now);
    expect(summary(alarms)).toEqual(['critical alarm.devicesOffline 300', 'warning alarm.deviceRejects hm-0312', 'warning alarm.deviceRejects hm-0313', 'warning alarm.devicesStale 12']);
    const offline = alarms.find((a) => a.key === 'device:offline:*')!;
    expect(offline).toMatchObject({ href: '#/devices', subject: 'hm-0000, hm-0001, hm-0002, …' });
    // Cut inside the devices rejecting now (they come first): at least as many as listed.
    const flood = fleet(0, 0, 40, 20);
    expect(summary(collectAlarms(null, flood.problems, health, flood.now))).toEqual(['warning alarm.devicesRejecting 20+']);
  });
});

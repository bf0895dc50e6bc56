/**
 * The live dispatch's parts on their own: config checks (fail fast, naming the field), the tick
 * scheduler's rate limit, automatic-mode control with acks and timeouts, the audit trail files,
 * series units, and the HTTP routes (heartbeat, "no tick yet") over a real socket.
 */
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../src/api/index.ts';
import type { ApiDeps } from '../src/api/index.ts';
import { couplingEntrySchema, type CouplingEntryInput } from '../src/config/schema.ts';
import { createDispatchEngine, loadCity, type DispatchResult } from '../src/coupling/index.ts';
import { AuditTrail, dayOf } from '../src/dispatch/audit.ts';
import { UnitControl } from '../src/dispatch/control.ts';
import { AlarmReports, UnitReports } from '../src/dispatch/exception-reports.ts';
import { dispatchRoutes } from '../src/dispatch/api.ts';
import { dispatchReadings, loadCouplings, resolveComponents, startDispatch, TickScheduler, type AuditEntry, type DispatchHub } from '../src/dispatch/index.ts';
import { createLogger } from '../src/observability/logger.ts';
import { DEMO_CITY, DEMO_CONTROLS } from '../src/server/demo.ts';
import type { Reading } from '../src/store/types.ts';
import { startTestServer, tempDir, waitFor } from './helpers/server.ts';

const log = createLogger('silent');
const entry = (over: Partial<CouplingEntryInput> = {}) => couplingEntrySchema.parse({ tenant: 'demo', city: DEMO_CITY, ...over });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: Awaited<ReturnType<typeof tempDir>>;
let result: DispatchResult;
beforeAll(async () => {
  dir = await tempDir('qs-dispatch-units-');
  const engine = await createDispatchEngine(loadCity(DEMO_CITY), { autoReplan: false });
  // A plain copy: the tests below spread it, and a tick result's records are lazy accessors.
  result = JSON.parse(JSON.stringify(engine.tick())) as DispatchResult;
  engine.dispose();
});
afterAll(async () => dir?.remove());

describe('coupling config', () => {
  it('resolves control mappings to cmd topics and command units', () => {
    const [l] = loadCouplings({ coupling: [entry({ controls: { ...DEMO_CONTROLS, tank1: { device: 'tes-1', metric: 'charge_power', unit: 'MW' } } })] });
    const hp = l!.components.find((c) => c.id === 'hp1')!;
    expect(hp.target).toMatchObject({ device: 'hp-datacentre-1', metric: 'heat_power', unit: 'kW', field: 'heatMw', perMw: 1000, topic: 'qs/v1/demo/hp-datacentre-1/cmd' });
    expect(l!.components.find((c) => c.id === 'chp1')!.target).toMatchObject({ field: 'elMw', perMw: 1 });
    expect(l!.components.find((c) => c.id === 'tank1')!.target!.field).toBe('netChargeMw');
    expect(l!.components.find((c) => c.id === 'boiler1')!.target!.topic).toBe('qs/v1/demo/blr-1/cmd');
    expect(l!.components.find((c) => c.id === 'grid1')!.target).toBeUndefined();
  });

  it('fails fast with the config field named', async () => {
    const bad = (over: Partial<CouplingEntryInput>) => () => loadCouplings({ coupling: [entry(over)] });
    expect(bad({ controls: { nope: { device: 'x', metric: 'heat_power' } } })).toThrow(/coupling\[0\]\.controls\.nope: the city "demo-city" has no unit or storage "nope"/);
    expect(bad({ controls: { hp1: { device: 'hp-1', metric: 'heat_power', unit: 'degC' } } })).toThrow(/coupling\[0\]\.controls\.hp1\.unit: "degC" is not a power unit/);
    expect(bad({ controls: { hp1: { device: 'a/b/c', metric: 'heat_power' } } })).toThrow(/controls\.hp1\.device/);
    expect(bad({ controls: { hp1: { device: 'hp-1', metric: 'heat_power', field: 'netChargeMw' } } })).toThrow(/controls\.hp1\.field/);
    expect(bad({ tenant: 'no spaces' })).toThrow(/coupling\[0\]\.tenant/);
    expect(() => loadCouplings({ coupling: [entry(), entry()] })).toThrow(/coupling\[1\]\.tenant: tenant "demo" already has a coupling engine/);
    expect(bad({ city: join(dir.path, 'missing.yaml') })).toThrow(/^coupling\[0\]\.city: .*missing\.yaml: invalid city model:\n {2}- cannot read/);

    const broken = join(dir.path, 'broken-city.yaml');
    await writeFile(broken, 'name: broken\nbuses:\n  - { id: z1, kind: heat, demandMw: 5 }\nunits:\n  - { id: b1, kind: gas_boiler, zone: z1, heatMaxMw: -3 }\n');
    expect(bad({ city: broken })).toThrow(/units\[0\]\.heatMaxMw/);
    // The server refuses to start, before opening anything.
    const dataDir = join(dir.path, 'never-started');
    await expect(startTestServer(dataDir, { coupling: [{ tenant: 'demo', city: broken }] })).rejects.toThrow(/coupling\[0\]\.city: [\s\S]*units\[0\]\.heatMaxMw/);
  });
});

describe('tick scheduler', () => {
  it('answers a lone change at once and rate-limits a storm to about one tick per minTickGapMs', async () => {
    const ticks: Array<{ reason: string; at: number }> = [];
    const s = new TickScheduler({ intervalMs: 60_000, minGapMs: 20, run: (reason) => ticks.push({ reason, at: performance.now() }) });
    s.start(60_000);
    const t0 = performance.now();
    s.inputChanged();
    await waitFor(() => ticks.length === 1, 1000, 1);
    expect(ticks[0]!.reason).toBe('input');
    // Not held back by the rate limit or the 60 s interval (the bound allows for a busy machine).
    expect(ticks[0]!.at - t0).toBeLessThan(500);
    // 300 ms of changes every millisecond: at most the burst plus one per 20 ms.
    const end = performance.now() + 300;
    while (performance.now() < end) {
      s.inputChanged();
      await sleep(1);
    }
    await sleep(40);
    const storm = ticks.length - 1;
    s.stop();
    expect(storm).toBeGreaterThanOrEqual(8);
    expect(storm).toBeLessThanOrEqual(4 + Math.ceil(340 / 20) + 1);
  });

  it('ticks on the interval without inputs, restarting it after an input tick', async () => {
    const reasons: string[] = [];
    const s = new TickScheduler({ intervalMs: 40, minGapMs: 0, run: (r) => reasons.push(r) });
    s.start();
    await sleep(150);
    s.stop();
    const n = reasons.length;
    await sleep(60);
    expect(reasons.length).toBe(n);
    expect(n).toBeGreaterThanOrEqual(2);
    expect(reasons.every((r) => r === 'interval')).toBe(true);
  });
});

describe('automatic mode', () => {
  const make = (ackTimeoutMs = 5000) => {
    const city = loadCity(DEMO_CITY);
    const sent: Array<{ topic: string; payload: Record<string, unknown> }> = [];
    const audit: AuditEntry[] = [];
    const control = new UnitControl({
      tenant: 'demo',
      components: resolveComponents(city, 'demo', { hp1: { device: 'hp-datacentre-1', metric: 'heat_power', unit: 'kW' } }, 'coupling[0]'),
      send: async (topic, payload) => void sent.push({ topic, payload: JSON.parse(payload) as Record<string, unknown> }),
      audit: (e) => audit.push(e),
      log,
      ackTimeoutMs,
      deadbandMw: 0.1,
      deadbandFraction: 0.01,
      modesFile: join(dir.path, `modes-${Math.random()}.json`),
    });
    return { control, sent, audit };
  };
  const withHp = (mw: number): DispatchResult => ({ ...result, setpoints: { ...result.setpoints, hp1: { ...result.setpoints.hp1!, heatMw: mw } } });

  it('sends on switching and on moves beyond the deadband, and settles by ack', async () => {
    const { control, sent, audit } = make();
    const r0 = withHp(1.5);
    control.onResult(r0, control.recommendations(r0));
    expect(sent).toEqual([]); // advisory: recommendations only
    const change = control.setMode('hp1', 'automatic', 'tok-1', r0);
    expect(change.ok).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.topic).toBe('qs/v1/demo/hp-datacentre-1/cmd');
    expect(sent[0]!.payload).toMatchObject({ type: 'setpoint', metric: 'heat_power', value: 1500, unit: 'kW' });
    const id = sent[0]!.payload.id as string;

    expect(control.onAck('someone-else', { id, ok: true })).toBe(false);
    expect(control.views().find((v) => v.unit === 'hp1')!.lastCommand!.state).toBe('pending');
    expect(control.onAck('hp-datacentre-1', { id, ok: true })).toBe(true);
    expect(control.views().find((v) => v.unit === 'hp1')!.lastCommand!.state).toBe('acked');

    for (const mw of [1.55, 1.45]) control.onResult(withHp(mw), control.recommendations(withHp(mw)));
    expect(sent).toHaveLength(1); // within 0.1 MW
    control.onResult(withHp(2), control.recommendations(withHp(2)));
    expect(sent).toHaveLength(2);
    expect(sent[1]!.payload.value).toBe(2000);
    control.onAck('hp-datacentre-1', { id: sent[1]!.payload.id as string, ok: false, reason: 'outside 0..1968 kW' });
    expect(control.views().find((v) => v.unit === 'hp1')!.lastCommand).toMatchObject({ state: 'refused', reason: 'outside 0..1968 kW' });
    control.onResult(withHp(2.05), control.recommendations(withHp(2.05)));
    expect(sent).toHaveLength(2); // a refused value is not repeated

    // A failed tick holds the last setpoints.
    const failed = { ...withHp(3), status: 'failed' as const };
    control.onResult(failed, control.recommendations(failed));
    expect(sent).toHaveLength(2);
    expect(audit.map((e) => e.type)).toEqual(['mode', 'command', 'ack', 'command', 'ack']);
    expect(audit[0]).toMatchObject({ unit: 'hp1', from: 'advisory', to: 'automatic', by: 'tok-1' });
    expect(control.setMode('whs1', 'automatic', 'tok-1', r0)).toMatchObject({ ok: false, status: 409 });
    expect(control.setMode('nope', 'advisory', 'tok-1', r0)).toMatchObject({ ok: false, status: 404 });
    await control.close();
  });

  it('reports each unit on its topic by exception: all at first, then moves beyond the deadband, mode and status changes', async () => {
    const { control } = make();
    const reports = new UnitReports(control);
    const due = (r: DispatchResult) => reports.due(r, control.recommendations(r)).map((m) => m.unit);
    const all = due(withHp(1.5));
    expect(all.sort()).toEqual([...Object.keys(result.setpoints), ...Object.keys(result.storage)].sort());
    expect(due(withHp(1.55))).toEqual([]); // within max(0.1 MW, 1 % of its rating)
    expect(due(withHp(1.45))).toEqual([]); // still within: compared with what was last sent
    const moved = reports.due(withHp(2), control.recommendations(withHp(2)));
    expect(moved).toEqual([expect.objectContaining({ unit: 'hp1', field: 'heatMw', valueMw: 2, mode: 'advisory', kind: 'heat_pump' })]);
    control.setMode('hp1', 'automatic', 'tok-1', withHp(2));
    expect(reports.due(withHp(2), control.recommendations(withHp(2)))).toEqual([expect.objectContaining({ unit: 'hp1', mode: 'automatic' })]);
    const otherStatus = result.explanations.boiler1!.status === 'unavailable' ? 'off' : 'unavailable';
    const statusChanged: DispatchResult = { ...withHp(2), explanations: { ...result.explanations, boiler1: { ...result.explanations.boiler1!, status: otherStatus } } };
    expect(due(statusChanged)).toEqual(['boiler1']);
    expect(due({ ...withHp(5), status: 'failed' })).toEqual([]); // a failed tick holds the last setpoints
    await control.close();
  });

  it('reports alarms when their set or the tick status changed, not when only their texts did', () => {
    const reports = new AlarmReports();
    const stale = { level: 'warning' as const, code: 'stale' as const, input: 'hp1.cop', message: 'hp1.cop: no reading for 65 s; using the last good value' };
    const withAlarms = (alarms: DispatchResult['alarms'], status: DispatchResult['status'] = 'optimal'): DispatchResult => ({ ...result, alarms, status });
    expect(reports.due(withAlarms([]))).toMatchObject({ alarms: [], status: 'optimal' });
    expect(reports.due(withAlarms([]))).toBeUndefined();
    expect(reports.due(withAlarms([stale]))?.alarms).toEqual([stale]);
    expect(reports.due(withAlarms([{ ...stale, message: 'hp1.cop: no reading for 125 s; using the last good value' }]))).toBeUndefined();
    expect(reports.due(withAlarms([{ ...stale, level: 'critical', code: 'expired' }]))?.alarms).toHaveLength(1);
    expect(reports.due(withAlarms([{ ...stale, level: 'critical', code: 'expired' }], 'failed'))?.status).toBe('failed');
    expect(reports.due(withAlarms([]))).toMatchObject({ alarms: [] });
  });

  it('times out an unanswered command and sends it again on a later tick', async () => {
    const { control, sent, audit } = make(60);
    control.setMode('hp1', 'automatic', 'tok-1', withHp(1));
    await waitFor(() => control.views().find((v) => v.unit === 'hp1')!.lastCommand!.state === 'timed_out', 2000, 5);
    expect(audit.at(-1)).toMatchObject({ type: 'ack_timeout', unit: 'hp1' });
    control.onResult(withHp(1), control.recommendations(withHp(1)));
    expect(sent).toHaveLength(2);
    expect(sent[1]!.payload.id).not.toBe(sent[0]!.payload.id);
    await control.close();
  });
});

describe('audit trail', () => {
  it('appends JSON lines per UTC day and reads them newest first, skipping broken lines', async () => {
    const trail = new AuditTrail(join(dir.path, 'audit', 'demo'), log);
    const yesterday = Date.now() - 86_400_000;
    const now = Date.now();
    const mode = (ts: number, unit: string): AuditEntry => ({ type: 'mode', ts, unit, from: 'advisory', to: 'automatic', by: 't' });
    trail.append(mode(yesterday, 'a'));
    trail.append(mode(now - 2, 'b'));
    trail.append({ type: 'ack_timeout', ts: now - 1, unit: 'c', id: 'x', device: 'd', afterMs: 10 });
    await trail.flush();
    await appendFile(join(trail.dir, `${dayOf(now)}.jsonl`), '{"type":"mode","ts":\n');
    trail.append(mode(now, 'd'));
    expect((await trail.read({ limit: 10 })).map((e) => e.ts)).toEqual([now, now - 1, now - 2, yesterday]);
    expect((await trail.read({ limit: 2 })).map((e) => e.ts)).toEqual([now, now - 1]);
    expect((await trail.read({ limit: 10, since: now - 1 })).map((e) => e.ts)).toEqual([now, now - 1]);
    expect((await trail.read({ limit: 10, type: 'mode' })).map((e) => (e as { unit: string }).unit)).toEqual(['d', 'b', 'a']);
    await trail.close();
    expect(await new AuditTrail(join(dir.path, 'audit', 'nobody'), log).read({ limit: 5 })).toEqual([]);
  });

  it('with a retention, deletes the day files wholly older than it after a write, and nothing else', async () => {
    const day = 86_400_000;
    const now = Date.UTC(2026, 10, 21, 10);
    const trail = new AuditTrail(join(dir.path, 'audit', 'kept-2-days'), log, 2, () => now);
    await mkdir(trail.dir, { recursive: true });
    await writeFile(join(trail.dir, 'notes.txt'), 'not a day file');
    const mode = (ts: number): AuditEntry => ({ type: 'mode', ts, unit: 'u', from: 'advisory', to: 'automatic', by: 't' });
    for (const ago of [5, 3, 2.4, 1, 0]) trail.append(mode(now - ago * day));
    await trail.flush();
    // 2026-11-18 ended 58 h before now: gone. 2026-11-19 ended 34 h before, within the 2 days: kept.
    expect((await readdir(trail.dir)).sort()).toEqual(['2026-11-19.jsonl', '2026-11-20.jsonl', '2026-11-21.jsonl', 'notes.txt']);
    expect((await trail.read({ limit: 10 })).map((e) => (now - e.ts) / day)).toEqual([0, 1, 2.4]);
    await trail.close();
  });
});

describe('dispatch series', () => {
  it('stores powers in kW, shares in % and prices in EUR/MWh under the reserved device', () => {
    const readings = dispatchReadings('demo', result, { hp1: 1.25, Tank1: -0.5 });
    const by = new Map(readings.map((r: Reading) => [r.metric, r]));
    expect(by.get('setpoint_hp1')).toMatchObject({ device: 'dispatch', value: 1250, unit: 'kW', ts: result.ts });
    expect(by.get('setpoint_tank1')!.value).toBe(-500);
    expect(by.get('unmet_kw')!.value).toBeCloseTo(result.kpis.unmetDemandMw * 1000, 9);
    expect(by.get('waste_heat_share')).toMatchObject({ unit: '%', value: result.kpis.wasteHeatShare * 100 });
    expect(by.get('price_heat_zone_north')).toMatchObject({ unit: 'EUR/MWh', value: result.prices.heat.zone_north });
    expect(readings.every((r) => /^[a-z][a-z0-9_]{0,63}$/.test(r.metric) && Number.isFinite(r.value))).toBe(true);
  });
});

describe('dispatch routes without a broker', () => {
  let hub: DispatchHub;
  let slow: DispatchHub;
  let app: Awaited<ReturnType<typeof buildApi>>;
  let port: number;
  const appended: Reading[][] = [];
  beforeAll(async () => {
    const pipeline = { on: () => undefined };
    // A publish that throws and a writer that fails: the service must shrug both off.
    const deps = {
      pipeline,
      writer: { append: async (e: { readings: Reading[] }) => void appended.push(e.readings) },
      publish: () => {
        throw new Error('broker gone');
      },
      log,
      dataDir: join(dir.path, 'routes'),
    };
    hub = await startDispatch(loadCouplings({ coupling: [entry({ warmupMs: 0, tickMs: 60_000 })] }), deps);
    slow = await startDispatch(loadCouplings({ coupling: [entry({ tenant: 'slow', warmupMs: 60_000 })] }), { ...deps, writer: { append: () => Promise.reject(new Error('disk full')) } });
    hub.start();
    slow.start();
    const tokens = { verifyToken: (t: string) => (t === 'demo' || t === 'slow' ? { tenant: t, role: 'read' as const, tokenId: `id-${t}` } : null) };
    const deps2 = { store: {}, tokens, devices: {}, metrics: new Registry(), ready: async () => ({ ready: true, checks: {} }), log } as unknown as ApiDeps;
    app = await buildApi(deps2, { plugins: [async (a) => dispatchRoutes(a, { ...hub, service: (t) => hub.service(t) ?? slow.service(t) }, { heartbeatMs: 30 })] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await hub?.close();
    await slow?.close();
    await app?.close();
  });

  it('says what the first tick waits for', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/dispatch/latest`, { headers: { authorization: 'Bearer slow' } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toMatch(/no dispatch tick yet: waiting for the first readings of zone_north\.demandMw/);
  });

  it('streams the latest result first, then heartbeats', async () => {
    await waitFor(() => hub.service('demo')!.latest !== undefined, 5000);
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/dispatch/stream`, { headers: { authorization: 'Bearer demo' }, signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    while (!text.includes(': heartbeat')) text += dec.decode((await reader.read()).value, { stream: true });
    ac.abort();
    expect(text.startsWith('retry: 3000\n\n')).toBe(true);
    expect(text).toMatch(/event: dispatch\nid: 1\ndata: \{"ts":/);
    expect(text.indexOf('event: dispatch')).toBeLessThan(text.indexOf(': heartbeat'));
  });

  it('takes impossible readings as an alarm, not a crash', async () => {
    const s = hub.service('demo')!;
    s.onReadings('hm-zone01-001', [{ tenant: 'demo', device: 'hm-zone01-001', metric: 'heat_power', ts: Date.now(), value: -5, unit: 'kW' }]);
    s.onReadings('hm-zone01-001', [{ tenant: 'demo', device: 'hm-zone01-001', metric: 'heat_power', ts: Date.now(), value: Number.NaN, unit: 'kW' }]);
    const r = await waitFor(() => s.latest?.alarms.some((a) => a.code === 'rejected') && s.latest, 2000, 5);
    expect(r.status).toBe('optimal');
    expect(r.alarms.filter((a) => a.code === 'rejected').map((a) => a.message).join(' ')).toMatch(/negative flow -5 kW.*NaN|NaN.*negative flow/);
    expect(s.stats.rejectedReadings).toBe(2);
    // The first tick stored series despite the broken publish.
    expect(appended.length).toBeGreaterThan(0);
    const entries = await s.audit.read({ limit: 10, type: 'recommendation' });
    expect(entries.length).toBeGreaterThan(0);
  });

  it('ticks when a reading changes a value, not when it repeats one', async () => {
    const s = hub.service('demo')!;
    await waitFor(() => s.latest !== undefined, 5000);
    const send = (value: number) => s.onReadings('hm-zone02-001', [{ tenant: 'demo', device: 'hm-zone02-001', metric: 'heat_power', ts: Date.now(), value, unit: 'kW' }]);
    const before = s.stats.inputTicks;
    send(1234);
    await waitFor(() => s.stats.inputTicks > before || undefined, 2000, 5);
    const after = s.stats.inputTicks;
    send(1234);
    // Ten times the rate limit's gap: a tick for the repeat would have come.
    await sleep(200);
    expect(s.stats.inputTicks).toBe(after);
    send(1235);
    await waitFor(() => s.stats.inputTicks > after || undefined, 2000, 5);
  });
});

describe('demo', () => {
  it('covers every zone of the demo city with heat meters from 24 devices on', async () => {
    const { demoFleet } = await import('../src/server/demo.ts');
    const ids = demoFleet(24).map((d) => d.device);
    for (const prefix of ['hm-zone01-', 'hm-zone02-', 'hm-zone03-', 'pv-']) expect(ids.some((d) => d.startsWith(prefix)), prefix).toBe(true);
    for (const d of ['whs-datacentre-1', 'wte-1', 'grid-1', 'tes-1', ...Object.values(DEMO_CONTROLS).map((c) => c.device)]) expect(ids).toContain(d);
    expect(new Set(ids).size).toBe(ids.length);
    await mkdir(dir.path, { recursive: true });
  });
});

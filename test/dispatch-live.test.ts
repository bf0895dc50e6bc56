/**
 * The coupling engine live inside the real server: simulated gateways of the demo city publish
 * over MQTT/TCP, the engine ticks, results come out on MQTT, the HTTP API and its SSE stream,
 * the audit trail and the series store; automatic mode sends a setpoint that a simulated
 * gateway acknowledges.
 *
 * Most checks read the dispatch topics through an in-process aedes subscription, where the server
 * publishes; one test reads them as an integration does, over MQTT/TCP with an API token login
 * (a device may subscribe only to its own cmd topic).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulation, type SimulationHandle } from '../simulators/index.ts';
import { defaultSpecsDir } from '../src/contract/generate.ts';
import { loadCity, type City, type DispatchResult } from '../src/coupling/index.ts';
import { dayOf } from '../src/dispatch/audit.ts';
import { alarmKey } from '../src/dispatch/exception-reports.ts';
import { DEMO_CITY, demoFleet } from '../src/server/demo.ts';
import type { RunningServer } from '../src/server/index.ts';
import { provisionSimulatedDevices } from '../src/server/simulated-fleet.ts';
import { EventStreamParser } from '../src/web/app/sse.ts';
import { jsonSchemaErrors } from './helpers/json-schema.ts';
import { api, connectDevice, startTestServer, tempDir, waitFor } from './helpers/server.ts';

const publishedSchema = (name: string): object => JSON.parse(readFileSync(join(defaultSpecsDir, 'schemas', `${name}.schema.json`), 'utf8')) as object;

/** Feeds a live stream's dispatch events to `on`, parsed as the dashboard parses them, until it ends or is aborted. */
async function readDispatches(res: Response, on: (r: DispatchResult) => void): Promise<void> {
  const parser = new EventStreamParser((event, data) => {
    if (event === 'dispatch') on(JSON.parse(data) as DispatchResult);
  });
  try {
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) parser.push(chunk);
  } catch {
    /* aborted by the test */
  }
}

const TENANT = 'demo';
const OTHER = 'stadt-b';
/** Driven by the test, not simulated: its waste heat keeps the heat pump below its device's capacity. */
const WHS = 'whs-datacentre-1';
/** A heat meter of zone_south (binding hm-zone03-*) the test drives to raise the demand. */
const SPIKE = 'hm-zone03-900';
const HP_DEVICE = 'hp-datacentre-1';

describe('live dispatch in the server', () => {
  let server: RunningServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sim: SimulationHandle;
  let apiPort: number;
  let city: City;
  const tokens: Record<string, string> = {};
  let adminTokenId = '';
  const clients: MqttClient[] = [];
  const seqs = new Map<string, number>();
  const published: Array<{ at: number; result: DispatchResult }> = [];
  const kpis: unknown[] = [];
  const otherTenantMessages: string[] = [];
  let whsTimer: NodeJS.Timeout | undefined;

  const publishData = async (c: MqttClient, device: string, metrics: Record<string, number>, units: Record<string, string>) => {
    const seq = (seqs.get(device) ?? 0) + 1;
    seqs.set(device, seq);
    await c.publishAsync(`qs/v1/${TENANT}/${device}/data`, JSON.stringify({ seq, samples: [{ ts: Date.now(), metrics }], units }), { qos: 1 });
  };
  const latestPublished = () => published[published.length - 1]!.result;

  beforeAll(async () => {
    dir = await tempDir('qs-dispatch-live-');
    server = await startTestServer(dir.path, {
      coupling: [
        {
          tenant: TENANT,
          city: DEMO_CITY,
          tickMs: 1000,
          minTickGapMs: 20,
          controls: { hp1: { device: HP_DEVICE, metric: 'heat_power', unit: 'kW' }, boiler1: { device: 'blr-1', metric: 'heat_power' } },
          ackTimeoutMs: 5000,
          seriesIntervalMs: 1000,
        },
      ],
    });
    apiPort = server.apiPort!;
    city = loadCity(DEMO_CITY);

    const aedes = server.broker.aedes;
    await new Promise<void>((resolve) =>
      aedes.subscribe(
        `qs/v1/${TENANT}/dispatch/+`,
        (packet, cb) => {
          const at = performance.now();
          if (packet.topic.endsWith('/latest')) published.push({ at, result: JSON.parse(packet.payload.toString()) as DispatchResult });
          else kpis.push(JSON.parse(packet.payload.toString()));
          cb();
        },
        resolve,
      ),
    );
    await new Promise<void>((resolve) =>
      aedes.subscribe(
        `qs/v1/${OTHER}/#`,
        (packet, cb) => {
          otherTenantMessages.push(packet.topic);
          cb();
        },
        resolve,
      ),
    );

    const admin = await server.registry.addToken(TENANT, 'admin', 'operator');
    tokens.admin = admin.token;
    adminTokenId = server.registry.verifyToken(admin.token)!.tokenId;
    tokens.read = (await server.registry.addToken(TENANT, 'read')).token;
    tokens.other = (await server.registry.addToken(OTHER, 'admin')).token;

    const fleet = demoFleet(24).filter((d) => d.device !== WHS);
    const passwordFor = await provisionSimulatedDevices(server.registry, dir.path, TENANT, fleet);
    const whs = await server.registry.addDevice(TENANT, WHS, 'waste_heat_source');
    const spike = await server.registry.addDevice(TENANT, SPIKE, 'heat_meter');
    await server.registry.addDevice(OTHER, 'hm-zone03-001', 'heat_meter');

    sim = startSimulation({
      url: `mqtt://127.0.0.1:${server.broker.tcpPort}`,
      tenant: TENANT,
      devices: fleet.map((d) => ({ device: d.device, type: d.type, password: passwordFor(d.device), ...(d.variant ? { variant: d.variant } : {}) })),
      ratePerDevice: 2,
      durationS: 0,
      seed: 1,
    });

    const whsClient = await connectDevice(server.broker.tcpPort!, TENANT, WHS, whs.password);
    const spikeClient = await connectDevice(server.broker.tcpPort!, TENANT, SPIKE, spike.password);
    clients.push(whsClient, spikeClient);
    const feedWhs = () => void publishData(whsClient, WHS, { heat_power: 400, source_temp: 31 }, { heat_power: 'kW', source_temp: 'degC' }).catch(() => undefined);
    feedWhs();
    whsTimer = setInterval(feedWhs, 1000);
    await publishData(spikeClient, SPIKE, { heat_power: 100, supply_temp: 90 }, { heat_power: 'kW', supply_temp: 'degC' });
  }, 30_000);

  afterAll(async () => {
    if (whsTimer) clearInterval(whsTimer);
    for (const c of clients) c.end(true);
    await sim?.stop();
    await server?.close();
    await dir?.remove();
  }, 30_000);

  it('publishes a dispatch on MQTT and the API once simulated readings arrive, and its heat balance closes', async () => {
    // Every zone's demand comes from live meters, and the waste-heat source from the test device.
    const r = await waitFor(() => {
      const last = published[published.length - 1]?.result;
      const inputs = last?.inputs ?? {};
      const fresh = ['zone_north.demandMw', 'zone_centre.demandMw', 'zone_south.demandMw', 'whs1.availableMw', 'grid1.importPriceEurPerMWh'].every((k) => inputs[k]?.state === 'fresh');
      return fresh ? last : undefined;
    }, 15_000);
    expect(r.status).toBe('optimal');
    expect(r.city).toBe('demo-city');
    // The small KPI message of the same tick follows on its own topic (delivered a moment later).
    const tile = await waitFor(() => (kpis as Array<{ tick: number; status: string }>).find((k) => k.tick === r.tick), 5000, 5);
    expect(tile.status).toBe(r.status);

    const res = await api(apiPort, '/api/v1/dispatch/latest', tokens.read!);
    expect(res.status).toBe(200);
    expect(res.body.tick).toBeGreaterThanOrEqual(r.tick);
    expect(Object.keys(res.body.setpoints).sort()).toEqual(city.units.map((u) => u.id).sort());

    for (const result of [r, res.body as DispatchResult]) {
      for (const bus of city.buses.filter((b) => b.kind === 'heat')) {
        const z = bus.id;
        let supply = 0;
        for (const sp of Object.values(result.setpoints)) if (sp.zone === z) supply += sp.heatMw;
        let storage = 0;
        for (const s of Object.values(result.storage)) if (s.zone === z) storage += s.chargeMw - s.dischargeMw;
        let linksOut = 0;
        for (const l of city.links) {
          const f = result.flows[l.id]!;
          const keep = 1 - l.lossFraction;
          if (l.from === z) linksOut += f.forwardMw - keep * f.reverseMw;
          if (l.to === z) linksOut += f.reverseMw - keep * f.forwardMw;
        }
        const b = result.buses[z]!;
        expect(supply - b.demandMw - storage - linksOut, `heat balance of ${z}`).toBeCloseTo(b.dumpMw - b.unmetMw, 6);
        expect(Math.abs(supply - b.demandMw - storage - linksOut - (b.dumpMw - b.unmetMw))).toBeLessThan(1e-6);
      }
    }
  }, 20_000);

  it('answers a much higher heat demand with a new dispatch within a bounded time', async () => {
    const before = latestPublished();
    const southBefore = before.buses.zone_south!.demandMw;
    // Heat that meets demand: from units, from storage, or reported as unmet; minus heat dumped.
    const served = (r: DispatchResult) =>
      r.kpis.heatSuppliedMw + r.kpis.unmetHeatMw - r.kpis.heatDumpedMw + Object.values(r.storage).reduce((s, x) => s + x.dischargeMw - x.chargeMw, 0);
    const c = clients[1]!;
    const sent = performance.now();
    const count = published.length;
    await publishData(c, SPIKE, { heat_power: 15_000, supply_temp: 90 }, { heat_power: 'kW', supply_temp: 'degC' });
    const hit = await waitFor(() => published.slice(count).find((p) => p.result.buses.zone_south!.demandMw > southBefore + 12), 5000, 5);
    const latencyMs = hit.at - sent;
    // Typically a few ms (WAL fsync + tick + publish); the bound leaves room for a busy machine.
    expect(latencyMs).toBeLessThan(1000);
    const after = hit.result;
    expect(after.status).toBe('optimal');
    // The extra ~15 MW is served or reported as unmet, never lost (links lose a few per cent).
    const demandUp = after.buses.zone_south!.demandMw - southBefore;
    expect(served(after) - served(before)).toBeGreaterThan(0.9 * demandUp);
    // Back to a normal reading, so the rest of the run sees a normal city.
    await publishData(c, SPIKE, { heat_power: 100, supply_temp: 90 }, { heat_power: 'kW', supply_temp: 'degC' });
  }, 15_000);

  it('streams every tick as server-sent events and cleans up when the client goes', async () => {
    const service = server.dispatch.service(TENANT)!;
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/dispatch/stream`, { headers: { authorization: `Bearer ${tokens.read}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(service.subscribers).toBe(1);
    const events: DispatchResult[] = [];
    const reading = readDispatches(res, (r) => {
      if (events.length < 3) events.push(r);
    });
    await waitFor(() => events.length === 3 || undefined, 8000).catch(() => undefined);
    ac.abort();
    await reading;
    expect(events.length).toBe(3);
    expect(events[1]!.tick).toBeGreaterThan(events[0]!.tick);
    expect(events[2]!.tick).toBeGreaterThan(events[1]!.tick);
    expect(events[2]!.status).toBe('optimal');
    await waitFor(() => service.subscribers === 0, 5000);
  }, 15_000);

  it('coalesces the stream with minIntervalMs: the latest tick of each interval, at its end', async () => {
    const service = server.dispatch.service(TENANT)!;
    const url = (q: string) => `http://127.0.0.1:${apiPort}/api/v1/dispatch/stream?${q}`;
    const headers = { authorization: `Bearer ${tokens.read}` };
    const bad = await fetch(url('minIntervalMs=-5'), { headers });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/minIntervalMs/);

    const ac = new AbortController();
    const res = await fetch(url('minIntervalMs=500'), { headers, signal: ac.signal });
    expect(res.status).toBe(200);
    const events: Array<{ tick: number; at: number }> = [];
    const reading = readDispatches(res, (r) => events.push({ tick: r.tick, at: Date.now() }));
    // The latest tick comes at once; then a burst of ticks, far more than one per 500 ms.
    await waitFor(() => events.length >= 1 || undefined, 5000);
    const ticks0 = service.stats.ticks;
    for (let i = 0; i < 30; i++) {
      service.tick('input');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const lastOfBurst = service.latest!.tick;
    await waitFor(() => events.some((e) => e.tick >= lastOfBurst) || undefined, 3000);
    ac.abort();
    await reading;
    const ticked = service.stats.ticks - ticks0;
    expect(ticked).toBeGreaterThanOrEqual(30);
    // About 600 ms of ticks in at most 2 coalesced events after the first, each at least ~500 ms apart.
    expect(events.length).toBeLessThanOrEqual(4);
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.tick).toBeGreaterThan(events[i - 1]!.tick);
      expect(events[i]!.at - events[i - 1]!.at).toBeGreaterThanOrEqual(400);
    }
    await waitFor(() => service.subscribers === 0 || undefined, 5000);
  }, 15_000);

  it('keeps an audit trail (file and API) and stores dispatch series', async () => {
    const file = join(dir.path, 'audit', TENANT, `${dayOf(Date.now())}.jsonl`);
    const lines = async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    const n0 = await waitFor(async () => (await lines()) || undefined, 5000);
    const c = clients[1]!;
    await publishData(c, SPIKE, { heat_power: 9000, supply_temp: 90 }, { heat_power: 'kW', supply_temp: 'degC' });
    await waitFor(async () => (await lines()) > n0, 5000);

    const audit = await api(apiPort, '/api/v1/dispatch/audit?limit=20&type=recommendation', tokens.read!);
    expect(audit.status).toBe(200);
    const entries = audit.body.entries as Array<{ type: string; ts: number; setpointsMw: Record<string, number>; alarms: unknown[] }>;
    expect(entries.length).toBeGreaterThan(1);
    expect(entries.every((e) => e.type === 'recommendation')).toBe(true);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.ts).toBeLessThanOrEqual(entries[i - 1]!.ts);
    expect(Object.keys(entries[0]!.setpointsMw)).toContain('hp1');
    const since = await api(apiPort, `/api/v1/dispatch/audit?since=${entries[0]!.ts}`, tokens.read!);
    expect(since.body.entries.every((e: { ts: number }) => e.ts >= entries[0]!.ts)).toBe(true);
    expect((await api(apiPort, '/api/v1/dispatch/audit?since=yesterday', tokens.read!)).body.field).toBe('since');

    const series = await waitFor(async () => {
      const r = await api(apiPort, '/api/v1/series?device=dispatch&metric=cost_eur_h', tokens.read!);
      return r.body.readings?.length > 0 ? r.body.readings : undefined;
    }, 10_000);
    expect(series[0].unit).toBe('EUR/h');
    const setpoint = await api(apiPort, '/api/v1/latest?device=dispatch&metric=setpoint_hp1', tokens.read!);
    expect(setpoint.body.readings[0].unit).toBe('kW');
    expect(setpoint.body.readings[0].value).toBeGreaterThanOrEqual(0);
    expect(setpoint.body.readings[0].value).toBeLessThanOrEqual(4000);

    const alarms = await api(apiPort, '/api/v1/dispatch/alarms', tokens.read!);
    expect(alarms.status).toBe(200);
    expect(Array.isArray(alarms.body.alarms)).toBe(true);
    const lp = await fetch(`http://127.0.0.1:${apiPort}/api/v1/dispatch/export.lp`, { headers: { authorization: `Bearer ${tokens.read}` } });
    expect(lp.headers.get('content-type')).toMatch(/^text\/plain/);
    const lpText = await lp.text();
    expect(lpText).toMatch(/Minimize/i);
    expect(lpText).toMatch(/Subject To/i);
    expect(lpText).toContain('bal.zone_south');
  }, 20_000);

  it('documents the routes in OpenAPI and exports dispatch metrics', async () => {
    const doc = (await (await fetch(`http://127.0.0.1:${apiPort}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    for (const p of ['/api/v1/dispatch/latest', '/api/v1/dispatch/stream', '/api/v1/dispatch/audit', '/api/v1/dispatch/alarms', '/api/v1/dispatch/units', '/api/v1/dispatch/units/{unit}/mode', '/api/v1/dispatch/export.lp']) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(doc.components.schemas.DispatchResult).toBeDefined();
    expect(doc.components.schemas.AuditEntry).toBeDefined();
    const metrics = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
    expect(metrics).toMatch(/querstrom_dispatch_ticks_total\{tenant="demo",reason="input"\} [1-9]/);
    expect(metrics).toMatch(/querstrom_dispatch_last_tick_seconds\{tenant="demo"\}/);
  });

  it('isolates tenants: another tenant sees no dispatch, series or MQTT results', async () => {
    for (const path of ['/api/v1/dispatch/latest', '/api/v1/dispatch/units', '/api/v1/dispatch/audit', '/api/v1/dispatch/alarms', '/api/v1/dispatch/export.lp', '/api/v1/dispatch/stream']) {
      const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, { headers: { authorization: `Bearer ${tokens.other}` } });
      expect(r.status, path).toBe(404);
      expect(((await r.json()) as { message: string }).message).toMatch(/no coupling engine runs for tenant "stadt-b"/);
    }
    const mode = await api(apiPort, '/api/v1/dispatch/units/hp1/mode', tokens.other!, { method: 'POST', body: JSON.stringify({ mode: 'automatic' }) });
    expect(mode.status).toBe(404);
    const series = await api(apiPort, '/api/v1/series?device=dispatch', tokens.other!);
    expect(series.body.readings).toEqual([]);
    expect(otherTenantMessages).toEqual([]);
    expect((await api(apiPort, '/api/v1/dispatch/latest', 'qst_not-a-token')).status).toBe(401);
  });

  it('an API token logs in to MQTT read-only: its tenant\'s dispatch topics, nothing else, until it is revoked', async () => {
    const port = server.broker.tcpPort!;
    // A foreign client (mosquitto_sub) with the read token as password gets the retained KPIs.
    const { stdout } = await promisify(execFile)('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-u', TENANT, '-P', tokens.read!, '-t', `qs/v1/${TENANT}/dispatch/kpis`, '-C', '1', '-W', '10'], { timeout: 15_000 });
    expect(JSON.parse(stdout)).toMatchObject({ status: 'optimal', kpis: { costEurPerH: expect.any(Number) } });
    // What arrives over MQTT is what the published contract (firmware-specs, AsyncAPI) says.
    expect(jsonSchemaErrors(publishedSchema('dispatch-kpis'), JSON.parse(stdout))).toEqual([]);

    const login = (username: string, password: string, opts: mqtt.IClientOptions = {}) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const connackCode = (p: Promise<MqttClient>) => p.then(() => 0, (err: { code?: number }) => err.code);
    expect(await connackCode(login(TENANT, 'qst_not-a-token'))).toBe(4);
    expect(await connackCode(login(TENANT, tokens.other!))).toBe(5);
    expect(await connackCode(login(TENANT, tokens.read!, { will: { topic: `qs/v1/${TENANT}/dispatch/x`, payload: Buffer.from('x'), qos: 0, retain: false } }))).toBe(5);

    const revocable = await server.registry.addToken(TENANT, 'read', 'scada');
    const reader = await login(TENANT, revocable.token);
    clients.push(reader);
    const got: string[] = [];
    let latestPayload: Buffer | undefined;
    reader.on('message', (topic, payload) => {
      got.push(topic);
      if (topic.endsWith('/dispatch/latest')) latestPayload = payload;
    });
    const suback = (filter: string) => reader.subscribeAsync(filter).then((g) => g[0]!.qos, (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0]);
    const granted: (number | undefined)[] = [];
    for (const filter of [`qs/v1/${TENANT}/dispatch/#`, `qs/v1/${OTHER}/dispatch/#`, `qs/v1/${TENANT}/${WHS}/data`, `qs/v1/+/dispatch/#`, '#']) granted.push(await suback(filter));
    expect(granted).toEqual([0, 128, 128, 128, 128]);
    await waitFor(() => got.includes(`qs/v1/${TENANT}/dispatch/latest`) || undefined, 10_000);
    expect(got.every((t) => t.startsWith(`qs/v1/${TENANT}/dispatch/`))).toBe(true);
    expect(jsonSchemaErrors(publishedSchema('dispatch-latest'), JSON.parse(latestPayload!.toString()))).toEqual([]);
    // Read-only: a publish is acknowledged but dropped as a rejection (never routed); the connection stays.
    const routed: string[] = [];
    await new Promise<void>((resolve) =>
      server.broker.aedes.subscribe(`qs/v1/${TENANT}/${WHS}/data`, (packet, cb) => {
        if (packet.payload.toString().includes('"seq":424242')) routed.push(packet.topic);
        cb();
      }, resolve),
    );
    await reader.publishAsync(`qs/v1/${TENANT}/${WHS}/data`, '{"seq":424242,"samples":[]}', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(routed).toEqual([]);
    expect(reader.connected).toBe(true);
    // The refusal is filed with the tenant's dead letters, under the token's id (no device).
    const letter = await waitFor(async () => {
      const r = await api<{ deadLetters: { device: string; reason: string }[] }>(apiPort, `/api/v1/dead-letters?device=api-token:${revocable.id}`, tokens.admin!);
      return r.body.deadLetters.find((l) => l.device === `api-token:${revocable.id}`);
    }, 5_000);
    expect(letter.reason).toMatch(/read-only and may not publish/);

    // Revoked: the next dispatch it would receive ends the connection instead.
    await server.registry.revokeToken(revocable.id);
    await new Promise<void>((resolve) => reader.once('close', () => resolve()));
    expect(await connackCode(login(TENANT, revocable.token))).toBe(4);
  });

  it('per-unit topics report by exception: every unit at once (retained), then what moved, and mode switches', async () => {
    const service = server.dispatch.service(TENANT)!;
    const ids = [...city.units.map((u) => u.id), ...city.storages.map((st) => st.id)].sort();
    const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.broker.tcpPort}`, { username: TENANT, password: tokens.read!, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    clients.push(reader);
    const messages: Array<{ unit: string; mode: string; valueMw: number; retain: boolean; tick: number }> = [];
    reader.on('message', (topic, payload, packet) => {
      const m = JSON.parse(payload.toString());
      expect(jsonSchemaErrors(publishedSchema('dispatch-units'), m), topic).toEqual([]);
      expect(topic).toBe(`qs/v1/${TENANT}/dispatch/units/${m.unit}`);
      expect(packet.qos).toBe(1);
      messages.push({ ...m, retain: packet.retain });
    });
    // QoS 1: messages sent by exception are not superseded by the next tick, so none may be dropped.
    expect((await reader.subscribeAsync(`qs/v1/${TENANT}/dispatch/units/+`, { qos: 1 }))[0]!.qos).toBe(1);
    // Retained: one message per unit and storage at once, whatever ticked before.
    await waitFor(() => messages.filter((m) => m.retain).length >= ids.length || undefined, 5000);
    expect(messages.filter((m) => m.retain).map((m) => m.unit).sort()).toEqual(ids);
    const latest = (await api<DispatchResult>(apiPort, '/api/v1/dispatch/latest', tokens.read!)).body;
    const tank = messages.find((m) => m.unit === 'tank1')!;
    // Within the deadband (0.1 MW here) of the latest result: it is the last reported value.
    expect(Math.abs(tank.valueMw - (latest.storage.tank1!.chargeMw - latest.storage.tank1!.dischargeMw))).toBeLessThanOrEqual(0.1 + 1e-9);

    // A persistent session (QoS 1) that is away while units change gets the changes queued.
    const persistent = (clean: boolean) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${server.broker.tcpPort}`, { username: TENANT, password: tokens.read!, clientId: 'scada-persistent', clean, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    const away = await persistent(false);
    await away.subscribeAsync(`qs/v1/${TENANT}/dispatch/units/+`, { qos: 1 });
    await away.endAsync();

    // By exception: many ticks, far fewer messages than ticks × units.
    const before = messages.length;
    const ticks0 = service.stats.ticks;
    for (let i = 0; i < 20; i++) {
      service.tick('input');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ticked = service.stats.ticks - ticks0;
    expect(messages.length - before).toBeLessThan((ticked * ids.length) / 4);

    // A mode switch is reported at the next tick, even when the value did not move.
    const switchTo = async (mode: string) => {
      const r = await api(apiPort, '/api/v1/dispatch/units/hp1/mode', tokens.admin!, { method: 'POST', body: JSON.stringify({ mode }) });
      expect(r.status).toBe(200);
      const from = messages.length;
      service.tick('input');
      return waitFor(() => messages.slice(from).find((m) => m.unit === 'hp1' && m.mode === mode), 5000);
    };
    expect((await switchTo('automatic')).retain).toBe(false);
    await switchTo('advisory');

    const queued: Array<{ unit: string; mode: string }> = [];
    const back = await persistent(false);
    clients.push(back);
    back.on('message', (_topic, payload) => queued.push(JSON.parse(payload.toString())));
    await waitFor(() => queued.some((m) => m.unit === 'hp1' && m.mode === 'automatic') || undefined, 5000);
    expect(queued.filter((m) => m.unit === 'hp1').map((m) => m.mode)).toEqual(expect.arrayContaining(['automatic', 'advisory']));
    await back.endAsync();
    await (await persistent(true)).endAsync(); // ends the stored session
  }, 20_000);

  it('the alarms topic holds the current alarms (retained), as the API lists them', async () => {
    const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.broker.tcpPort}`, { username: TENANT, password: tokens.read!, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    clients.push(reader);
    let last: { tick: number; status: string; alarms: DispatchResult['alarms'] } | undefined;
    reader.on('message', (_topic, payload, packet) => {
      const m = JSON.parse(payload.toString());
      expect(jsonSchemaErrors(publishedSchema('dispatch-alarms'), m)).toEqual([]);
      expect(packet.qos).toBe(1);
      last = m;
    });
    await reader.subscribeAsync(`qs/v1/${TENANT}/dispatch/alarms`, { qos: 1 });
    // Sent only when the set changes, so it matches the API's latest tick by level, code and input.
    await waitFor(async () => {
      if (!last) return undefined;
      const api1 = (await api<{ status: string; alarms: DispatchResult['alarms'] }>(apiPort, '/api/v1/dispatch/alarms', tokens.read!)).body;
      return (alarmKey(api1.alarms) === alarmKey(last.alarms) && api1.status === last.status) || undefined;
    }, 5000);
    await reader.endAsync();
  });

  it('automatic mode sends the setpoint to the device and tracks its ack', async () => {
    const refused = await api(apiPort, '/api/v1/dispatch/units/hp1/mode', tokens.read!, { method: 'POST', body: JSON.stringify({ mode: 'automatic' }) });
    expect(refused.status).toBe(403);
    expect((await api(apiPort, '/api/v1/dispatch/units/whs1/mode', tokens.admin!, { method: 'POST', body: JSON.stringify({ mode: 'automatic' }) })).status).toBe(409);
    expect((await api(apiPort, '/api/v1/dispatch/units/nope/mode', tokens.admin!, { method: 'POST', body: JSON.stringify({ mode: 'automatic' }) })).status).toBe(404);
    const bad = await api(apiPort, '/api/v1/dispatch/units/hp1/mode', tokens.admin!, { method: 'POST', body: JSON.stringify({ mode: 'auto' }) });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('mode');

    const before = await api(apiPort, '/api/v1/dispatch/units', tokens.read!);
    expect(before.body.units.find((u: { unit: string }) => u.unit === 'hp1').mode).toBe('advisory');
    const switched = await api(apiPort, '/api/v1/dispatch/units/hp1/mode', tokens.admin!, { method: 'POST', body: JSON.stringify({ mode: 'automatic' }) });
    expect(switched.status).toBe(200);
    expect(switched.body.mode).toBe('automatic');
    expect(switched.body.lastCommand.state).toBe('pending');

    // The simulated heat pump applies it and acks; the server matches the ack to the command.
    const gateway = sim.gateway(HP_DEVICE)!;
    const applied = await waitFor(() => gateway.acknowledged.find((a) => a.id === switched.body.lastCommand.id), 10_000);
    expect(applied.reason).toBeUndefined();
    expect(applied.ok).toBe(true);
    expect(applied.metric).toBe('heat_power');
    expect(applied.unit).toBe('kW');
    expect(applied.value).toBeCloseTo(switched.body.lastCommand.valueMw * 1000, 2);
    const hp = await waitFor(async () => {
      const units = (await api(apiPort, '/api/v1/dispatch/units', tokens.read!)).body.units as Array<{ unit: string; lastCommand: { id: string; state: string } | null }>;
      const u = units.find((x) => x.unit === 'hp1')!;
      return u.lastCommand?.state === 'acked' ? u : undefined;
    }, 10_000);
    expect(hp.lastCommand!.id).toBe(switched.body.lastCommand.id);
    // Units left advisory get no commands.
    const units = (await api(apiPort, '/api/v1/dispatch/units', tokens.read!)).body.units as Array<{ unit: string; lastCommand: unknown }>;
    expect(units.find((u) => u.unit === 'boiler1')!.lastCommand).toBeNull();

    const trail = (await api(apiPort, '/api/v1/dispatch/audit?limit=1000', tokens.read!)).body.entries as Array<Record<string, unknown>>;
    const mode = trail.find((e) => e.type === 'mode' && e.unit === 'hp1');
    expect(mode).toMatchObject({ from: 'advisory', to: 'automatic', by: adminTokenId });
    expect(trail.find((e) => e.type === 'command' && e.id === switched.body.lastCommand.id)).toMatchObject({ device: HP_DEVICE, metric: 'heat_power', valueUnit: 'kW' });
    expect(trail.find((e) => e.type === 'ack' && e.id === switched.body.lastCommand.id)).toMatchObject({ ok: true, device: HP_DEVICE });
    // The recommendation the command carried out is in the trail too.
    const rec = trail.find((e) => e.type === 'recommendation' && e.tick === switched.body.lastCommand.tick) as { setpointsMw: Record<string, number> } | undefined;
    expect(rec?.setpointsMw.hp1).toBeCloseTo(switched.body.lastCommand.valueMw, 5);

    const back = await api(apiPort, '/api/v1/dispatch/units/hp1/mode', tokens.admin!, { method: 'POST', body: JSON.stringify({ mode: 'advisory' }) });
    expect(back.body.mode).toBe('advisory');
    // Modes survive a restart: the file follows each switch.
    const modesFile = join(dir.path, 'dispatch', TENANT, 'modes.json');
    await waitFor(async () => Object.keys((JSON.parse(await readFile(modesFile, 'utf8')) as { modes: object }).modes).length === 0, 5000);
  }, 30_000);

  it('shuts down cleanly with a live stream open, writing what was pending', async () => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/dispatch/stream`, { headers: { authorization: `Bearer ${tokens.read}` } });
    const reader = res.body!.getReader();
    await reader.read();
    await sim.stop();
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
    // The stream ends instead of holding the shutdown.
    for (;;) if ((await reader.read()).done) break;
    const lines = (await readFile(join(dir.path, 'audit', TENANT, `${dayOf(Date.now())}.jsonl`), 'utf8')).trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1]!).ts).toBeGreaterThan(0);
  }, 20_000);
});

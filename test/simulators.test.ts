import net from 'node:net';
import { Aedes, type Client } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ackPayloadSchema,
  birthPayloadSchema,
  dataPayloadSchema,
  deviceTypes,
  idSchema,
  knownUnits,
  normalise,
  parseTopic,
  statePayloadSchema,
  timestampToMs,
  type DataPayload,
} from '../src/contract/index.ts';
import {
  DeviceModel,
  Environment,
  SampleStream,
  faultsFromNames,
  malformPayload,
  malformedKinds,
  planFleet,
  simulateOptionsSchema,
  simulatedDeviceTypes,
  simulationFromOptions,
  startSimulation,
  type SimulationReport,
} from '../simulators/index.ts';
import { drawDeviceFaults } from '../simulators/faults.ts';
import { carnotCop, createRng, envAt, heatFromFlow, sunElevationDeg, weatherAt } from '../simulators/signals/index.ts';

const HOUR = 3_600_000;
const YEAR_START = Date.UTC(2025, 0, 1);

/** Hourly samples of one model over a year (or a shorter span). */
function series(model: DeviceModel, hours = 8760, stepH = 1, start = YEAR_START): Array<{ t: number; v: Record<string, number> }> {
  const out: Array<{ t: number; v: Record<string, number> }> = [];
  for (let h = 0; h < hours; h += stepH) {
    const t = start + h * HOUR;
    out.push({ t, v: model.sample(t) });
  }
  return out;
}

const canonical = (value: number, unit: string): number => {
  const r = normalise(value, unit);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

describe('signals', () => {
  it('has a plausible climate and market at ~51°N', () => {
    let jan = 0;
    let nJan = 0;
    let jul = 0;
    let nJul = 0;
    let negativePrices = 0;
    for (let t = YEAR_START; t < YEAR_START + 365 * 24 * HOUR; t += HOUR) {
      const e = envAt(t, 7);
      const month = new Date(t).getUTCMonth();
      if (month === 0) (jan += e.weather.outdoorTempC), nJan++;
      if (month === 6) (jul += e.weather.outdoorTempC), nJul++;
      if (e.weather.sunElevationDeg <= 0) expect(e.weather.irradianceWm2).toBe(0);
      expect(e.weather.irradianceWm2).toBeLessThanOrEqual(e.weather.clearSkyWm2 + 1e-9);
      expect(e.weather.windSpeedMs).toBeGreaterThanOrEqual(0);
      expect(e.weather.humidityPct).toBeGreaterThanOrEqual(0);
      expect(e.weather.humidityPct).toBeLessThanOrEqual(100);
      expect(e.market.co2GPerKWh).toBeGreaterThan(0);
      if (e.market.priceEurMWh < 0) negativePrices++;
    }
    expect(jan / nJan).toBeGreaterThan(-4);
    expect(jan / nJan).toBeLessThan(6);
    expect(jul / nJul).toBeGreaterThan(14);
    expect(jul / nJul).toBeLessThan(23);
    expect(jul / nJul - jan / nJan).toBeGreaterThan(10);
    // Negative prices happen, but rarely.
    expect(negativePrices).toBeGreaterThan(0);
    expect(negativePrices).toBeLessThan(1000);
    // Noon sun at the summer solstice ~62° at 51.4°N, ~15° at the winter solstice.
    expect(sunElevationDeg(Date.UTC(2025, 5, 21, 11, 30))).toBeGreaterThan(58);
    expect(sunElevationDeg(Date.UTC(2025, 11, 21, 11, 30))).toBeLessThan(17);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const run = (seed: number) => series(new DeviceModel({ type: 'heat_meter', device: 'hm-zone01-001', seed }), 48);
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    expect(weatherAt(Date.UTC(2025, 2, 3, 9), 5)).toEqual(weatherAt(Date.UTC(2025, 2, 3, 9), 5));
  });

  it('heat demand is higher in cold hours and peaks in the morning', () => {
    const model = new DeviceModel({ type: 'heat_meter', device: 'hm-zone02-007', seed: 3, altUnits: false });
    const env = new Environment(3);
    let cold = 0;
    let nCold = 0;
    let warm = 0;
    let nWarm = 0;
    let morning = 0;
    let night = 0;
    for (const { t, v } of series(model)) {
      const temp = env.at(t).weather.buildingTempC;
      if (temp < 0) (cold += v.heat_power!), nCold++;
      if (temp > 16) (warm += v.heat_power!), nWarm++;
      const local = env.at(t).local.hour;
      const month = new Date(t).getUTCMonth();
      if (month <= 1 && Math.floor(local) === 7) morning += v.heat_power!;
      if (month <= 1 && Math.floor(local) === 3) night += v.heat_power!;
    }
    expect(nCold).toBeGreaterThan(100);
    expect(nWarm).toBeGreaterThan(100);
    expect(cold / nCold).toBeGreaterThan(3 * (warm / nWarm));
    expect(morning).toBeGreaterThan(1.15 * night);
  });

  it('heat meters keep power = flow·ρ·c·ΔT and a monotonic energy counter', () => {
    for (const altUnits of [false, true]) {
      const model = new DeviceModel({ type: 'heat_meter', device: 'hm-zone03-011', seed: 9, altUnits });
      const u = model.units();
      const rows = series(model, 24 * 30, 0.25);
      let integral = 0;
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i]!.v;
        const kw = canonical(v.heat_power!, u.heat_power!);
        const dT = canonical(v.supply_temp!, u.supply_temp!) - canonical(v.return_temp!, u.return_temp!);
        expect(dT).toBeGreaterThanOrEqual(14.99);
        expect(Math.abs(heatFromFlow(canonical(v.flow!, u.flow!), dT) - kw)).toBeLessThanOrEqual(0.002 * kw + 0.01);
        if (i > 0) {
          const prev = rows[i - 1]!.v;
          expect(v.energy!).toBeGreaterThanOrEqual(prev.energy!);
          integral += ((kw + canonical(prev.heat_power!, u.heat_power!)) / 2) * 0.25;
        }
      }
      const counted = canonical(rows.at(-1)!.v.energy!, u.energy!) - canonical(rows[0]!.v.energy!, u.energy!);
      expect(counted).toBeGreaterThan(0);
      expect(Math.abs(counted - integral) / integral).toBeLessThan(0.03);
    }
  });

  it('heat pump COP stays between 1 and the Carnot limit and equals heat/electricity', () => {
    for (const variant of ['air', 'sewage', 'datacentre']) {
      const model = new DeviceModel({ type: 'heat_pump', device: `hp-${variant}-1`, seed: 4, variant });
      const u = model.units();
      expect(u.source_temp).toBe('K');
      for (const { v } of series(model, 8760, 7)) {
        const source = canonical(v.source_temp!, u.source_temp!);
        const sink = canonical(v.sink_temp!, u.sink_temp!);
        expect(sink).toBeGreaterThan(source);
        expect(v.cop!).toBeGreaterThanOrEqual(1);
        expect(v.cop!).toBeLessThanOrEqual(carnotCop(source, sink) * 1.001);
        expect(v.cop!).toBeLessThan(8);
        const heat = canonical(v.heat_power!, u.heat_power!);
        const el = canonical(v.el_power!, u.el_power!);
        expect(Math.abs(heat / el - v.cop!)).toBeLessThanOrEqual(0.002 * v.cop!);
      }
    }
  });

  it('PV is zero at night and follows the sun by day', () => {
    const model = new DeviceModel({ type: 'pv', device: 'pv-roof-001', seed: 2 });
    const env = new Environment(2);
    let summerNoon = 0;
    let winterNoon = 0;
    for (const { t, v } of series(model, 8760, 1)) {
      const e = env.at(t);
      if (e.weather.sunElevationDeg <= 0) expect(v.el_power).toBe(0);
      expect(v.el_power!).toBeGreaterThanOrEqual(0);
      const d = new Date(t);
      if (d.getUTCHours() === 11 && d.getUTCMonth() === 5) summerNoon += v.el_power!;
      if (d.getUTCHours() === 11 && d.getUTCMonth() === 11) winterNoon += v.el_power!;
    }
    expect(summerNoon).toBeGreaterThan(2 * winterNoon);
  });

  it('plants keep their energy balances', () => {
    const chp = new DeviceModel({ type: 'gas_chp', device: 'chp-1', seed: 8, altUnits: false });
    let running = 0;
    for (const { v } of series(chp, 8760, 3)) {
      if (v.el_power === 0) {
        expect(v.gas_power).toBe(0);
        continue;
      }
      running++;
      const etaEl = v.el_power! / v.gas_power!;
      const etaTotal = (v.el_power! + v.heat_power!) / v.gas_power!;
      expect(etaEl).toBeGreaterThan(0.3);
      expect(etaEl).toBeLessThan(0.43);
      expect(etaTotal).toBeGreaterThan(0.8);
      expect(etaTotal).toBeLessThanOrEqual(0.9);
    }
    expect(running).toBeGreaterThan(200);
    const wte = new DeviceModel({ type: 'waste_to_energy', device: 'wte-1', seed: 8, altUnits: false });
    for (const { v } of series(wte, 8760, 24)) {
      const fuelMw = v.waste_feed! * 3.0; // at most 3 MWh per tonne
      expect(v.el_power! + v.heat_power!).toBeLessThan(fuelMw);
    }
    const tank = new DeviceModel({ type: 'storage_tank', device: 'tes-1', seed: 8 });
    let socs = 0;
    for (const { v } of series(tank, 24 * 60, 0.5)) {
      expect(v.soc!).toBeGreaterThanOrEqual(0);
      expect(v.soc!).toBeLessThanOrEqual(100);
      expect(v.top_temp!).toBeGreaterThanOrEqual(v.bottom_temp! - 1);
      socs += v.soc!;
    }
    expect(socs).toBeGreaterThan(0);
  });

  it('every type stays inside the bounds it declares at birth', () => {
    for (const type of simulatedDeviceTypes) {
      for (const altUnits of [false, true]) {
        const model = new DeviceModel({ type, device: `${type.replace(/_/g, '-')}-9`, seed: 11, altUnits });
        const declared = model.birthMetrics();
        const violations: string[] = [];
        for (const { t, v } of series(model, 8760, 5)) {
          for (const [name, value] of Object.entries(v)) {
            const d = declared[name]!;
            if ((d.min !== undefined && value < d.min) || (d.max !== undefined && value > d.max)) {
              violations.push(`${type} ${name}=${value} ${d.unit} outside ${d.min}..${d.max} at ${new Date(t).toISOString()}`);
            }
          }
        }
        expect(violations).toEqual([]);
      }
    }
  });
});

describe('payloads', () => {
  it('every birth and data payload validates against the contract', () => {
    const env = new Environment(1);
    const units = new Set<string>();
    for (const type of simulatedDeviceTypes) {
      expect(deviceTypes).toContain(type);
      for (const [i, format] of (['ms', 'iso'] as const).entries()) {
        const model = new DeviceModel({ type, device: `${type.replace(/_/g, '-')}-roof-${i}`, seed: 1, env, altUnits: i === 1 });
        const stream = new SampleStream({ model, batch: 3, timestampFormat: format, unitsInMessages: i === 1, rng: createRng(1) });
        const birth = birthPayloadSchema.safeParse(stream.birth(2, { seq: 0, nowMs: Date.now() }));
        expect(birth.success, JSON.stringify(birth.error?.issues)).toBe(true);
        for (const m of Object.values(model.units())) units.add(m);
        const messages = [];
        for (let k = 0; k < 9; k++) messages.push(...stream.add(YEAR_START + k * 20_000));
        expect(messages).toHaveLength(3);
        messages.forEach((m, j) => {
          expect(m.kind).toBe('data');
          const parsed = dataPayloadSchema.safeParse(JSON.parse(m.payload));
          expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
          expect(parsed.data!.seq).toBe(j);
          expect(parsed.data!.samples).toHaveLength(3);
        });
      }
    }
    // Units beyond the canonical ones are on the wire, so normalisation gets exercised.
    for (const u of ['MW', 'W', 'K', 'degF', 'km/h', 'l/s', 'MWh', 'ct/kWh']) expect(units).toContain(u);
    for (const u of units) expect(knownUnits).toContain(u);
  });

  it('every malformed kind fails JSON parsing or the schema', () => {
    const model = new DeviceModel({ type: 'heat_meter', device: 'hm-zone01-001', seed: 1 });
    const stream = new SampleStream({ model, batch: 2, rng: createRng(3) });
    stream.add(YEAR_START);
    const [valid] = stream.add(YEAR_START + 1000);
    const payload = JSON.parse(valid!.payload) as DataPayload;
    const rng = createRng(9);
    for (const kind of malformedKinds) {
      for (let i = 0; i < 20; i++) {
        const text = malformPayload(payload, kind, rng);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          expect(kind).toBe('broken_json');
          continue;
        }
        expect(kind).not.toBe('broken_json');
        expect(dataPayloadSchema.safeParse(parsed).success, `${kind}: ${text}`).toBe(false);
      }
    }
  });

  it('injects malformed siblings without consuming a seq, and wraps seq at 2^32', () => {
    const model = new DeviceModel({ type: 'pv', device: 'pv-roof-001', seed: 1 });
    const faults = drawDeviceFaults(faultsFromNames(['malformed']), createRng(1));
    const stream = new SampleStream({ model, batch: 1, initialSeq: 2 ** 32 - 2, faults: { ...faults, malformedProbability: 0.5 }, rng: createRng(2) });
    const out = [];
    for (let i = 0; i < 40; i++) out.push(...stream.add(YEAR_START + i * 1000));
    const seqs = out.filter((m) => m.kind === 'data').map((m) => (m.kind === 'data' ? m.seq : -1));
    expect(seqs.slice(0, 4)).toEqual([2 ** 32 - 2, 2 ** 32 - 1, 0, 1]);
    expect(seqs).toHaveLength(40);
    expect(out.length).toBeGreaterThan(45);
    for (const m of out) {
      if (m.kind === 'data') expect(dataPayloadSchema.safeParse(JSON.parse(m.payload)).success).toBe(true);
    }
  });

  it('skews clocks and stamps far-future samples that still validate', () => {
    const model = new DeviceModel({ type: 'weather_station', device: 'ws-1', seed: 1 });
    const faults = { ...drawDeviceFaults(faultsFromNames(['skew']), createRng(1)), skewMs: 600_000, farFutureProbability: 0.3 };
    const stream = new SampleStream({ model, batch: 1, faults, rng: createRng(5) });
    let far = 0;
    for (let i = 0; i < 50; i++) {
      for (const m of stream.add(YEAR_START + i * 1000)) {
        const p = dataPayloadSchema.parse(JSON.parse(m.payload));
        const shift = timestampToMs(p.samples[0]!.ts) - (YEAR_START + i * 1000);
        if (shift > 365 * 24 * HOUR) far++;
        else expect(shift).toBe(600_000);
      }
    }
    expect(far).toBeGreaterThan(5);
    expect(stream.stats.farFutureSamples).toBe(far);
  });

  it('answers setpoints: converts units, refuses what the device cannot do', () => {
    const hp = new DeviceModel({ type: 'heat_pump', device: 'hp-sewage-1', seed: 1, altUnits: false });
    const max = hp.birthMetrics().heat_power!.max!;
    expect(hp.setpoint('heat_power', (max / 2 / 1000), 'MW')).toEqual({ ok: true });
    const v = hp.sample(YEAR_START);
    expect(v.heat_power).toBeCloseTo(max / 2, -1);
    const tooMuch = hp.setpoint('heat_power', max * 2, 'kW');
    expect(tooMuch.ok).toBe(false);
    expect(!tooMuch.ok && tooMuch.reason).toMatch(/outside/);
    const wrongUnit = hp.setpoint('heat_power', 10, 'degC');
    expect(!wrongUnit.ok && wrongUnit.reason).toMatch(/unit "degC"/);
    const meter = new DeviceModel({ type: 'heat_meter', device: 'hm-zone01-001', seed: 1 });
    const refused = meter.setpoint('heat_power', 10, 'kW');
    expect(!refused.ok && refused.reason).toMatch(/not controllable/);
  });

  it('plans a realistic, valid, deterministic fleet', () => {
    const fleet = planFleet(500, 3);
    expect(fleet).toHaveLength(500);
    expect(new Set(fleet.map((d) => d.device)).size).toBe(500);
    for (const d of fleet) expect(idSchema.safeParse(d.device).success, d.device).toBe(true);
    const count = (t: string) => fleet.filter((d) => d.type === t).length;
    for (const t of simulatedDeviceTypes) expect(count(t), t).toBeGreaterThan(0);
    expect(count('heat_meter')).toBeGreaterThan(200);
    expect(fleet.map((d) => d.device)).toContain('hm-zone01-001');
    expect(fleet.some((d) => d.device.startsWith('whs-datacentre-'))).toBe(true);
    expect(planFleet(500, 3)).toEqual(fleet);
    const small = planFleet(5, 1);
    expect(new Set(small.map((d) => d.type)).size).toBe(5);
    expect(() => planFleet(0)).toThrow(/positive integer/);
    const big = planFleet(10_000, 1);
    expect(new Set(big.map((d) => d.device)).size).toBe(10_000);
  });

  it('validates CLI options with defaults', () => {
    const d = simulateOptionsSchema.parse({});
    expect(d).toMatchObject({ devices: 100, rate: 1, duration: 60, batch: 1, faults: [], tenant: 'demo', url: 'mqtt://127.0.0.1:1883' });
    const p = simulateOptionsSchema.parse({ devices: '20', rate: '5', duration: '3', batch: '10', faults: 'dropout, storm,storm', url: 'mqtts://broker:8883', tenant: 'city-b' });
    expect(p).toMatchObject({ devices: 20, rate: 5, duration: 3, batch: 10, faults: ['dropout', 'storm'] });
    expect(simulateOptionsSchema.safeParse({ faults: 'lightning' }).success).toBe(false);
    expect(simulateOptionsSchema.safeParse({ url: 'http://x' }).success).toBe(false);
    expect(simulateOptionsSchema.safeParse({ batch: 5000 }).success).toBe(false);
    expect(simulateOptionsSchema.safeParse({ tenant: 'a/b' }).success).toBe(false);
    const run = simulationFromOptions(p, (id) => `pw-${id}`);
    expect(run.devices).toHaveLength(20);
    expect(run.devices[0]!.password).toBe(`pw-${run.devices[0]!.device}`);
    expect(run.faults).toMatchObject({ dropout: { probabilityPerMinute: 0.2 }, storm: { windowS: 5 } });
    expect(() => startSimulation({ ...run, devices: [] })).toThrow(/at least one device/);
    expect(() => startSimulation({ ...run, ratePerDevice: -1 })).toThrow(/ratePerDevice/);
  });
});

interface Seen {
  topic: string;
  device: string;
  kind: string;
  payload: string;
  at: number;
}

describe('over real MQTT', () => {
  let broker: Aedes;
  let server: net.Server;
  let url: string;
  let subscriber: MqttClient;
  const seen: Seen[] = [];
  const deviceClients = new Set<Client>();
  /** Tenants whose data the broker swallows without PUBACK, to leave messages in flight. */
  const blackholed = new Set<string>();

  beforeAll(async () => {
    broker = await Aedes.createBroker({
      authorizePublish: (_client, packet, callback) => {
        const t = parseTopic(packet.topic);
        if (t.ok && t.topic.kind === 'data' && blackholed.has(t.topic.tenant)) return; // never answered: no PUBACK
        callback(null);
      },
    });
    broker.on('client', (c) => {
      if (c.id !== 'test-subscriber') deviceClients.add(c);
    });
    broker.on('clientDisconnect', (c) => deviceClients.delete(c));
    server = net.createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    subscriber = mqtt.connect(url, { clientId: 'test-subscriber', reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      subscriber.once('connect', () => resolve());
      subscriber.once('error', reject);
    });
    await subscriber.subscribeAsync('qs/v1/#', { qos: 1 });
    subscriber.on('message', (topic, payload) => {
      const t = parseTopic(topic);
      if (!t.ok) return;
      seen.push({ topic, device: t.topic.gateway, kind: t.topic.kind, payload: payload.toString(), at: Date.now() });
    });
  });

  afterAll(async () => {
    await subscriber?.endAsync();
    await new Promise<void>((resolve) => broker?.close(() => resolve()));
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  const ofTenant = (tenant: string) => seen.filter((s) => s.topic.startsWith(`qs/v1/${tenant}/`));
  const waitFor = async (cond: () => boolean, ms = 5000, explain?: () => string) => {
    const until = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > until) throw new Error(`timed out waiting${explain ? `: ${explain()}` : ''}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** Per device: valid data messages in arrival order; throws on an invalid one. */
  function dataByDevice(messages: Seen[]): Map<string, Array<{ seq: number; firstTs: number; samples: number; readings: number; at: number }>> {
    const out = new Map<string, Array<{ seq: number; firstTs: number; samples: number; readings: number; at: number }>>();
    for (const m of messages) {
      if (m.kind !== 'data') continue;
      const p = dataPayloadSchema.parse(JSON.parse(m.payload));
      const list = out.get(m.device) ?? [];
      list.push({
        seq: p.seq,
        firstTs: timestampToMs(p.samples[0]!.ts),
        samples: p.samples.length,
        readings: p.samples.reduce((n, s) => n + Object.keys(s.metrics).length, 0),
        at: m.at,
      });
      out.set(m.device, list);
    }
    return out;
  }

  /** Unique seqs are 0..n-1 and first arrive in increasing order; QoS 1 duplicates only repeat earlier ones. */
  function expectGaplessIncreasing(list: Array<{ seq: number }>, device: string): number[] {
    const unique: number[] = [];
    const have = new Set<number>();
    for (const { seq } of list) {
      if (have.has(seq)) continue;
      if (unique.length > 0) expect(seq, `${device} seq order`).toBeGreaterThan(unique.at(-1)!);
      unique.push(seq);
      have.add(seq);
    }
    expect(unique, `${device} seqs`).toEqual(unique.map((_, i) => i));
    return unique;
  }

  it('50 gateways: births, valid data with increasing seq; a storm of killed connections loses nothing', async () => {
    const tenant = 'stormcity';
    const fleet = planFleet(50, 5);
    const handle = startSimulation({
      url,
      tenant,
      devices: fleet.map((d) => ({ device: d.device, type: d.type, password: 'unused', ...(d.variant ? { variant: d.variant } : {}) })),
      ratePerDevice: 10,
      batch: 2,
      durationS: 0, // until stopped: the test decides when, so a slow machine cannot cut it short
      seed: 5,
      reconnectMinMs: 800,
      reconnectMaxMs: 1200,
    });
    const birthsOf = (device: string) => ofTenant(tenant).filter((m) => m.device === device && m.kind === 'birth').length;
    await waitFor(() => handle.gateways.every((g) => g.connected), 15_000);
    await new Promise((r) => setTimeout(r, 800));
    // The broker stops acknowledging, so every gateway has data in flight when its connection dies.
    blackholed.add(tenant);
    await new Promise((r) => setTimeout(r, 400));
    const killedAt = Date.now();
    const killed = [...deviceClients];
    expect(killed.length).toBe(50);
    for (const c of killed) c.conn.destroy();
    blackholed.delete(tenant);
    await waitFor(
      () => fleet.every((d) => birthsOf(d.device) >= 2),
      15_000,
      () =>
        JSON.stringify(
          fleet
            .filter((d) => birthsOf(d.device) < 2)
            .map((d) => {
              const g = handle.gateway(d.device)!;
              const r = g.report();
              return { device: d.device, births: birthsOf(d.device), connected: g.connected, queued: g.queued, connects: r.connects, disconnects: r.disconnects, resent: r.resent, ackTimeouts: r.ackTimeouts, errors: r.connectErrors, lastError: r.lastError };
            }),
        ),
    );
    await new Promise((r) => setTimeout(r, 600));
    const report: SimulationReport = await handle.stop();
    // The goodbye (retained offline state) is acknowledged by the broker before it reaches the subscriber.
    const lastState = (device: string) => ofTenant(tenant).filter((m) => m.device === device && m.kind === 'state').at(-1)?.payload;
    await waitFor(() => fleet.every((d) => lastState(d.device) === '{"state":"offline"}'), 10_000);

    const messages = ofTenant(tenant);
    const data = dataByDevice(messages);
    expect(data.size).toBe(50);
    let buffered = 0;
    for (const d of fleet) {
      const r = report.perDevice.find((x) => x.device === d.device)!;
      const list = data.get(d.device)!;
      const unique = expectGaplessIncreasing(list, d.device);
      // Nothing lost: the broker saw every message the gateway sent, each acknowledged.
      expect(r.acked).toBe(r.sent);
      expect(r.unsent + r.unacked + r.dropped).toBe(0);
      expect(r.samplesAcked).toBe(r.samples); // including the last, partial batch
      expect(r.resent).toBeGreaterThan(0); // what was in flight went out again, same seqs
      expect(unique.length).toBe(r.sent);
      expect(r.nextSeq).toBe(r.sent);
      const uniqueReadings = new Map(list.map((m) => [m.seq, m.readings]));
      expect([...uniqueReadings.values()].reduce((a, b) => a + b, 0)).toBe(r.readingsAcked);

      const births = messages.filter((m) => m.device === d.device && m.kind === 'birth').map((m) => ({ ...m, p: birthPayloadSchema.parse(JSON.parse(m.payload)) }));
      expect(births.length).toBeGreaterThanOrEqual(2);
      expect(births[0]!.p.type).toBe(d.type);
      expect(births[0]!.p.seq).toBe(0);
      expect(births[1]!.p.seq).toBeUndefined();
      expect(births[0]!.p.interval_s).toBeCloseTo(0.1); // one message per 2 samples at 10 messages/s
      const reconnectedAt = births[1]!.at;
      expect(reconnectedAt - killedAt).toBeGreaterThanOrEqual(350); // backoff: 800 ms × (0.5..1)
      // Data made while offline arrives after the reconnect, under its original seq.
      const afterReconnect = list.filter((m) => m.at >= reconnectedAt);
      const madeOffline = afterReconnect.filter((m) => m.firstTs > killedAt && m.firstTs < reconnectedAt - 50);
      if (madeOffline.length > 0) buffered++;

      const states = messages
        .filter((m) => m.device === d.device && m.kind === 'state')
        .map((m) => ({ at: m.at, state: statePayloadSchema.parse(JSON.parse(m.payload)).state }));
      expect(states[0]!.state).toBe('online');
      // The broker published the last will when the connection died, before the gateway was back.
      expect(states.some((s) => s.state === 'offline' && s.at >= killedAt && s.at <= reconnectedAt), `${d.device} last will`).toBe(true);
      expect(states.at(-1)!.state).toBe('offline'); // the clean goodbye at the end
    }
    expect(buffered).toBeGreaterThan(40);
    expect(report.totals.bufferedSent).toBeGreaterThan(0);
    expect(report.totals.connects).toBeGreaterThanOrEqual(100);
    expect(report.errors).toEqual([]);
    expect(report.totals.readingsAcked).toBeGreaterThan(50 * 3 * 10 * 2);
  });

  it('answers setpoint commands with acks and records them', async () => {
    const tenant = 'cmdcity';
    const handle = startSimulation({
      url,
      tenant,
      devices: [
        { device: 'hp-sewage-1', type: 'heat_pump', password: 'x' },
        { device: 'hm-zone01-001', type: 'heat_meter', password: 'x' },
      ],
      ratePerDevice: 5,
      durationS: 0,
      seed: 1,
    });
    try {
      await waitFor(() => handle.gateways.every((g) => g.connected) && ofTenant(tenant).filter((m) => m.kind === 'birth').length === 2);
      await new Promise((r) => setTimeout(r, 200)); // subscriptions settle
      const hp = handle.gateway('hp-sewage-1')!;
      const max = hp.model.birthMetrics().heat_power!.max!;
      const hpUnit = hp.model.units().heat_power!;
      const cmd = (device: string, body: object) => subscriber.publishAsync(`qs/v1/${tenant}/${device}/cmd`, JSON.stringify(body), { qos: 1 });
      await cmd('hp-sewage-1', { id: 'c-1', type: 'setpoint', ts: Date.now(), metric: 'heat_power', value: canonical(max, hpUnit) / 4 / 1000, unit: 'MW' });
      await cmd('hm-zone01-001', { id: 'c-2', type: 'setpoint', ts: Date.now(), metric: 'heat_power', value: 5, unit: 'kW' });
      await cmd('hp-sewage-1', { id: 'c-3', type: 'setpoint', ts: Date.now(), metric: 'heat_power' });
      await cmd('hp-sewage-1', { id: 'r-1', type: 'reject', ts: Date.now(), topic: `qs/v1/${tenant}/hp-sewage-1/data`, seq: 3, reason: 'samples.0.ts: too far in the future' });
      await waitFor(() => ofTenant(tenant).filter((m) => m.kind === 'ack').length >= 3);
      const acks = ofTenant(tenant)
        .filter((m) => m.kind === 'ack')
        .map((m) => ({ device: m.device, ack: ackPayloadSchema.parse(JSON.parse(m.payload)) }));
      expect(acks.find((a) => a.ack.id === 'c-1')).toMatchObject({ device: 'hp-sewage-1', ack: { ok: true } });
      expect(acks.find((a) => a.ack.id === 'c-2')).toMatchObject({ device: 'hm-zone01-001', ack: { ok: false } });
      expect(acks.find((a) => a.ack.id === 'c-2')!.ack.reason).toMatch(/not controllable/);
      expect(acks.find((a) => a.ack.id === 'c-3')!.ack.reason).toMatch(/invalid command/);
      expect(hp.acknowledged.map((a) => [a.id, a.ok])).toEqual([['c-1', true]]);
      await waitFor(() => hp.rejectNotices.length > 0);
      expect(hp.rejectNotices).toEqual([{ id: 'r-1', topic: `qs/v1/${tenant}/hp-sewage-1/data`, seq: 3, reason: 'samples.0.ts: too far in the future' }]);
      // The heat pump follows the setpoint from now on.
      const before = ofTenant(tenant).length;
      await waitFor(() => ofTenant(tenant).slice(before).some((m) => m.device === 'hp-sewage-1' && m.kind === 'data'));
      const last = ofTenant(tenant).filter((m) => m.device === 'hp-sewage-1' && m.kind === 'data').at(-1)!;
      const sample = dataPayloadSchema.parse(JSON.parse(last.payload)).samples.at(-1)!;
      expect(canonical(sample.metrics.heat_power!, hpUnit)).toBeCloseTo(canonical(max, hpUnit) / 4, 0);
    } finally {
      await handle.stop();
    }
  });

  it('reports wrong credentials without giving up the rest of the fleet', async () => {
    const logins: Array<{ id: string; username: string | undefined }> = [];
    const authBroker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        logins.push({ id: client.id, username });
        const ok = password?.toString() === 'right';
        if (ok) return done(null, true);
        done(Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), false);
      },
    });
    const authServer = net.createServer(authBroker.handle);
    await new Promise<void>((resolve) => authServer.listen(0, '127.0.0.1', resolve));
    try {
      const report = await startSimulation({
        url: `mqtt://127.0.0.1:${(authServer.address() as net.AddressInfo).port}`,
        tenant: 'authcity',
        devices: [
          { device: 'ws-1', type: 'weather_station', password: 'right' },
          { device: 'grid-1', type: 'grid_meter', password: 'wrong' },
        ],
        ratePerDevice: 10,
        durationS: 1.2,
        reconnectMinMs: 200,
        reconnectMaxMs: 400,
        drainTimeoutS: 0.5,
        maxQueue: 5,
      }).done;
      expect(logins).toContainEqual({ id: 'authcity/ws-1', username: 'authcity/ws-1' });
      expect(logins).toContainEqual({ id: 'authcity/grid-1', username: 'authcity/grid-1' });
      const good = report.perDevice.find((d) => d.device === 'ws-1')!;
      const bad = report.perDevice.find((d) => d.device === 'grid-1')!;
      expect(good.connects).toBe(1);
      expect(good.acked).toBeGreaterThan(5);
      expect(good.acked).toBe(good.sent);
      expect(bad.connects).toBe(0);
      expect(bad.authFailures).toBeGreaterThanOrEqual(2); // it retried, with backoff
      expect(bad.lastError).toMatch(/Bad username or password/);
      expect(bad.sent).toBe(0);
      expect(bad.unsent).toBe(5); // kept in its bounded offline queue, the oldest dropped
      expect(bad.dropped).toBe(bad.samples - 5);
      expect(report.errors).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => authBroker.close(() => resolve()));
      await new Promise<void>((resolve) => authServer.close(() => resolve()));
    }
  });

  it('injects faults the broker can see and the report counts them', async () => {
    const tenant = 'faultcity';
    const fleet = planFleet(20, 8);
    const handle = startSimulation({
      url,
      tenant,
      devices: fleet.map((d) => ({ device: d.device, type: d.type, password: 'x' })),
      ratePerDevice: 10,
      durationS: 3,
      seed: 8,
      reconnectMinMs: 200,
      reconnectMaxMs: 400,
      faults: {
        malformed: { probability: 0.15 },
        skew: { deviceProbability: 0.5, farFutureProbability: 0.05 },
        dropout: { probabilityPerMinute: 6, minS: 0.3, maxS: 0.6 },
        storm: { atS: 1.5, windowS: 0.5 },
      },
    });
    const report = await handle.done;
    const messages = ofTenant(tenant).filter((m) => m.kind === 'data');
    const valid: Seen[] = [];
    let invalid = 0;
    for (const m of messages) {
      let ok = false;
      try {
        ok = dataPayloadSchema.safeParse(JSON.parse(m.payload)).success;
      } catch {
        ok = false;
      }
      if (ok) valid.push(m);
      else invalid++;
    }
    expect(report.totals.malformedSent).toBeGreaterThan(20);
    // QoS 1 may deliver a message twice after a dropped connection, never less than once.
    expect(invalid).toBeGreaterThanOrEqual(report.totals.malformedSent);
    expect(invalid).toBeLessThan(report.totals.malformedSent * 1.5 + 5);
    const data = dataByDevice(valid);
    let far = 0;
    for (const [device, list] of data) {
      expectGaplessIncreasing(list, device);
      far += new Set(list.filter((m) => m.firstTs > Date.now() + 365 * 24 * HOUR).map((m) => m.seq)).size;
    }
    expect(report.faults.farFutureSamples).toBeGreaterThan(0);
    expect(far).toBe(report.faults.farFutureSamples);
    expect(report.faults.skewedDevices).toBeGreaterThan(3);
    expect(report.faults.storms).toBe(1);
    expect(report.faults.stormDrops).toBe(20);
    expect(report.faults.dropouts).toBeGreaterThan(0);
    expect(report.totals.acked).toBe(report.totals.sent);
    expect(Object.values(report.faults.malformed).reduce((a, b) => a + b, 0)).toBe(report.totals.malformedSent);
    expect(report.errors).toEqual([]);
  });
});

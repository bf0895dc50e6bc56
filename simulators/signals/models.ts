/**
 * Physical models per device type. Each model computes in fixed "model units" (kW, MW,
 * °C, ...) and declares wire units per device, some deliberately unusual (MW, W, K, °F,
 * km/h, ct/kWh) so the server's unit normalisation is exercised.
 */
import type { DeviceType } from '../../src/contract/index.ts';
import { createRng, hashInts, hashString, smoothNoise, type Rng } from './random.ts';
import { hourBump, hubWindSpeed, windPowerCurve, type EnvSnapshot } from './environment.ts';

/** Hot water near 70 °C: density kg/m3 and specific heat kJ/(kg·K). */
export const WATER_DENSITY = 977.8;
export const WATER_HEAT_CAPACITY = 4.19;
export const KELVIN = 273.15;

/** Heat flow (kW) carried by a water flow (m3/h) cooling by deltaK. */
export function heatFromFlow(flowM3h: number, deltaK: number): number {
  return (flowM3h / 3600) * WATER_DENSITY * WATER_HEAT_CAPACITY * deltaK;
}

/** Carnot COP of a heat pump lifting heat from sourceC to sinkC. */
export function carnotCop(sourceC: number, sinkC: number): number {
  return (sinkC + KELVIN) / Math.max(1e-6, sinkC - sourceC);
}

export interface MetricDef {
  name: string;
  /** Unit the model computes in. */
  modelUnit: string;
  /** Wire unit unless the device picks `altUnit`. */
  unit: string;
  altUnit?: string;
  description: string;
  /** Plausible bounds in model units, declared at birth. */
  min?: number;
  max?: number;
  /** Significant digits on the wire. */
  digits?: number;
  /** May be set by a `setpoint` command. */
  controllable?: boolean;
}

export interface PhysicsContext {
  /** Per-device seed for noise. */
  noiseSeed: number;
  /** Draws device parameters (capacities, offsets) once at creation. */
  rng: Rng;
  variant: string | undefined;
}

export type SetpointResult = { ok: true } | { ok: false; reason: string };

export interface Physics {
  /** Advance by dtH hours to env.tMs and return values in model units. */
  step(env: EnvSnapshot, dtH: number): Record<string, number>;
  /** Value in model units; only called for controllable metrics. */
  setpoint?(metric: string, value: number): SetpointResult;
  /** Bounds that depend on drawn parameters (capacity), in model units. */
  bounds?: Record<string, { min?: number; max?: number }>;
}

export interface ModelDef {
  firmware: string;
  /** Integrates state over time (counters, charge, ramps), so it is advanced in small steps. */
  stateful?: boolean;
  variants?: readonly string[];
  metrics: (variant: string | undefined) => MetricDef[];
  create(ctx: PhysicsContext): Physics;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
const noise = (ctx: PhysicsContext, key: number, env: EnvSnapshot, periodMs: number) => smoothNoise(ctx.noiseSeed, key, env.tMs, periodMs);

function outOfRange(metric: string, value: number, lo: number, hi: number, unit: string): SetpointResult {
  return { ok: false, reason: `${metric} setpoint ${round3(value)} ${unit} is outside ${round3(lo)}..${round3(hi)} ${unit}` };
}
const round3 = (v: number) => Math.round(v * 1000) / 1000;

const heatMeter: ModelDef = {
  firmware: 'qs-sim-heatmeter/4.2.1',
  stateful: true,
  metrics: () => [
    { name: 'heat_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Heat delivered to the zone', min: 0 },
    { name: 'supply_temp', modelUnit: 'degC', unit: 'degC', description: 'Supply (flow) temperature', min: 40, max: 130 },
    { name: 'return_temp', modelUnit: 'degC', unit: 'degC', description: 'Return temperature', min: 20, max: 90 },
    { name: 'flow', modelUnit: 'm3/h', unit: 'm3/h', altUnit: 'l/s', description: 'Volume flow of the zone substation', min: 0 },
    { name: 'energy', modelUnit: 'kWh', unit: 'kWh', altUnit: 'MWh', description: 'Heat energy counter', min: 0, digits: 10 },
  ],
  create(ctx) {
    const designKw = ctx.rng.range(400, 4000);
    const dhwShare = ctx.rng.range(0.08, 0.15);
    const returnBase = ctx.rng.range(39, 45);
    let energyKwh = Math.round(designKw * ctx.rng.range(2000, 9000));
    return {
      bounds: { heat_power: { max: designKw * 2.2 } },
      step(env, dtH) {
        const h = env.local.hour;
        const spaceProfile = 0.86 + 0.34 * hourBump(h, 6.8, 1.3) + 0.22 * hourBump(h, 19, 2) - 0.16 * hourBump(h, 2.5, 2.2);
        const hotWater = dhwShare * (0.55 + 0.9 * hourBump(h, 7, 1.2) + 0.7 * hourBump(h, 20, 1.8));
        const jitter = 1 + 0.03 * noise(ctx, 1, env, 15 * MIN) + 0.01 * noise(ctx, 2, env, MIN);
        const heatKw = Math.max(0, designKw * (env.heatFactor * (1 - dhwShare) * spaceProfile + hotWater) * jitter);
        // Sliding supply temperature: 72 °C in summer up to 110 °C on the design day.
        const supply = 72 + 38 * clamp(env.heatFactor, 0, 1) + 0.5 * noise(ctx, 3, env, 20 * MIN);
        const load = heatKw / designKw;
        const deltaK = Math.max(15, supply - (returnBase + 7 * Math.min(1, load) + 0.8 * noise(ctx, 4, env, 30 * MIN)));
        const flow = (heatKw * 3600) / (WATER_DENSITY * WATER_HEAT_CAPACITY * deltaK);
        energyKwh += heatKw * dtH;
        return { heat_power: heatKw, supply_temp: supply, return_temp: supply - deltaK, flow, energy: energyKwh };
      },
    };
  },
};

const wasteHeatSource: ModelDef = {
  firmware: 'qs-sim-wasteheat/2.0.3',
  variants: ['datacentre', 'industry', 'sewage'],
  metrics: () => [
    { name: 'heat_power', modelUnit: 'MW', unit: 'MW', altUnit: 'kW', description: 'Waste heat available at the source', min: 0, controllable: true },
    { name: 'source_temp', modelUnit: 'degC', unit: 'degC', description: 'Temperature of the waste-heat stream', min: 0, max: 120 },
  ],
  create(ctx) {
    const variant = ctx.variant ?? 'datacentre';
    const capMw = variant === 'industry' ? ctx.rng.range(2, 12) : variant === 'sewage' ? ctx.rng.range(0.3, 1.5) : ctx.rng.range(1, 6);
    const liquidCooled = ctx.rng.chance(0.3);
    const offset = ctx.rng.range(-0.5, 0.5);
    let limitMw: number | undefined;
    return {
      bounds: { heat_power: { max: capMw } },
      setpoint(_metric, value) {
        if (value < 0 || value > capMw) return outOfRange('heat_power', value, 0, capMw, 'MW');
        limitMw = value;
        return { ok: true };
      },
      step(env) {
        const h = env.local.hour;
        let load: number;
        let sourceC: number;
        if (variant === 'industry') {
          const shift = env.local.isWorkday ? (h >= 6 && h < 22 ? 0.9 : 0.35) : 0.15;
          load = shift + 0.04 * noise(ctx, 1, env, 20 * MIN);
          sourceC = 52 + 30 * clamp(load, 0, 1) + 1.5 * noise(ctx, 2, env, 30 * MIN);
        } else if (variant === 'sewage') {
          load = 0.62 + 0.22 * hourBump(h, 10, 3) + 0.18 * hourBump(h, 20, 3) + 0.05 * noise(ctx, 1, env, HOUR);
          sourceC = env.sewageTempC + offset;
        } else {
          load = 0.72 + 0.06 * hourBump(h, 14, 4) + (env.local.isWorkday ? 0.03 : 0) + 0.025 * noise(ctx, 1, env, HOUR);
          sourceC = (liquidCooled ? 46 : 31) + 0.06 * (env.weather.outdoorTempC - 10) + 0.6 * noise(ctx, 2, env, 30 * MIN);
        }
        let heat = capMw * clamp(load, 0, 1);
        if (limitMw !== undefined) heat = Math.min(heat, limitMw);
        return { heat_power: heat, source_temp: sourceC };
      },
    };
  },
};

const gasChp: ModelDef = {
  firmware: 'qs-sim-chp/3.1.0',
  stateful: true,
  metrics: () => [
    { name: 'el_power', modelUnit: 'MW', unit: 'MW', altUnit: 'kW', description: 'Electrical output', min: 0, controllable: true },
    { name: 'heat_power', modelUnit: 'MW', unit: 'MW', altUnit: 'kW', description: 'Heat output', min: 0 },
    { name: 'gas_power', modelUnit: 'MW', unit: 'MW', altUnit: 'kW', description: 'Fuel input (lower heating value)', min: 0 },
  ],
  create(ctx) {
    const capEl = ctx.rng.range(1, 10);
    const etaElMax = ctx.rng.range(0.38, 0.42);
    const etaTh = ctx.rng.range(0.85, 0.9) - etaElMax;
    const minLoad = 0.5;
    const rampPerH = 6; // full range in 10 minutes
    let load = -1; // set from the first target
    let setpointMw: number | undefined;
    const target = (env: EnvSnapshot): number => {
      if (setpointMw !== undefined) return setpointMw / capEl;
      // Heat-led with a price signal: runs when it is cold or power is expensive.
      const want = clamp(0.3 + 0.6 * env.heatFactor + (env.market.priceEurMWh - 70) / 90, 0, 1);
      const stayOn = load > 0 && want >= minLoad - 0.1;
      return want >= minLoad || stayOn ? Math.max(minLoad, want) : 0;
    };
    return {
      bounds: { el_power: { max: capEl }, heat_power: { max: (capEl / etaElMax) * etaTh }, gas_power: { max: capEl / (etaElMax * 0.88) } },
      setpoint(_metric, value) {
        if (value !== 0 && (value < capEl * minLoad || value > capEl)) {
          return { ok: false, reason: `el_power setpoint ${round3(value)} MW must be 0 or within the stable range ${round3(capEl * minLoad)}..${round3(capEl)} MW` };
        }
        setpointMw = value;
        return { ok: true };
      },
      step(env, dtH) {
        const goal = target(env);
        if (load < 0) load = goal;
        else if (goal === 0 && load <= minLoad) load = 0;
        else {
          const from = load === 0 ? minLoad : load;
          const maxMove = rampPerH * dtH;
          load = goal === 0 ? Math.max(minLoad, from - maxMove) : clamp(goal, from - maxMove, from + maxMove);
        }
        if (load <= 0) return { el_power: 0, heat_power: 0, gas_power: 0 };
        const el = capEl * Math.min(1, load * (1 + 0.004 * noise(ctx, 1, env, MIN)));
        const etaEl = etaElMax * (1 - (0.12 * (1 - el / capEl)) / (1 - minLoad));
        const gas = el / etaEl;
        return { el_power: el, heat_power: gas * etaTh, gas_power: gas };
      },
    };
  },
};

const wasteToEnergy: ModelDef = {
  firmware: 'qs-sim-wte/1.8.2',
  metrics: () => [
    { name: 'waste_feed', modelUnit: 't/h', unit: 't/h', altUnit: 'kg/s', description: 'Waste fed to the grate', min: 0 },
    { name: 'el_power', modelUnit: 'MW', unit: 'MW', description: 'Electrical output', min: 0 },
    { name: 'heat_power', modelUnit: 'MW', unit: 'MW', description: 'Heat to the district-heating network', min: 0 },
  ],
  create(ctx) {
    const capFeed = ctx.rng.range(12, 35);
    const lhvMWhPerT = ctx.rng.range(2.6, 3.0); // ~10 MJ/kg municipal waste
    return {
      bounds: { waste_feed: { max: capFeed }, el_power: { max: capFeed * lhvMWhPerT * 0.3 }, heat_power: { max: capFeed * lhvMWhPerT * 0.7 } },
      step(env) {
        const feed = clamp(capFeed * (0.88 + 0.04 * noise(ctx, 1, env, 2 * HOUR) + 0.015 * noise(ctx, 2, env, 5 * MIN)), 0, capFeed);
        const fuel = feed * lhvMWhPerT;
        const hf = clamp(env.heatFactor, 0, 1);
        // Extraction: more heat and less power the more the network needs.
        return { waste_feed: feed, el_power: fuel * (0.27 - 0.09 * hf), heat_power: fuel * (0.28 + 0.36 * hf) };
      },
    };
  },
};

const heatPump: ModelDef = {
  firmware: 'qs-sim-heatpump/5.0.0',
  variants: ['sewage', 'datacentre', 'air'],
  metrics: () => [
    { name: 'heat_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Heat delivered', min: 0, controllable: true },
    { name: 'el_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Electrical input', min: 0 },
    { name: 'cop', modelUnit: '1', unit: '1', description: 'Coefficient of performance (heat / electricity)', min: 1, max: 12, digits: 4 },
    { name: 'source_temp', modelUnit: 'degC', unit: 'K', description: 'Source inlet temperature', min: -30, max: 70 },
    { name: 'sink_temp', modelUnit: 'degC', unit: 'K', description: 'Sink (supply) outlet temperature', min: 30, max: 100 },
  ],
  create(ctx) {
    const variant = ctx.variant ?? 'sewage';
    const capKw = variant === 'air' ? ctx.rng.range(100, 1500) : ctx.rng.range(300, 4000);
    const carnotFraction = ctx.rng.range(0.45, 0.55);
    let setpointKw: number | undefined;
    return {
      bounds: { heat_power: { max: capKw } },
      setpoint(_metric, value) {
        if (value < 0 || value > capKw) return outOfRange('heat_power', value, 0, capKw, 'kW');
        setpointKw = value;
        return { ok: true };
      },
      step(env) {
        const sourceC =
          variant === 'air' ? env.weather.outdoorTempC : variant === 'datacentre' ? 31 + 0.6 * noise(ctx, 1, env, 30 * MIN) : env.sewageTempC - 0.5;
        const sinkC = 62 + 16 * clamp(env.heatFactor, 0, 1) + 0.4 * noise(ctx, 2, env, 20 * MIN);
        const cop = Math.max(1, carnotFraction * carnotCop(sourceC, sinkC));
        const derate = variant === 'air' ? clamp(1 - 0.012 * Math.max(0, 7 - sourceC), 0.6, 1) : 1;
        const wanted = setpointKw ?? capKw * clamp(0.3 + 0.75 * env.heatFactor, 0.2, 1) * (1 + 0.02 * noise(ctx, 3, env, 10 * MIN));
        const heat = clamp(wanted, 0, capKw * derate);
        return { heat_power: heat, el_power: heat / cop, cop, source_temp: sourceC, sink_temp: sinkC };
      },
    };
  },
};

const boiler: ModelDef = {
  firmware: 'qs-sim-boiler/2.4.0',
  metrics: () => [
    { name: 'heat_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Heat output', min: 0, controllable: true },
    { name: 'gas_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Fuel input (lower heating value)', min: 0 },
    { name: 'supply_temp', modelUnit: 'degC', unit: 'degC', description: 'Boiler outlet temperature', min: 20, max: 130 },
  ],
  create(ctx) {
    const capKw = ctx.rng.range(2000, 20000);
    const efficiency = ctx.rng.range(0.92, 0.96);
    let setpointKw: number | undefined;
    return {
      bounds: { heat_power: { max: capKw }, gas_power: { max: capKw / efficiency } },
      setpoint(_metric, value) {
        if (value < 0 || value > capKw) return outOfRange('heat_power', value, 0, capKw, 'kW');
        setpointKw = value;
        return { ok: true };
      },
      step(env) {
        // Peak boiler: only on cold days, with a push during the morning peak.
        const peak = env.heatFactor > 0.3 ? 0.15 * hourBump(env.local.hour, 7, 1) : 0;
        const wanted = setpointKw ?? capKw * clamp((env.heatFactor - 0.55) / 0.45 + peak, 0, 1);
        const heat = clamp(wanted * (wanted > 0 ? 1 + 0.01 * noise(ctx, 1, env, 5 * MIN) : 1), 0, capKw);
        const supply = heat > 0 ? 85 + 15 * clamp(env.heatFactor, 0, 1) : 45 + 0.3 * noise(ctx, 2, env, HOUR);
        return { heat_power: heat, gas_power: heat / efficiency, supply_temp: supply };
      },
    };
  },
};

const storageTank: ModelDef = {
  firmware: 'qs-sim-tes/1.3.7',
  stateful: true,
  metrics: () => [
    { name: 'soc', modelUnit: '%', unit: '%', description: 'State of charge', min: 0, max: 100 },
    { name: 'top_temp', modelUnit: 'degC', unit: 'degC', description: 'Temperature at the top of the tank', min: 20, max: 110 },
    { name: 'bottom_temp', modelUnit: 'degC', unit: 'degC', description: 'Temperature at the bottom of the tank', min: 20, max: 110 },
    { name: 'charge_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Charging (+) or discharging (-) power', controllable: true },
  ],
  create(ctx) {
    const capKwh = ctx.rng.range(10, 150) * 1000;
    const maxKw = capKwh / 6;
    const hot = ctx.rng.range(88, 95);
    const cold = ctx.rng.range(45, 55);
    const lossPerH = 0.001;
    let soc = ctx.rng.range(30, 70);
    let setpointKw: number | undefined;
    return {
      bounds: { charge_power: { min: -maxKw, max: maxKw } },
      setpoint(_metric, value) {
        if (value < -maxKw || value > maxKw) return outOfRange('charge_power', value, -maxKw, maxKw, 'kW');
        setpointKw = value;
        return { ok: true };
      },
      step(env, dtH) {
        const h = env.local.hour;
        const cheap = clamp((40 - env.market.priceEurMWh) / 40, 0, 1);
        const desire =
          0.7 * hourBump(h, 3, 2.5) + 0.5 * hourBump(h, 13, 2) + 0.5 * cheap - 0.9 * hourBump(h, 7, 1.5) - 0.8 * hourBump(h, 19, 2);
        let power = setpointKw ?? clamp(desire, -1, 1) * maxKw;
        // The controller tapers near full and empty instead of hitting the limits.
        if (power > 0) power *= clamp((97 - soc) / 7, 0, 1);
        else power *= clamp((soc - 3) / 7, 0, 1);
        soc = clamp(soc + ((power * dtH) / capKwh) * 100 - lossPerH * dtH * soc, 0, 100);
        // Stratified tank: the thermocline moves with the state of charge.
        const top = soc > 8 ? hot : cold + ((hot - cold) * soc) / 8;
        const bottom = soc < 92 ? cold : cold + ((hot - cold) * (soc - 92)) / 8;
        return {
          soc,
          top_temp: top + 0.2 * noise(ctx, 1, env, 10 * MIN),
          bottom_temp: bottom + 0.2 * noise(ctx, 2, env, 10 * MIN),
          charge_power: power,
        };
      },
    };
  },
};

const pv: ModelDef = {
  firmware: 'qs-sim-pv/2.2.0',
  variants: ['roof', 'park'],
  metrics: (variant) => [
    { name: 'el_power', modelUnit: 'kW', unit: variant === 'park' ? 'kW' : 'W', altUnit: variant === 'park' ? 'MW' : 'kW', description: 'AC output', min: 0 },
  ],
  create(ctx) {
    const kWp = ctx.variant === 'park' ? ctx.rng.range(500, 8000) : ctx.rng.range(5, 150);
    const performanceRatio = ctx.rng.range(0.8, 0.88);
    return {
      bounds: { el_power: { max: kWp } },
      step(env) {
        const g = env.weather.irradianceWm2 * Math.max(0, 1 + 0.05 * noise(ctx, 1, env, 3 * MIN));
        if (g <= 0) return { el_power: 0 };
        const cellC = env.weather.outdoorTempC + 0.03 * g;
        return { el_power: clamp(kWp * (g / 1000) * performanceRatio * (1 - 0.004 * (cellC - 25)), 0, kWp) };
      },
    };
  },
};

const wind: ModelDef = {
  firmware: 'qs-sim-wind/1.0.4',
  metrics: () => [
    { name: 'el_power', modelUnit: 'kW', unit: 'kW', altUnit: 'MW', description: 'Electrical output', min: 0, controllable: true },
    { name: 'wind_speed', modelUnit: 'm/s', unit: 'm/s', description: 'Nacelle wind speed at hub height', min: 0, max: 60 },
  ],
  create(ctx) {
    const ratedKw = ctx.rng.range(2000, 4200);
    const hubM = ctx.rng.range(90, 140);
    const availability = ctx.rng.range(0.97, 1);
    let curtailKw: number | undefined;
    return {
      bounds: { el_power: { max: ratedKw } },
      setpoint(_metric, value) {
        if (value < 0 || value > ratedKw) return outOfRange('el_power', value, 0, ratedKw, 'kW');
        curtailKw = value;
        return { ok: true };
      },
      step(env) {
        const hub = Math.max(0, hubWindSpeed(env.weather.windSpeedMs, hubM) * (1 + 0.08 * noise(ctx, 1, env, MIN)));
        let power = ratedKw * availability * windPowerCurve(hub);
        if (curtailKw !== undefined) power = Math.min(power, curtailKw);
        return { el_power: power, wind_speed: hub };
      },
    };
  },
};

const weatherStation: ModelDef = {
  firmware: 'qs-sim-weather/1.5.2',
  metrics: () => [
    { name: 'outdoor_temp', modelUnit: 'degC', unit: 'degC', altUnit: 'degF', description: 'Air temperature at 2 m', min: -40, max: 50 },
    { name: 'irradiance', modelUnit: 'W/m2', unit: 'W/m2', description: 'Global horizontal irradiance', min: 0, max: 1400 },
    { name: 'wind_speed', modelUnit: 'm/s', unit: 'm/s', altUnit: 'km/h', description: 'Wind speed at 10 m', min: 0, max: 60 },
    { name: 'humidity', modelUnit: '%', unit: '%', description: 'Relative humidity', min: 0, max: 100 },
  ],
  create(ctx) {
    const tempOffset = ctx.rng.range(-0.4, 0.4);
    return {
      step(env) {
        const w = env.weather;
        return {
          outdoor_temp: w.outdoorTempC + tempOffset + 0.1 * noise(ctx, 1, env, MIN),
          irradiance: Math.max(0, w.irradianceWm2 * (1 + 0.02 * noise(ctx, 2, env, MIN))),
          wind_speed: Math.max(0, w.windSpeedMs * (1 + 0.15 * noise(ctx, 3, env, 20_000))),
          humidity: clamp(w.humidityPct + 1.5 * noise(ctx, 4, env, 10 * MIN), 0, 100),
        };
      },
    };
  },
};

const gridMeter: ModelDef = {
  firmware: 'qs-sim-gridmeter/3.0.1',
  metrics: () => [
    { name: 'import_power', modelUnit: 'MW', unit: 'MW', altUnit: 'kW', description: 'Power imported from the transmission grid', min: 0 },
    { name: 'export_power', modelUnit: 'MW', unit: 'MW', altUnit: 'kW', description: 'Power exported to the transmission grid', min: 0 },
    { name: 'price', modelUnit: 'EUR/MWh', unit: 'EUR/MWh', altUnit: 'ct/kWh', description: 'Spot price', min: -500, max: 4000 },
    { name: 'co2_intensity', modelUnit: 'g/kWh', unit: 'g/kWh', altUnit: 'kg/MWh', description: 'CO2 intensity of grid electricity', min: 0, max: 1200 },
  ],
  create(ctx) {
    const peakMw = ctx.rng.range(30, 120);
    return {
      step(env) {
        const m = env.market;
        // City load minus local wind, PV and heat-led CHP behind the meter.
        const net = peakMw * (0.8 * m.loadFactor - 0.35 * m.windCf - 0.3 * m.solarCf - 0.12 * clamp(env.heatFactor, 0, 1)) * (1 + 0.02 * noise(ctx, 1, env, 5 * MIN));
        return { import_power: Math.max(0, net), export_power: Math.max(0, -net), price: m.priceEurMWh, co2_intensity: m.co2GPerKWh };
      },
    };
  },
};

/** Device types the simulators can play; `gateway` and `other` have no physics of their own. */
export const modelDefs = {
  heat_meter: heatMeter,
  waste_heat_source: wasteHeatSource,
  gas_chp: gasChp,
  waste_to_energy: wasteToEnergy,
  heat_pump: heatPump,
  boiler,
  storage_tank: storageTank,
  pv,
  wind,
  weather_station: weatherStation,
  grid_meter: gridMeter,
} satisfies Partial<Record<DeviceType, ModelDef>>;

export type SimulatedDeviceType = keyof typeof modelDefs;
export const simulatedDeviceTypes = Object.keys(modelDefs) as SimulatedDeviceType[];

export function isSimulatedType(type: string): type is SimulatedDeviceType {
  return Object.prototype.hasOwnProperty.call(modelDefs, type);
}

export function physicsContext(seed: number, device: string, variant: string | undefined): PhysicsContext {
  const deviceSeed = hashInts(seed, hashString(device));
  return { noiseSeed: deviceSeed, rng: createRng(deviceSeed), variant };
}

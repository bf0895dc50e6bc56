/**
 * Every time-varying input of a city, numbered once: a constant from the config or a binding
 * to one ingest metric with its unit conversion, plausibility limits, TTLs and safe default.
 */
import { bindingUnits, type City, type InputQuantity, type InputSpec } from './schema.ts';

export interface BoundInput {
  /** Device key, or the key prefix when `prefix` is set. */
  device: string;
  /** Readings of every device whose key starts with `device` combine by `aggregate`. */
  prefix: boolean;
  aggregate: 'sum' | 'mean';
  metric: string;
  /** Unit of the readings (canonical, as stored by ingest). */
  unit: string;
  /** Reading × factor = engine value. */
  factor: number;
  /** Safe default in engine units. */
  defaultValue: number;
  ttlMs: number;
  maxAgeMs: number;
  /** Plausibility limits in the reading's unit; outside is rejected. */
  min: number;
  max: number;
  /** Relative 24-hour shape for forecasts. */
  profile: readonly number[] | undefined;
}

export interface InputDef {
  index: number;
  /** `component.field`, exactly the config path of the field. */
  name: string;
  component: string;
  field: string;
  quantity: InputQuantity;
  /** Set for constants (engine units). */
  constant: number | undefined;
  binding: BoundInput | undefined;
  /** For state of charge: true when the value is energy (MWh), false when a fraction of capacity. */
  socIsEnergy: boolean;
}

export interface InputRegistry {
  defs: InputDef[];
  byName: Map<string, number>;
  /** device → metric → input indices fed by that metric (two lookups: no key string per reading). */
  byDevice: Map<string, Map<string, number[]>>;
  /** Prefix bindings: matched against every device key. */
  prefixes: { prefix: string; metric: string; index: number }[];
}

/** Limits of physically possible readings per quantity, in reading units (rejections name them). */
const physicalLimits: Record<string, { min: number; max: number; what: string }> = {
  kW: { min: 0, max: 1e8, what: 'power' },
  degC: { min: -80, max: 400, what: 'temperature' },
  'EUR/MWh': { min: -1e4, max: 1e5, what: 'price' },
  'g/kWh': { min: 0, max: 3000, what: 'CO2 intensity' },
  '%': { min: 0, max: 100, what: 'percentage' },
  't/h': { min: 0, max: 1e4, what: 'mass flow' },
  kWh: { min: 0, max: 1e10, what: 'energy' },
};

export function readingLimits(unit: string): { min: number; max: number; what: string } {
  return physicalLimits[unit] ?? { min: -Infinity, max: Infinity, what: 'value' };
}

/** Collects the inputs of a city in a fixed order (components in config order). */
export function collectInputs(city: City): InputRegistry {
  const defs: InputDef[] = [];
  const byName = new Map<string, number>();
  const byDevice = new Map<string, Map<string, number[]>>();
  const prefixes: InputRegistry['prefixes'] = [];
  const add = (component: string, field: string, quantity: InputQuantity, spec: InputSpec | undefined) => {
    if (spec === undefined) return;
    const index = defs.length;
    const name = `${component}.${field}`;
    let def: InputDef;
    if (typeof spec === 'number') {
      def = { index, name, component, field, quantity, constant: spec, binding: undefined, socIsEnergy: false };
    } else {
      const unit = spec.unit ?? Object.keys(bindingUnits[quantity])[0]!;
      const factor = bindingUnits[quantity][unit]!;
      const lim = readingLimits(unit);
      def = {
        index,
        name,
        component,
        field,
        quantity,
        constant: undefined,
        socIsEnergy: quantity === 'soc' && unit !== '%',
        binding: {
          device: spec.device ?? spec.devicePrefix!,
          prefix: spec.device === undefined,
          aggregate: spec.aggregate ?? 'sum',
          metric: spec.metric,
          unit,
          factor,
          defaultValue: spec.default * factor,
          ttlMs: (spec.ttlS ?? city.inputDefaults.ttlS) * 1000,
          maxAgeMs: Math.max(spec.maxAgeS ?? city.inputDefaults.maxAgeS, spec.ttlS ?? city.inputDefaults.ttlS) * 1000,
          min: spec.min ?? lim.min,
          max: spec.max ?? lim.max,
          profile: spec.profile,
        },
      };
      if (spec.device !== undefined) {
        let metrics = byDevice.get(spec.device);
        if (!metrics) byDevice.set(spec.device, (metrics = new Map()));
        const list = metrics.get(spec.metric);
        if (list) list.push(index);
        else metrics.set(spec.metric, [index]);
      } else prefixes.push({ prefix: spec.devicePrefix!, metric: spec.metric, index });
    }
    defs.push(def);
    byName.set(name, index);
  };

  for (const b of city.buses) {
    switch (b.kind) {
      case 'heat':
        add(b.id, 'demandMw', 'power', b.demandMw);
        add(b.id, 'supplyTempC', 'temperature', b.supplyTempC);
        break;
      case 'electricity':
        add(b.id, 'demandMw', 'power', b.demandMw);
        break;
      case 'gas':
        add(b.id, 'priceEurPerMWh', 'price', b.priceEurPerMWh);
        break;
      case 'waste':
        add(b.id, 'availableTph', 'mass_flow', b.availableTph);
        break;
      case 'waste_heat':
        add(b.id, 'temperatureC', 'temperature', b.temperatureC);
        break;
    }
  }
  for (const u of city.units) {
    add(u.id, 'availability', 'fraction', u.availability);
    switch (u.kind) {
      case 'heat_pump':
        add(u.id, 'sourceTempC', 'temperature', u.sourceTempC);
        add(u.id, 'sinkTempC', 'temperature', u.sinkTempC);
        break;
      case 'waste_heat_source':
      case 'pv':
      case 'wind':
        add(u.id, 'availableMw', 'power', u.availableMw);
        break;
      case 'grid':
        add(u.id, 'importPriceEurPerMWh', 'price', u.importPriceEurPerMWh);
        add(u.id, 'exportPriceEurPerMWh', 'price', u.exportPriceEurPerMWh);
        add(u.id, 'co2TPerMWh', 'co2_intensity', u.co2TPerMWh);
        break;
      default:
        break;
    }
  }
  for (const s of city.storages) {
    add(s.id, 'soc', 'soc', s.soc);
    add(s.id, 'availability', 'fraction', s.availability);
  }
  for (const l of city.links) add(l.id, 'availability', 'fraction', l.availability);
  return { defs, byName, byDevice, prefixes };
}

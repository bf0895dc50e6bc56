import type { BirthPayload } from '../../src/contract/index.ts';
import { Environment } from './environment.ts';
import { isSimulatedType, modelDefs, physicsContext, type MetricDef, type Physics, type SetpointResult } from './models.ts';
import { hashString } from './random.ts';
import { roundOutward, roundSignificant, unitConverter } from './wire-units.ts';

export interface WireMetric {
  name: string;
  /** Unit declared at birth and used on the wire. */
  unit: string;
  modelUnit: string;
  description: string;
  /** Bounds in the wire unit. */
  min?: number;
  max?: number;
  digits: number;
  controllable: boolean;
  toWire: (modelValue: number) => number;
}

export interface DeviceModelOptions {
  type: string;
  device: string;
  seed: number;
  /** e.g. `datacentre`; inferred from the device id or drawn from the seed when absent. */
  variant?: string;
  /** Shared per city; a private one is created when absent. */
  env?: Environment;
  /** Report in the alternative units (MW instead of kW, ...); by default one device in four does. */
  altUnits?: boolean;
}

/** Longest integration step of stateful models, so counters barely depend on how often a device is sampled. */
const MAX_STEP_MS = 15 * 60_000;

/**
 * One device's signals: deterministic for (seed, device, sequence of sample times).
 * Stateful parts (energy counters, storage charge, ramps) integrate in steps of at most
 * 15 minutes, so they barely depend on the sampling cadence.
 */
export class DeviceModel {
  readonly type: string;
  readonly device: string;
  readonly variant: string | undefined;
  readonly firmware: string;
  readonly metrics: readonly WireMetric[];
  private readonly physics: Physics;
  private readonly env: Environment;
  private readonly stateful: boolean;
  private lastMs: number | undefined;

  constructor(options: DeviceModelOptions) {
    if (!isSimulatedType(options.type)) {
      throw new Error(`no simulator for device type "${options.type}"; simulated types: ${Object.keys(modelDefs).join(', ')}`);
    }
    const def = modelDefs[options.type];
    this.type = options.type;
    this.device = options.device;
    const variants: readonly string[] | undefined = 'variants' in def ? def.variants : undefined;
    if (options.variant !== undefined && variants && !variants.includes(options.variant)) {
      throw new Error(`unknown variant "${options.variant}" for ${options.type}; expected one of ${variants.join(', ')}`);
    }
    this.variant = options.variant ?? (variants ? (variants.find((v) => options.device.includes(v)) ?? variants[hashString(options.device) % variants.length]) : undefined);
    this.firmware = def.firmware;
    this.stateful = 'stateful' in def && def.stateful === true;
    this.env = options.env ?? new Environment(options.seed);
    this.physics = def.create(physicsContext(options.seed, options.device, this.variant));
    const alt = options.altUnits ?? hashString(`units:${options.device}`) % 4 === 0;
    this.metrics = def.metrics(this.variant).map((m) => wireMetric(m, alt ? (m.altUnit ?? m.unit) : m.unit, this.physics.bounds?.[m.name]));
  }

  /** Metric declarations for the birth message. */
  birthMetrics(): BirthPayload['metrics'] {
    const out: BirthPayload['metrics'] = {};
    for (const m of this.metrics) {
      out[m.name] = { unit: m.unit, description: m.description, ...(m.min !== undefined ? { min: m.min } : {}), ...(m.max !== undefined ? { max: m.max } : {}) };
    }
    return out;
  }

  units(): Record<string, string> {
    return Object.fromEntries(this.metrics.map((m) => [m.name, m.unit]));
  }

  /** Values in wire units at tMs; tMs must not go backwards. */
  sample(tMs: number): Record<string, number> {
    let values: Record<string, number> | undefined;
    if (this.lastMs === undefined) {
      values = this.physics.step(this.env.at(tMs), 0);
      this.lastMs = tMs;
    } else {
      if (tMs < this.lastMs) throw new RangeError(`sample time ${tMs} is before the previous sample ${this.lastMs}`);
      if (tMs === this.lastMs) values = this.physics.step(this.env.at(tMs), 0);
      while (this.lastMs < tMs) {
        const stepMs = this.stateful ? Math.min(MAX_STEP_MS, tMs - this.lastMs) : tMs - this.lastMs;
        this.lastMs += stepMs;
        values = this.physics.step(this.env.at(this.lastMs), stepMs / 3_600_000);
      }
    }
    const out: Record<string, number> = {};
    for (const m of this.metrics) {
      const v = values![m.name];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`model ${this.type} produced no finite ${m.name}`);
      out[m.name] = roundSignificant(m.toWire(v), m.digits);
    }
    return out;
  }

  /** Applies a setpoint command; the reason names what was wrong when it is refused. */
  setpoint(metric: string, value: number, unit: string): SetpointResult {
    const m = this.metrics.find((x) => x.name === metric);
    if (!m) return { ok: false, reason: `${this.type} ${this.device} has no metric "${metric}"` };
    if (!m.controllable || !this.physics.setpoint) {
      const controllable = this.metrics.filter((x) => x.controllable).map((x) => x.name);
      return { ok: false, reason: `${metric} is not controllable on ${this.type}${controllable.length ? `; controllable: ${controllable.join(', ')}` : ''}` };
    }
    if (!Number.isFinite(value)) return { ok: false, reason: `setpoint value must be a finite number` };
    let modelValue: number;
    try {
      modelValue = unitConverter(unit, m.modelUnit)(value);
    } catch (e) {
      return { ok: false, reason: `unit "${unit}" does not fit ${metric}: ${(e as Error).message}` };
    }
    return this.physics.setpoint(metric, modelValue);
  }
}

function wireMetric(def: MetricDef, unit: string, bounds: { min?: number; max?: number } | undefined): WireMetric {
  const toWire = unitConverter(def.modelUnit, unit);
  const min = bounds?.min ?? def.min;
  const max = bounds?.max ?? def.max;
  const digits = def.digits ?? 5;
  return {
    name: def.name,
    unit,
    modelUnit: def.modelUnit,
    description: def.description,
    // Coarser and outward, so a value rounded to `digits` never falls outside its declared bounds.
    ...(min !== undefined ? { min: roundOutward(toWire(min), digits - 1, 'down') } : {}),
    ...(max !== undefined ? { max: roundOutward(toWire(max), digits - 1, 'up') } : {}),
    digits,
    controllable: def.controllable ?? false,
    toWire,
  };
}

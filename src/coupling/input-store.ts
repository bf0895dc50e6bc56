/**
 * Latest good value of every engine input, with the staleness policy: fresh within the TTL,
 * the last good value (warning) until maxAge, then the safe default (critical). Readings that
 * are NaN, infinite or physically impossible are rejected by input name and never stored.
 */
import type { InputDef, InputRegistry } from './model/inputs.ts';
import type { InputQuantity } from './model/schema.ts';

export const INPUT_CONSTANT = 0;
export const INPUT_FRESH = 1;
export const INPUT_STALE = 2;
export const INPUT_EXPIRED = 3;
export const INPUT_MISSING = 4;
export const inputStateNames = ['constant', 'fresh', 'stale', 'expired', 'missing'] as const;
export type InputStateName = (typeof inputStateNames)[number];

export interface Alarm {
  input?: string;
  level: 'warning' | 'critical';
  code: 'stale' | 'expired' | 'missing' | 'rejected' | 'unmet_demand' | 'solver_fallback' | 'solver_failed' | 'plan_failed';
  message: string;
}

/**
 * What a reading did: the inputs it updated, and whether any of their values changed (a new value
 * is worth a tick; a repeat is not), or why it was rejected.
 */
export type IngestOutcome = { updated: readonly string[]; changed: boolean } | { rejected: string };

const UPDATED_NOTHING: IngestOutcome = Object.freeze({ updated: Object.freeze([]), changed: false });

const engineUnit: Record<InputQuantity, string> = {
  power: 'MW',
  temperature: '°C',
  price: 'EUR/MWh',
  co2_intensity: 't/MWh',
  fraction: '(fraction)',
  mass_flow: 't/h',
  soc: '',
};

export function fmtValue(def: InputDef, v: number): string {
  const unit = def.quantity === 'soc' ? (def.socIsEnergy ? 'MWh' : '(fraction)') : engineUnit[def.quantity];
  return `${round(v)} ${unit}`.trim();
}

function round(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 0.001 || a >= 1e6) ? v.toExponential(3) : String(Math.round(v * 1000) / 1000);
}

const MAX_PENDING_REJECTS = 200;

export class InputStore {
  readonly lastValue: Float64Array;
  readonly lastTs: Float64Array;
  readonly hasValue: Uint8Array;
  private pendingRejects: Alarm[] = [];
  private droppedRejects = 0;
  /** Per prefix-bound input: latest reading of each matching device (engine units). */
  private readonly members: (Map<string, { value: number; ts: number }> | undefined)[];
  /** With prefix bindings: device → metric → every input it feeds (filled on first sight). */
  private readonly targetCache = new Map<string, Map<string, number[]>>();
  private targetCacheSize = 0;

  constructor(
    readonly registry: InputRegistry,
    private readonly startedAt: number,
  ) {
    const n = registry.defs.length;
    this.lastValue = new Float64Array(n);
    this.lastTs = new Float64Array(n).fill(-Infinity);
    this.hasValue = new Uint8Array(n);
    this.members = registry.defs.map((d) => (d.binding?.prefix ? new Map() : undefined));
  }

  private targetsOf(device: string, metric: string): number[] | undefined {
    const exact = this.registry.byDevice.get(device)?.get(metric);
    if (this.registry.prefixes.length === 0) return exact;
    let metrics = this.targetCache.get(device);
    let all = metrics?.get(metric);
    if (all === undefined) {
      all = exact ? [...exact] : [];
      for (const p of this.registry.prefixes) if (p.metric === metric && device.startsWith(p.prefix)) all.push(p.index);
      // Bounded: a flood of unknown device ids must not grow memory without limit.
      if (this.targetCacheSize >= 100_000) {
        this.targetCache.clear();
        this.targetCacheSize = 0;
        metrics = undefined;
      }
      if (!metrics) this.targetCache.set(device, (metrics = new Map()));
      metrics.set(metric, all);
      this.targetCacheSize++;
    }
    return all;
  }

  /** Feeds one normalised reading (canonical unit). Unknown device/metric pairs update nothing. */
  ingest(device: string, metric: string, value: number, ts: number): IngestOutcome {
    const targets = this.targetsOf(device, metric);
    if (!targets || targets.length === 0) return UPDATED_NOTHING;
    const updated: string[] = [];
    const rejected: string[] = [];
    let changed = false;
    for (let k = 0; k < targets.length; k++) {
      const def = this.registry.defs[targets[k]!]!;
      const b = def.binding!;
      const member = this.members[def.index]?.get(device);
      const why = this.check(def, value, ts, member?.ts);
      if (why !== undefined) {
        const reason = `${def.name}: ${why} (${device}/${metric})`;
        rejected.push(reason);
        this.noteReject(def.name, reason);
        continue;
      }
      const i = def.index;
      const v = value * b.factor;
      if (b.prefix) {
        if (member) {
          if (member.value !== v) changed = true;
          member.value = v;
          member.ts = ts;
        } else {
          changed = true;
          this.members[i]!.set(device, { value: v, ts });
        }
      } else {
        if (this.hasValue[i] === 0 || this.lastValue[i] !== v) changed = true;
        this.lastValue[i] = v;
        this.lastTs[i] = ts;
      }
      this.hasValue[i] = 1;
      updated.push(def.name);
    }
    return rejected.length > 0 ? { rejected: rejected.join('; ') } : { updated, changed };
  }

  private check(def: InputDef, value: number, ts: number, memberTs: number | undefined): string | undefined {
    const b = def.binding!;
    if (typeof value !== 'number') return `rejected non-numeric value ${JSON.stringify(value)?.slice(0, 40)}`;
    if (Number.isNaN(value)) return 'rejected NaN';
    if (!Number.isFinite(value)) return `rejected ${value > 0 ? '+' : '-'}Infinity`;
    if (typeof ts !== 'number' || !Number.isFinite(ts)) return `rejected reading without a valid timestamp (${String(ts)})`;
    if (value < b.min) {
      if (b.min === 0 && (def.quantity === 'power' || def.quantity === 'mass_flow')) return `rejected negative flow ${value} ${b.unit}`;
      return `rejected ${value} ${b.unit}: below the physical minimum ${b.min} ${b.unit}`;
    }
    if (value > b.max) return `rejected ${value} ${b.unit}: above the plausible maximum ${b.max} ${b.unit}`;
    const lastTs = b.prefix ? memberTs : this.hasValue[def.index] ? this.lastTs[def.index] : undefined;
    if (lastTs !== undefined && ts < lastTs) return `rejected out-of-order reading (ts ${ts} is older than the last accepted ${lastTs})`;
    return undefined;
  }

  private noteReject(input: string, message: string): void {
    if (this.pendingRejects.length >= MAX_PENDING_REJECTS) {
      this.droppedRejects++;
      return;
    }
    this.pendingRejects.push({ input, level: 'warning', code: 'rejected', message });
  }

  /** Rejections since the last call, for the next tick's alarms. */
  takeRejects(): Alarm[] {
    const out = this.pendingRejects;
    if (this.droppedRejects > 0) out.push({ level: 'warning', code: 'rejected', message: `${this.droppedRejects} more rejected readings not listed` });
    this.pendingRejects = [];
    this.droppedRejects = 0;
    return out;
  }

  /**
   * Values to dispatch on at `now` (engine units) and each input's state; appends alarms for
   * stale, expired and missing inputs.
   */
  resolve(now: number, values: Float64Array, states: Uint8Array, alarms: Alarm[]): void {
    const defs = this.registry.defs;
    for (let i = 0; i < defs.length; i++) {
      const def = defs[i]!;
      if (def.constant !== undefined) {
        values[i] = def.constant;
        states[i] = INPUT_CONSTANT;
        continue;
      }
      const b = def.binding!;
      if (!this.hasValue[i]) {
        values[i] = b.defaultValue;
        states[i] = INPUT_MISSING;
        const early = now - this.startedAt < b.maxAgeMs;
        alarms.push({
          input: def.name,
          level: early ? 'warning' : 'critical',
          code: 'missing',
          message: `${def.name}: no reading of ${b.device}/${b.metric} yet; using the safe default ${fmtValue(def, b.defaultValue)}`,
        });
        continue;
      }
      if (b.prefix) {
        this.resolveAggregate(def, now, values, states, alarms);
        continue;
      }
      const age = now - this.lastTs[i]!;
      if (age <= b.ttlMs) {
        values[i] = this.lastValue[i]!;
        states[i] = INPUT_FRESH;
      } else if (age <= b.maxAgeMs) {
        values[i] = this.lastValue[i]!;
        states[i] = INPUT_STALE;
        alarms.push({
          input: def.name,
          level: 'warning',
          code: 'stale',
          message: `${def.name}: ${b.device}/${b.metric} is ${Math.round(age / 1000)} s old (TTL ${b.ttlMs / 1000} s); using the last good value ${fmtValue(def, this.lastValue[i]!)}`,
        });
      } else {
        values[i] = b.defaultValue;
        states[i] = INPUT_EXPIRED;
        alarms.push({
          input: def.name,
          level: 'critical',
          code: 'expired',
          message: `${def.name}: ${b.device}/${b.metric} is ${Math.round(age / 1000)} s old (limit ${b.maxAgeMs / 1000} s); using the safe default ${fmtValue(def, b.defaultValue)}`,
        });
      }
    }
  }

  /**
   * A prefix binding combines its devices' latest readings. Devices past the TTL still count with
   * their last value (warning); devices silent past maxAge are left out and, for a sum, the
   * devices still reporting stand in for them in proportion (critical alarm); with none left,
   * the safe default applies.
   */
  private resolveAggregate(def: InputDef, now: number, values: Float64Array, states: Uint8Array, alarms: Alarm[]): void {
    const b = def.binding!;
    const i = def.index;
    const mem = this.members[i]!;
    let sum = 0;
    let live = 0;
    let stale = 0;
    const silent: string[] = [];
    for (const [device, r] of mem) {
      const age = now - r.ts;
      if (age <= b.maxAgeMs) {
        sum += r.value;
        live++;
        if (age > b.ttlMs) stale++;
      } else silent.push(device);
    }
    const what = `${b.device}*/${b.metric}`;
    if (live === 0) {
      values[i] = b.defaultValue;
      states[i] = INPUT_EXPIRED;
      alarms.push({ input: def.name, level: 'critical', code: 'expired', message: `${def.name}: no device ${what} reported within ${b.maxAgeMs / 1000} s; using the safe default ${fmtValue(def, b.defaultValue)}` });
      return;
    }
    values[i] = b.aggregate === 'sum' ? (sum * mem.size) / live : sum / live;
    states[i] = silent.length > 0 || stale > 0 ? INPUT_STALE : INPUT_FRESH;
    if (silent.length > 0) {
      alarms.push({
        input: def.name,
        level: 'critical',
        code: 'expired',
        message: `${def.name}: ${silent.length} of ${mem.size} devices ${what} silent for over ${b.maxAgeMs / 1000} s (${silent.slice(0, 5).join(', ')}${silent.length > 5 ? ', ...' : ''}); estimated from the ${live} still reporting: ${fmtValue(def, values[i]!)}`,
      });
    } else if (stale > 0) {
      alarms.push({ input: def.name, level: 'warning', code: 'stale', message: `${def.name}: ${stale} of ${mem.size} devices ${what} older than the TTL ${b.ttlMs / 1000} s; using their last good values` });
    }
  }
}

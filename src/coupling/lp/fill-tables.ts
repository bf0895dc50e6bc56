/**
 * Flat tables for the LP fill, one per component kind (dispatchable units, renewables, links, heat
 * pumps, waste-heat sources, extraction CHPs, storages, bus balances). Compilation adds one entry
 * per component (and period); each tick a table writes its columns' costs, bounds, rows and
 * coefficients in one loop over typed arrays. Pure: no I/O, no clock.
 *
 * Why tables and not one closure per component: a tick then reads a few kilobytes in order
 * instead of hundreds of closures and config objects, which matters most when the caches are
 * cold (after idle time, or while other processes use the memory bus).
 */
import { Limit } from './limits.ts';

/** The LP arrays (and the explanation's bound reasons) a fill writes. */
export interface FillTarget {
  colCost: Float64Array;
  colLower: Float64Array;
  colUpper: Float64Array;
  loLimit: Uint8Array;
  hiLimit: Uint8Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
}

/** The per-tick state dispatchable bounds and costs depend on. */
export interface DispatchState {
  /** Tick length in hours (tick mode); the plan uses 1 h periods. */
  dtH: number;
  co2PriceEurPerT: number;
  /** Previous setpoint per column (tick mode) for ramps; NaN when unknown. */
  prev: Float64Array | undefined;
}

/** Writes the matrix coefficient at a position of lp.values; marks its column changed when it differs. */
export type SetCoefficient = (position: number, col: number, value: number) => void;

const clamp01 = (a: number) => Math.max(0, Math.min(1, a));
const availabilityLimit = (a: number): Limit => (a < 1 ? (a > 0 ? Limit.Availability : Limit.OutOfService) : Limit.Capacity);
/** Field f of every added row, as a typed array (what each table's seal makes of its rows). */
const ints = (rows: readonly number[][], f: number) => Int32Array.from(rows, (r) => r[f]!);
const floats = (rows: readonly number[][], f: number) => Float64Array.from(rows, (r) => r[f]!);
const flags = (rows: readonly number[][], f: number) => Uint8Array.from(rows, (r) => r[f]!);

const KELVIN = 273.15;

/** COP of a heat pump as a fraction of the Carnot COP, clamped to the unit's range. */
export function heatPumpCop(carnotEfficiency: number, sinkC: number, sourceC: number, copMin: number, copMax: number): number {
  const lift = sinkC - sourceC;
  if (!(lift > 0)) return copMax;
  const cop = (carnotEfficiency * (sinkC + KELVIN)) / lift;
  return Math.min(copMax, Math.max(copMin, cop));
}

/**
 * Columns dispatched within [min, max] scaled by availability, with must-run and (tick mode) ramp
 * limits around the previous setpoint. A unit below its minimum may start at the minimum. Cost is
 * a base plus a CO2 factor priced at the CO2 price.
 */
export class DispatchableTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private col = new Int32Array(0);
  private availIdx = new Int32Array(0);
  private min = new Float64Array(0);
  private max = new Float64Array(0);
  private mustRun = new Uint8Array(0);
  /** Ramp limit per hour; NaN when the unit has none. */
  private rampPerH = new Float64Array(0);
  private costBase = new Float64Array(0);
  private costCo2 = new Float64Array(0);

  add(col: number, availIdx: number, min: number, max: number, mustRun: boolean, rampPerH: number | undefined, costBase: number, costCo2: number): void {
    this.rows.push([col, availIdx, min, max, mustRun ? 1 : 0, rampPerH ?? NaN, costBase, costCo2]);
  }

  private seal(): void {
    const r = this.rows;
    this.col = ints(r, 0);
    this.availIdx = ints(r, 1);
    this.min = floats(r, 2);
    this.max = floats(r, 3);
    this.mustRun = flags(r, 4);
    this.rampPerH = floats(r, 5);
    this.costBase = floats(r, 6);
    this.costCo2 = floats(r, 7);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, st: DispatchState, withRamps: boolean, o: FillTarget): void {
    if (this.rows.length > 0) this.seal();
    const { col, availIdx, min, max, mustRun, rampPerH, costBase, costCo2 } = this;
    const { colCost, colLower, colUpper, loLimit, hiLimit } = o;
    const co2Price = st.co2PriceEurPerT;
    const prev = withRamps ? st.prev : undefined;
    const dtH = st.dtH;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const j = col[k]!;
      const c2 = costCo2[k]!;
      colCost[j] = c2 === 0 ? costBase[k]! : costBase[k]! + c2 * co2Price;
      const avail = v[availIdx[k]!]!;
      if (!(avail > 0)) {
        colLower[j] = 0;
        colUpper[j] = 0;
        loLimit[j] = Limit.OutOfService;
        hiLimit[j] = Limit.OutOfService;
        continue;
      }
      const a = Math.min(1, avail);
      const mn = min[k]!;
      let hi = max[k]! * a;
      let hiWhy: Limit = a < 1 ? Limit.Availability : Limit.Capacity;
      let lo = Math.min(mn, hi);
      let loWhy: Limit = mn > 0 ? Limit.MinOutput : Limit.None;
      if (mustRun[k] === 1) {
        lo = hi;
        loWhy = Limit.MustRun;
      }
      const ramp = rampPerH[k]!;
      if (prev !== undefined && ramp === ramp) {
        const p = prev[j]!;
        if (Number.isFinite(p)) {
          const r = ramp * dtH;
          const up = Math.max(p + r, lo);
          if (up < hi) {
            hi = up;
            hiWhy = Limit.Ramp;
          }
          const down = p - r;
          if (down > lo) {
            lo = Math.min(down, hi);
            loWhy = Limit.Ramp;
          }
        }
      }
      colLower[j] = lo;
      colUpper[j] = hi;
      loLimit[j] = loWhy;
      hiLimit[j] = hiWhy;
    }
  }
}

/** PV and wind curtailment columns: potential = min(capacity, available MW) × availability. */
export class RenewableTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private col = new Int32Array(0);
  private availIdx = new Int32Array(0);
  private availMwIdx = new Int32Array(0);
  private capacity = new Float64Array(0);
  private penalty = new Float64Array(0);
  /** Where the potential goes in the model's unitPotential array. */
  private potentialAt = new Int32Array(0);

  add(col: number, availIdx: number, availMwIdx: number, capacityMw: number, curtailPenalty: number, potentialAt: number): void {
    this.rows.push([col, availIdx, availMwIdx, capacityMw, curtailPenalty, potentialAt]);
  }

  private seal(): void {
    const r = this.rows;
    this.col = ints(r, 0);
    this.availIdx = ints(r, 1);
    this.availMwIdx = ints(r, 2);
    this.capacity = floats(r, 3);
    this.penalty = floats(r, 4);
    this.potentialAt = ints(r, 5);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, o: FillTarget, unitPotential: Float64Array): void {
    if (this.rows.length > 0) this.seal();
    const { col, availIdx, availMwIdx, capacity, penalty, potentialAt } = this;
    const { colCost, colLower, colUpper, loLimit, hiLimit } = o;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const j = col[k]!;
      const a = clamp01(v[availIdx[k]!]!);
      const pot = Math.min(capacity[k]!, Math.max(0, v[availMwIdx[k]!]!)) * a;
      unitPotential[potentialAt[k]!] = pot;
      colCost[j] = penalty[k]!;
      colLower[j] = 0;
      colUpper[j] = pot;
      loLimit[j] = Limit.None;
      hiLimit[j] = Limit.SourceAvailable;
    }
  }
}

/** Heat links: a forward and a reverse column, each with its capacity × availability. */
export class LinkTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private fwd = new Int32Array(0);
  private rev = new Int32Array(0);
  private availIdx = new Int32Array(0);
  private cost = new Float64Array(0);
  private capFwd = new Float64Array(0);
  private capRev = new Float64Array(0);

  add(fwd: number, rev: number, availIdx: number, costEurPerMWh: number, capacityMw: number, reverseCapacityMw: number): void {
    this.rows.push([fwd, rev, availIdx, costEurPerMWh, capacityMw, reverseCapacityMw]);
  }

  private seal(): void {
    const r = this.rows;
    this.fwd = ints(r, 0);
    this.rev = ints(r, 1);
    this.availIdx = ints(r, 2);
    this.cost = floats(r, 3);
    this.capFwd = floats(r, 4);
    this.capRev = floats(r, 5);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, o: FillTarget): void {
    if (this.rows.length > 0) this.seal();
    const { fwd, rev, availIdx, cost, capFwd, capRev } = this;
    const { colCost, colLower, colUpper, loLimit, hiLimit } = o;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const f = fwd[k]!;
      const r = rev[k]!;
      const a = clamp01(v[availIdx[k]!]!);
      const why = availabilityLimit(a);
      colCost[f] = cost[k]!;
      colCost[r] = cost[k]!;
      colLower[f] = 0;
      colUpper[f] = capFwd[k]! * a;
      loLimit[f] = Limit.None;
      hiLimit[f] = why;
      colLower[r] = 0;
      colUpper[r] = capRev[k]! * a;
      loLimit[r] = Limit.None;
      hiLimit[r] = why;
    }
  }
}

/**
 * Heat-pump COPs from the sink and source temperatures, written into the heat column's
 * electricity coefficient (-1/COP) and, when it draws on a waste-heat bus, its source
 * coefficient (-(1 - 1/COP)). Coefficients are given as builder handles and resolved to
 * positions in lp.values on the first fill.
 */
export class HeatPumpTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private col = new Int32Array(0);
  private sinkIdx = new Int32Array(0);
  private srcIdx = new Int32Array(0);
  private carnot = new Float64Array(0);
  private sinkApproachK = new Float64Array(0);
  private sourceApproachK = new Float64Array(0);
  private copMin = new Float64Array(0);
  private copMax = new Float64Array(0);
  /** Where the COP goes in the model's unitCop array. */
  private copAt = new Int32Array(0);
  private elPos = new Int32Array(0);
  /** -1 when the heat pump has no waste-heat source bus. */
  private srcPos = new Int32Array(0);

  add(col: number, sinkIdx: number, srcIdx: number, carnotEfficiency: number, sinkApproachK: number, sourceApproachK: number, copMin: number, copMax: number, copAt: number, elHandle: number, srcHandle: number): void {
    this.rows.push([col, sinkIdx, srcIdx, carnotEfficiency, sinkApproachK, sourceApproachK, copMin, copMax, copAt, elHandle, srcHandle]);
  }

  private seal(position: Int32Array): void {
    const r = this.rows;
    this.col = ints(r, 0);
    this.sinkIdx = ints(r, 1);
    this.srcIdx = ints(r, 2);
    this.carnot = floats(r, 3);
    this.sinkApproachK = floats(r, 4);
    this.sourceApproachK = floats(r, 5);
    this.copMin = floats(r, 6);
    this.copMax = floats(r, 7);
    this.copAt = ints(r, 8);
    this.elPos = Int32Array.from(r, (x) => position[x[9]!]!);
    this.srcPos = Int32Array.from(r, (x) => (x[10]! >= 0 ? position[x[10]!]! : -1));
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, unitCop: Float64Array, position: Int32Array, setCoefficient: SetCoefficient): void {
    if (this.rows.length > 0) this.seal(position);
    const { col, sinkIdx, srcIdx, carnot, sinkApproachK, sourceApproachK, copMin, copMax, copAt, elPos, srcPos } = this;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const cop = heatPumpCop(carnot[k]!, v[sinkIdx[k]!]! + sinkApproachK[k]!, v[srcIdx[k]!]! - sourceApproachK[k]!, copMin[k]!, copMax[k]!);
      unitCop[copAt[k]!] = cop;
      const j = col[k]!;
      setCoefficient(elPos[k]!, j, -1 / cop);
      const sp = srcPos[k]!;
      if (sp >= 0) setCoefficient(sp, j, -(1 - 1 / cop));
    }
  }
}

/**
 * Waste-heat sources: the supply column up to the available MW × availability (all of it when
 * must-run), and the direct-use column into a zone, open only while the source is hot enough.
 */
export class WasteHeatTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private sup = new Int32Array(0);
  /** Direct-use column, or -1. */
  private dir = new Int32Array(0);
  private availIdx = new Int32Array(0);
  private availMwIdx = new Int32Array(0);
  private busTempIdx = new Int32Array(0);
  private zoneTempIdx = new Int32Array(0);
  private cost = new Float64Array(0);
  private mustRun = new Uint8Array(0);
  private directApproachK = new Float64Array(0);
  /** Infinity when unlimited. */
  private directMaxMw = new Float64Array(0);

  add(sup: number, dir: number, availIdx: number, availMwIdx: number, busTempIdx: number, zoneTempIdx: number, costEurPerMWh: number, mustRun: boolean, directApproachK: number, directMaxMw: number | undefined): void {
    this.rows.push([sup, dir, availIdx, availMwIdx, busTempIdx, zoneTempIdx, costEurPerMWh, mustRun ? 1 : 0, directApproachK, directMaxMw ?? Infinity]);
  }

  private seal(): void {
    const r = this.rows;
    this.sup = ints(r, 0);
    this.dir = ints(r, 1);
    this.availIdx = ints(r, 2);
    this.availMwIdx = ints(r, 3);
    this.busTempIdx = ints(r, 4);
    this.zoneTempIdx = ints(r, 5);
    this.cost = floats(r, 6);
    this.mustRun = flags(r, 7);
    this.directApproachK = floats(r, 8);
    this.directMaxMw = floats(r, 9);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, o: FillTarget): void {
    if (this.rows.length > 0) this.seal();
    const { sup, dir, availIdx, availMwIdx, busTempIdx, zoneTempIdx, cost, mustRun, directApproachK, directMaxMw } = this;
    const { colCost, colLower, colUpper, loLimit, hiLimit } = o;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const a = clamp01(v[availIdx[k]!]!);
      const avail = Math.max(0, v[availMwIdx[k]!]!) * a;
      const s = sup[k]!;
      const must = mustRun[k] === 1;
      colCost[s] = cost[k]!;
      colLower[s] = must ? avail : 0;
      colUpper[s] = avail;
      loLimit[s] = must ? Limit.MustRun : Limit.None;
      hiLimit[s] = a > 0 ? Limit.SourceAvailable : Limit.OutOfService;
      const d = dir[k]!;
      if (d < 0) continue;
      const maxMw = directMaxMw[k]!;
      colCost[d] = 0;
      colLower[d] = 0;
      if (v[busTempIdx[k]!]! >= v[zoneTempIdx[k]!]! + directApproachK[k]!) {
        colUpper[d] = Math.min(maxMw, avail);
        loLimit[d] = Limit.None;
        hiLimit[d] = maxMw < avail ? Limit.Capacity : Limit.SourceAvailable;
      } else {
        colUpper[d] = 0;
        loLimit[d] = Limit.TooCold;
        hiLimit[d] = Limit.TooCold;
      }
    }
  }
}

/**
 * Extraction CHPs: the heat column up to its maximum × availability, and the back-pressure row's
 * right-hand side from this tick's fuel bound. Runs after the DispatchableTable that bounds the fuel.
 */
export class ExtractionChpTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private heat = new Int32Array(0);
  private fuel = new Int32Array(0);
  private availIdx = new Int32Array(0);
  private heatMaxMw = new Float64Array(0);
  private techRow = new Int32Array(0);
  private etaEl = new Float64Array(0);

  add(heatCol: number, fuelCol: number, availIdx: number, heatMaxMw: number, techRow: number, etaEl: number): void {
    this.rows.push([heatCol, fuelCol, availIdx, heatMaxMw, techRow, etaEl]);
  }

  private seal(): void {
    const r = this.rows;
    this.heat = ints(r, 0);
    this.fuel = ints(r, 1);
    this.availIdx = ints(r, 2);
    this.heatMaxMw = floats(r, 3);
    this.techRow = ints(r, 4);
    this.etaEl = floats(r, 5);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, o: FillTarget): void {
    if (this.rows.length > 0) this.seal();
    const { heat, fuel, availIdx, heatMaxMw, techRow, etaEl } = this;
    const { colCost, colLower, colUpper, loLimit, hiLimit, rowLower, rowUpper } = o;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const q = heat[k]!;
      const a = clamp01(v[availIdx[k]!]!);
      colCost[q] = 0;
      colLower[q] = 0;
      colUpper[q] = heatMaxMw[k]! * a;
      loLimit[q] = Limit.None;
      hiLimit[q] = availabilityLimit(a);
      const tr = techRow[k]!;
      rowLower[tr] = 0;
      rowUpper[tr] = etaEl[k]! * colUpper[fuel[k]!]!;
    }
  }
}

/** The storage state and value a StorageTable reads and writes besides the LP. */
export interface StorageFillState {
  mode: 'tick' | 'plan';
  /** Period of this table and the number of periods. */
  t: number;
  periods: number;
  dtH: number;
  /** Storage value (EUR/MWh) per storage, tick mode. */
  storageValue: Float64Array;
  /** [storage × 3]: content at the start (MWh), after standing losses, tick length (h). */
  storageState: Float64Array;
  terminalShortfallEurPerMWh: number;
}

/**
 * Thermal storages in one period. Tick: charge and discharge valued at the storage value, the
 * net charge bounded so the content stays within [0, capacity]. Plan: content columns linked by
 * balance rows, the first from the reported state of charge, the last with a soft terminal row.
 */
export class StorageTable {
  private count = 0;
  private readonly rows: number[][] = [];
  private storage = new Int32Array(0);
  private charge = new Int32Array(0);
  private discharge = new Int32Array(0);
  private socRow = new Int32Array(0);
  /** Content column (plan), or -1. */
  private energy = new Int32Array(0);
  private terminalRow = new Int32Array(0);
  private shortfall = new Int32Array(0);
  private availIdx = new Int32Array(0);
  private socIdx = new Int32Array(0);
  private socIsEnergy = new Uint8Array(0);
  private capacityMWh = new Float64Array(0);
  private chargeMaxMw = new Float64Array(0);
  private dischargeMaxMw = new Float64Array(0);
  private lossPerH = new Float64Array(0);
  private etaCharge = new Float64Array(0);
  private etaDischarge = new Float64Array(0);
  private cycleCost = new Float64Array(0);

  add(
    storage: number,
    cols: { charge: number; discharge: number; socRow: number; energy: number; terminalRow: number; shortfall: number },
    availIdx: number,
    socIdx: number,
    socIsEnergy: boolean,
    s: { capacityMWh: number; chargeMaxMw: number; dischargeMaxMw: number; lossPerH: number; etaCharge: number; etaDischarge: number; cycleCostEurPerMWh: number },
  ): void {
    this.rows.push([storage, cols.charge, cols.discharge, cols.socRow, cols.energy, cols.terminalRow, cols.shortfall, availIdx, socIdx, socIsEnergy ? 1 : 0, s.capacityMWh, s.chargeMaxMw, s.dischargeMaxMw, s.lossPerH, s.etaCharge, s.etaDischarge, s.cycleCostEurPerMWh]);
  }

  private seal(): void {
    const r = this.rows;
    this.storage = ints(r, 0);
    this.charge = ints(r, 1);
    this.discharge = ints(r, 2);
    this.socRow = ints(r, 3);
    this.energy = ints(r, 4);
    this.terminalRow = ints(r, 5);
    this.shortfall = ints(r, 6);
    this.availIdx = ints(r, 7);
    this.socIdx = ints(r, 8);
    this.socIsEnergy = flags(r, 9);
    this.capacityMWh = floats(r, 10);
    this.chargeMaxMw = floats(r, 11);
    this.dischargeMaxMw = floats(r, 12);
    this.lossPerH = floats(r, 13);
    this.etaCharge = floats(r, 14);
    this.etaDischarge = floats(r, 15);
    this.cycleCost = floats(r, 16);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, st: StorageFillState, o: FillTarget): void {
    if (this.rows.length > 0) this.seal();
    const { storage, charge, discharge, socRow, energy, terminalRow, shortfall, availIdx, socIdx, socIsEnergy, capacityMWh, chargeMaxMw, dischargeMaxMw, lossPerH, etaCharge, etaDischarge, cycleCost } = this;
    const { colCost, colLower, colUpper, loLimit, hiLimit, rowLower, rowUpper } = o;
    const { t, storageState } = st;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      const si = storage[k]!;
      const cap = capacityMWh[k]!;
      const c = charge[k]!;
      const d = discharge[k]!;
      const a = clamp01(v[availIdx[k]!]!);
      const why = availabilityLimit(a);
      colLower[c] = 0;
      colUpper[c] = chargeMaxMw[k]! * a;
      loLimit[c] = Limit.None;
      hiLimit[c] = why;
      colLower[d] = 0;
      colUpper[d] = dischargeMaxMw[k]! * a;
      loLimit[d] = Limit.None;
      hiLimit[d] = why;
      if (t === 0) {
        const raw = v[socIdx[k]!]!;
        const soc = socIsEnergy[k] === 1 ? raw : raw * cap;
        storageState[si * 3] = Math.max(0, Math.min(cap, Number.isFinite(soc) ? soc : 0));
      }
      const r = socRow[k]!;
      const loss = lossPerH[k]!;
      const cycle = cycleCost[k]!;
      if (st.mode === 'tick') {
        const dt = st.dtH;
        const after = storageState[si * 3]! * Math.max(0, 1 - loss * dt);
        storageState[si * 3 + 1] = after;
        storageState[si * 3 + 2] = dt;
        // -(etaC c - d/etaD) ∈ [-(cap - e0')/dt, e0'/dt]: content stays within [0, cap].
        rowLower[r] = -(cap - after) / dt;
        rowUpper[r] = after / dt;
        const value = st.storageValue[si]!;
        colCost[c] = -value * etaCharge[k]! + cycle;
        colCost[d] = value / etaDischarge[k]! + cycle;
        continue;
      }
      const e = energy[k]!;
      colLower[e] = 0;
      colUpper[e] = cap;
      loLimit[e] = Limit.None;
      hiLimit[e] = Limit.StorageContent;
      colCost[c] = cycle;
      colCost[d] = cycle;
      colCost[e] = 0;
      const soc0 = storageState[si * 3]!;
      const rhs = t === 0 ? (1 - loss) * soc0 : 0;
      rowLower[r] = rhs;
      rowUpper[r] = rhs;
      if (t === st.periods - 1) {
        storageState[si * 3 + 1] = (1 - loss) * soc0;
        storageState[si * 3 + 2] = 1;
        const tr = terminalRow[k]!;
        rowLower[tr] = soc0;
        rowUpper[tr] = soc0 + 2 * cap;
        const sh = shortfall[k]!;
        colLower[sh] = 0;
        colUpper[sh] = soc0;
        loLimit[sh] = Limit.None;
        hiLimit[sh] = Limit.Slack;
        colCost[sh] = st.terminalShortfallEurPerMWh;
      }
    }
  }
}

/**
 * Bus balances: right-hand side = demand (if the bus has one) minus the renewable potential
 * feeding the bus; unmet and dump slacks at their penalties. Runs after the renewables.
 */
export class BusTable {
  private count = 0;
  private readonly rows: { row: number; demandIdx: number; demandAt: number; potentials: number[]; unmet: number; dump: number; unmetPen: number; dumpPen: number }[] = [];
  private row = new Int32Array(0);
  /** Input index of the demand, or -1. */
  private demandIdx = new Int32Array(0);
  /** Where the demand goes in the model's busDemand array. */
  private demandAt = new Int32Array(0);
  /** Renewable potentials on the bus: potentialAt[potStart[k] .. potStart[k+1]) into unitPotential. */
  private potStart = new Int32Array(1);
  private potentialAt = new Int32Array(0);
  private unmet = new Int32Array(0);
  private dump = new Int32Array(0);
  private unmetPen = new Float64Array(0);
  private dumpPen = new Float64Array(0);

  add(row: number, demandIdx: number, demandAt: number, potentials: number[], unmet: number, dump: number, unmetPen: number, dumpPen: number): void {
    this.rows.push({ row, demandIdx, demandAt, potentials, unmet, dump, unmetPen, dumpPen });
  }

  private seal(): void {
    const r = this.rows;
    this.row = Int32Array.from(r, (x) => x.row);
    this.demandIdx = Int32Array.from(r, (x) => x.demandIdx);
    this.demandAt = Int32Array.from(r, (x) => x.demandAt);
    this.potStart = new Int32Array(r.length + 1);
    r.forEach((x, k) => (this.potStart[k + 1] = this.potStart[k]! + x.potentials.length));
    this.potentialAt = Int32Array.from(r.flatMap((x) => x.potentials));
    this.unmet = Int32Array.from(r, (x) => x.unmet);
    this.dump = Int32Array.from(r, (x) => x.dump);
    this.unmetPen = Float64Array.from(r, (x) => x.unmetPen);
    this.dumpPen = Float64Array.from(r, (x) => x.dumpPen);
    this.count = r.length;
    r.length = 0;
  }

  fill(v: Float64Array, o: FillTarget, busDemand: Float64Array, unitPotential: Float64Array): void {
    if (this.rows.length > 0) this.seal();
    const { row, demandIdx, demandAt, potStart, potentialAt, unmet, dump, unmetPen, dumpPen } = this;
    const { colCost, rowLower, rowUpper } = o;
    const n = this.count;
    for (let k = 0; k < n; k++) {
      let rhs = 0;
      const di = demandIdx[k]!;
      if (di >= 0) {
        const dem = Math.max(0, v[di]!);
        busDemand[demandAt[k]!] = dem;
        rhs = dem;
      }
      const e = potStart[k + 1]!;
      for (let p = potStart[k]!; p < e; p++) rhs -= unitPotential[potentialAt[p]!]!;
      const r = row[k]!;
      rowLower[r] = rhs;
      rowUpper[r] = rhs;
      colCost[unmet[k]!] = unmetPen[k]!;
      colCost[dump[k]!] = dumpPen[k]!;
    }
  }
}

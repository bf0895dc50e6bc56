/**
 * Flat tables for the LP fill of the many columns of a few kinds (dispatchable units, renewables,
 * links, bus balances). Compilation adds one entry per column (and period); each tick a table
 * writes its columns' costs and bounds in one loop over typed arrays. Pure: no I/O, no clock.
 *
 * Why tables and not one closure per component: a tick then reads a few kilobytes in order
 * instead of hundreds of closures and config objects, which matters most right after idle time,
 * when nothing is in the CPU's caches.
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

const clamp01 = (a: number) => Math.max(0, Math.min(1, a));
const availabilityLimit = (a: number): Limit => (a < 1 ? (a > 0 ? Limit.Availability : Limit.OutOfService) : Limit.Capacity);

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
    const pick = (f: number) => r.map((x) => x[f]!);
    this.col = Int32Array.from(pick(0));
    this.availIdx = Int32Array.from(pick(1));
    this.min = Float64Array.from(pick(2));
    this.max = Float64Array.from(pick(3));
    this.mustRun = Uint8Array.from(pick(4));
    this.rampPerH = Float64Array.from(pick(5));
    this.costBase = Float64Array.from(pick(6));
    this.costCo2 = Float64Array.from(pick(7));
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
    const pick = (f: number) => r.map((x) => x[f]!);
    this.col = Int32Array.from(pick(0));
    this.availIdx = Int32Array.from(pick(1));
    this.availMwIdx = Int32Array.from(pick(2));
    this.capacity = Float64Array.from(pick(3));
    this.penalty = Float64Array.from(pick(4));
    this.potentialAt = Int32Array.from(pick(5));
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
    const pick = (f: number) => r.map((x) => x[f]!);
    this.fwd = Int32Array.from(pick(0));
    this.rev = Int32Array.from(pick(1));
    this.availIdx = Int32Array.from(pick(2));
    this.cost = Float64Array.from(pick(3));
    this.capFwd = Float64Array.from(pick(4));
    this.capRev = Float64Array.from(pick(5));
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

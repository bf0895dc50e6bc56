/**
 * The coupling engine's plan-mode LP (`compileCity(city, registry, 'plan', T)`), driven by
 * time series instead of forecasts. After each fill the numbers are adjusted for what a
 * scenario adds and the live plan does not need:
 * - costs per period in EUR (× period length) with the CO2 price of each period's year;
 * - 15-minute periods: storage balances scaled to the period length;
 * - storage content bounds for phase dates and sized capacities.
 * `extendLp` appends columns and rows (cyclic storage start, capacity sizing) to a copy.
 */
import type { City } from '../coupling/model/schema.ts';
import { ColKind, compileCity, type CompiledModel } from '../coupling/lp/compile.ts';
import type { LpProblem } from '../coupling/lp/problem.ts';
import type { InputRegistry } from '../coupling/model/inputs.ts';

export class PeriodModel {
  readonly model: CompiledModel;
  readonly T: number;
  /** Period of each column; -1 for columns outside the periods (terminal shortfall). */
  readonly colPeriod: Int32Array;
  /** Columns and rows of each period in component order: the same order in every PeriodModel of a city. */
  readonly periodCols: Int32Array[];
  readonly periodRows: Int32Array[];
  private readonly scaled: boolean;
  private readonly zeroValues: Float64Array;

  constructor(
    readonly city: City,
    readonly registry: InputRegistry,
    T: number,
    readonly dtH: number,
  ) {
    this.model = compileCity(city, registry, 'plan', T);
    this.T = T;
    const m = this.model;
    const lp = m.lp;
    this.colPeriod = new Int32Array(lp.numCols).fill(-1);
    const cols: number[][] = Array.from({ length: T }, () => []);
    const rows: number[][] = Array.from({ length: T }, () => []);
    for (const b of m.buses) {
      for (let t = 0; t < T; t++) {
        rows[t]!.push(b.row[t]!);
        cols[t]!.push(b.unmet[t]!, b.dump[t]!);
        if (b.supply[t]! >= 0) cols[t]!.push(b.supply[t]!);
      }
    }
    for (const u of m.units) {
      for (let t = 0; t < T; t++) {
        cols[t]!.push(...u.cols[t]!);
        if (u.techRow[t]! >= 0) rows[t]!.push(u.techRow[t]!);
      }
    }
    for (const s of m.storages) {
      for (let t = 0; t < T; t++) {
        cols[t]!.push(s.charge[t]!, s.discharge[t]!, s.energy[t]!);
        rows[t]!.push(s.socRow[t]!);
      }
    }
    for (const l of m.links) for (let t = 0; t < T; t++) cols[t]!.push(l.fwd[t]!, l.rev[t]!);
    this.periodCols = cols.map((c) => Int32Array.from(c));
    this.periodRows = rows.map((r) => Int32Array.from(r));
    this.periodCols.forEach((c, t) => c.forEach((j) => (this.colPeriod[j] = t)));
    this.zeroValues = new Float64Array(m.storages.length);
    // Storage balances in 15-minute periods: flows in MW move dt MWh; losses are per hour.
    this.scaled = dtH !== 1;
    if (this.scaled) {
      for (const s of m.storages) {
        const st = s.storage;
        for (let t = 0; t < T; t++) {
          const r = s.socRow[t]!;
          setCoef(lp, r, s.charge[t]!, -st.etaCharge * dtH);
          setCoef(lp, r, s.discharge[t]!, dtH / st.etaDischarge);
          if (t > 0) setCoef(lp, r, s.energy[t - 1]!, -(1 - st.lossPerH * dtH));
        }
      }
    }
  }

  get lp(): LpProblem {
    return this.model.lp;
  }

  /**
   * Fills the LP for the given per-period input values.
   * `co2` is the CO2 price (EUR/t) of each period; `contentCap(si, t)` an upper bound on a
   * storage's content at the end of period t (0 outside its service dates; sized capacity).
   */
  fill(values: readonly Float64Array[], co2: Float64Array, contentCap?: (si: number, t: number) => number | undefined): void {
    const m = this.model;
    const lp = m.lp;
    m.fill(values, { dtH: 1, co2PriceEurPerT: 0, prev: undefined, storageValue: this.zeroValues });
    const dt = this.dtH;
    for (let j = 0; j < lp.numCols; j++) {
      const t = this.colPeriod[j]!;
      if (t < 0) continue; // terminal shortfall: EUR per MWh, not per period
      lp.colCost[j] = (lp.colCost[j]! + m.colCo2[j]! * co2[t]!) * dt;
    }
    for (const s of m.storages) {
      const st = s.storage;
      if (this.scaled) {
        const soc0 = m.storageState[s.index * 3]!;
        const r0 = s.socRow[0]!;
        lp.rowLower[r0] = lp.rowUpper[r0] = (1 - st.lossPerH * dt) * soc0;
      }
      if (contentCap) {
        for (let t = 0; t < this.T; t++) {
          const cap = contentCap(s.index, t);
          if (cap === undefined) continue;
          const e = s.energy[t]!;
          lp.colUpper[e] = Math.min(lp.colUpper[e]!, cap);
          const ratioC = st.chargeMaxMw / st.capacityMWh;
          const ratioD = st.dischargeMaxMw / st.capacityMWh;
          lp.colUpper[s.charge[t]!] = Math.min(lp.colUpper[s.charge[t]!]!, ratioC * cap);
          lp.colUpper[s.discharge[t]!] = Math.min(lp.colUpper[s.discharge[t]!]!, ratioD * cap);
        }
      }
    }
  }

  /** Storage content (MWh) at the end of period t of a solution. */
  content(x: ArrayLike<number>, si: number, t: number): number {
    return x[this.model.storages[si]!.energy[t]!]!;
  }

  isSlack(j: number): boolean {
    return this.model.colKind[j] === ColKind.Slack;
  }
}

function setCoef(lp: LpProblem, row: number, col: number, value: number): void {
  for (let p = lp.colStart[col]!; p < lp.colStart[col + 1]!; p++) {
    if (lp.rowIndex[p] === row) {
      lp.values[p] = value;
      return;
    }
  }
  throw new Error(`internal: no coefficient at row ${lp.rowNames[row]} column ${lp.colNames[col]}`);
}

export interface LpExtension {
  cols: { name: string; cost: number; lower: number; upper: number }[];
  rows: { name: string; lower: number; upper: number }[];
  /** Coefficients in the extended numbering (base columns and rows first). */
  coef: { row: number; col: number; value: number }[];
  rowBounds: { row: number; lower: number; upper: number }[];
  colBounds: { col: number; lower: number; upper: number }[];
}

export const emptyExtension = (): LpExtension => ({ cols: [], rows: [], coef: [], rowBounds: [], colBounds: [] });

/** A copy of `base` with the extension's columns, rows, coefficients and bound changes. */
export function extendLp(base: LpProblem, ext: LpExtension): LpProblem {
  const n0 = base.numCols;
  const m0 = base.numRows;
  const n = n0 + ext.cols.length;
  const m = m0 + ext.rows.length;
  const count = new Int32Array(n);
  for (let j = 0; j < n0; j++) count[j] = base.colStart[j + 1]! - base.colStart[j]!;
  for (const c of ext.coef) count[c.col]!++;
  const colStart = new Int32Array(n + 1);
  for (let j = 0; j < n; j++) colStart[j + 1] = colStart[j]! + count[j]!;
  const nnz = colStart[n]!;
  const rowIndex = new Int32Array(nnz);
  const values = new Float64Array(nnz);
  const fill = colStart.slice(0, n);
  for (let j = 0; j < n0; j++) {
    for (let p = base.colStart[j]!; p < base.colStart[j + 1]!; p++) {
      const q = fill[j]!++;
      rowIndex[q] = base.rowIndex[p]!;
      values[q] = base.values[p]!;
    }
  }
  for (const c of ext.coef) {
    const q = fill[c.col]!++;
    rowIndex[q] = c.row;
    values[q] = c.value;
  }
  const grow = (a: Float64Array, extra: number[]) => {
    const out = new Float64Array(a.length + extra.length);
    out.set(a);
    out.set(extra, a.length);
    return out;
  };
  const lp: LpProblem = {
    name: base.name,
    numCols: n,
    numRows: m,
    colNames: [...base.colNames, ...ext.cols.map((c) => c.name)],
    rowNames: [...base.rowNames, ...ext.rows.map((r) => r.name)],
    colCost: grow(base.colCost, ext.cols.map((c) => c.cost)),
    colLower: grow(base.colLower, ext.cols.map((c) => c.lower)),
    colUpper: grow(base.colUpper, ext.cols.map((c) => c.upper)),
    rowLower: grow(base.rowLower, ext.rows.map((r) => r.lower)),
    rowUpper: grow(base.rowUpper, ext.rows.map((r) => r.upper)),
    colStart,
    rowIndex,
    values,
  };
  for (const b of ext.rowBounds) {
    lp.rowLower[b.row] = b.lower;
    lp.rowUpper[b.row] = b.upper;
  }
  for (const b of ext.colBounds) {
    lp.colLower[b.col] = b.lower;
    lp.colUpper[b.col] = b.upper;
  }
  return lp;
}

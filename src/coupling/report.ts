/**
 * Turns one tick's LP solution into setpoints, flows, storage states, prices, KPIs and per-unit
 * explanations. Everything is read off the solution: flows into a bus are the unit's LP
 * coefficients times its column values, prices are row duals, and an explanation is the unit's
 * reduced cost, its active bound and the reason that bound has its value.
 */
import { ColKind, limitNames, type CompiledModel, type CompiledUnit } from './lp/compile.ts';
import { busOf } from './model/schema.ts';
import type { BusState, DispatchKpis, LinkFlow, Setpoint, StorageState, UnitExplanation } from './result.ts';

/**
 * One tick's numbers: the solution (x, y) and the compiled model's arrays that the next tick
 * overwrites (bounds, costs, coefficients, limits, COPs, potentials, demands, storage state).
 * Made by liveView over the live arrays; the engine freezes it (freezeView: copies) before the
 * next tick touches them, unless every record was already built by then, which is the usual case
 * (the server serialises each result at once), so most ticks copy nothing.
 * `model` is the compiled model with those arrays swapped; its colCo2 stays the live one (CO2 is
 * totalled into the KPIs at tick time, no record reads it later).
 */
export interface TickView {
  model: CompiledModel;
  x: Float64Array;
  y: Float64Array;
  storageValue: Float64Array;
  valueFromPlan: boolean;
}

/** A view over the live arrays, valid until the engine's next tick (storage values copied: a plan may land any time). */
export function liveView(model: CompiledModel, x: Float64Array, y: Float64Array, storageValue: Float64Array, valueFromPlan: boolean): TickView {
  return { model, x, y, storageValue: storageValue.slice(), valueFromPlan };
}

/**
 * Hands out the copies freezeView makes as views into large shared buffers: one buffer
 * allocation every few frozen ticks instead of several per tick (typed arrays above 64 bytes live
 * outside the V8 heap, and each costs an allocation, zeroing and GC bookkeeping). A buffer lives
 * as long as any result that has a view into it: at most SLAB elements per kept result.
 */
export class SnapshotArena {
  private static readonly SLAB = 1 << 14;
  private f64 = new Float64Array(0);
  private f64At = 0;
  private u8 = new Uint8Array(0);
  private u8At = 0;

  f64Copy(src: Float64Array, len: number): Float64Array {
    if (this.f64At + len > this.f64.length) {
      this.f64 = new Float64Array(Math.max(len, SnapshotArena.SLAB));
      this.f64At = 0;
    }
    const v = this.f64.subarray(this.f64At, this.f64At + len);
    this.f64At += len;
    v.set(src.length === len ? src : src.subarray(0, len));
    return v;
  }

  u8Copy(src: Uint8Array): Uint8Array {
    const len = src.length;
    if (this.u8At + len > this.u8.length) {
      this.u8 = new Uint8Array(Math.max(len, SnapshotArena.SLAB));
      this.u8At = 0;
    }
    const v = this.u8.subarray(this.u8At, this.u8At + len);
    this.u8At += len;
    v.set(src);
    return v;
  }
}

/** Replaces the view's live arrays by copies from the arena (a few microseconds). */
export function freezeView(view: TickView, arena: SnapshotArena): void {
  const model = view.model;
  const lp = model.lp;
  const n = lp.numCols;
  const m = lp.numRows;
  const f = (src: Float64Array) => arena.f64Copy(src, src.length);
  view.model = {
    ...model,
    lp: {
      ...lp,
      colCost: f(lp.colCost),
      colLower: f(lp.colLower),
      colUpper: f(lp.colUpper),
      rowLower: f(lp.rowLower),
      rowUpper: f(lp.rowUpper),
      values: f(lp.values),
    },
    loLimit: arena.u8Copy(model.loLimit),
    hiLimit: arena.u8Copy(model.hiLimit),
    unitCop: f(model.unitCop),
    unitPotential: f(model.unitPotential),
    busDemand: f(model.busDemand),
    storageState: f(model.storageState),
  };
  view.x = arena.f64Copy(view.x, n);
  view.y = arena.f64Copy(view.y, m);
}

export interface TickSolution {
  /** Column values. */
  x: ArrayLike<number>;
  /** Row duals. */
  y: ArrayLike<number>;
}

export const BUS_KINDS = ['heat', 'electricity', 'gas', 'waste', 'waste_heat'] as const;

/** Static per-unit layout used every tick (computed once per compiled tick model). */
export interface ReportLayout {
  /** Per unit: for each column, entries as [column, coefficient position, bus kind index]. */
  entries: Int32Array[];
  /** Units grouped by the row of their main product, for the merit order. */
  meritGroups: number[][];
  /** Main column and its primary row per unit (for explanations). */
  mainCol: Int32Array;
  mainRow: Int32Array;
  /** Per unit: the row of a bus it draws a limited resource from (waste, waste heat) or -1, and that bus's supply columns. */
  inputRow: Int32Array;
  inputSupply: number[][];
  elRow: number;
  gasRow: number;
  /**
   * For the per-tick KPIs, flat (no object hops in the loop): per unit a kind code, the index of
   * its key in heatBySourceMw (into heatKeys), and [column, coefficient position] pairs into its
   * zone (heatPairs from heatStart[ui] to heatStart[ui+1]) and into its waste-heat source
   * (sourcePairs likewise).
   */
  kpiKind: Uint8Array;
  heatKeys: string[];
  /** Scratch for buildKpis's per-key sums (a typed array made per call cost more than the sums). */
  heatSums: Float64Array;
  heatKeyOf: Int32Array;
  heatStart: Int32Array;
  heatPairs: Int32Array;
  sourceStart: Int32Array;
  sourcePairs: Int32Array;
  /**
   * Per column, 1 where its cost counts as cost (costWeight) or as penalty (penaltyWeight), else 0:
   * slacks are penalties except waste diverted elsewhere (a real cost); storage is valued apart.
   */
  costWeight: Float64Array;
  penaltyWeight: Float64Array;
  /** Per storage: charge and discharge columns, cycle cost. */
  storageCols: Int32Array;
  storageCycleCost: Float64Array;
  /** Per bus: id, kind index into BUS_KINDS, balance row, unmet and dump columns. */
  busIds: string[];
  busKind: Uint8Array;
  busRow: Int32Array;
  busUnmet: Int32Array;
  busDump: Int32Array;
}

/** Unit kind codes for the KPI loop. */
const K_FOSSIL = 1;
const K_WASTE = 2;
const K_HP_WASTE = 3;
const K_RENEWABLE = 4;
const K_OTHER = 5;

export function reportLayout(model: CompiledModel): ReportLayout {
  const lp = model.lp;
  const kindIdx = (k: string) => BUS_KINDS.indexOf(k as (typeof BUS_KINDS)[number]);
  const entries: Int32Array[] = [];
  const mainCol = new Int32Array(model.units.length);
  const mainRow = new Int32Array(model.units.length);
  const byRow = new Map<number, number[]>();
  const inputRow = new Int32Array(model.units.length).fill(-1);
  const inputSupply: number[][] = model.units.map(() => []);
  const suppliesOf = (busId: string): number[] => {
    const cb = model.busById.get(busId)!;
    if (cb.supply[0]! >= 0) return [cb.supply[0]!];
    return model.units.filter((o) => o.unit.kind === 'waste_heat_source' && o.unit.bus === busId).map((o) => o.cols[0]![0]!);
  };
  const elBus = model.city.buses.find((b) => b.kind === 'electricity');
  const gasBus = model.city.buses.find((b) => b.kind === 'gas');
  model.units.forEach((cu, ui) => {
    const list: number[] = [];
    for (const j of cu.cols[0]!) {
      for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) {
        const bi = model.rowBus[lp.rowIndex[p]!]!;
        if (bi < 0) continue;
        list.push(j, p, kindIdx(model.buses[bi]!.kind));
      }
    }
    entries.push(Int32Array.from(list));
    const u = cu.unit;
    const col = cu.cols[0]![0]!;
    let row = cu.primaryRow[0]!;
    if (u.kind === 'gas_chp' && u.mode === 'extraction') row = model.busById.get(busOf(model.city, u.elBus, 'electricity'))!.row[0]!;
    mainCol[ui] = col;
    mainRow[ui] = row;
    const input = u.kind === 'heat_pump' ? u.sourceBus : u.kind === 'wte_chp' ? busOf(model.city, u.wasteBus, 'waste') : undefined;
    if (input !== undefined) {
      inputRow[ui] = model.busById.get(input)!.row[0]!;
      inputSupply[ui] = suppliesOf(input);
    }
    if (u.kind !== 'grid' && u.kind !== 'pv' && u.kind !== 'wind') {
      const g = byRow.get(row) ?? [];
      g.push(ui);
      byRow.set(row, g);
    }
  });
  const kpiKind = new Uint8Array(model.units.length);
  const heatKeys: string[] = [];
  const heatKeyOf = new Int32Array(model.units.length);
  const heatPairs: number[] = [];
  const sourcePairs: number[] = [];
  const heatStart = new Int32Array(model.units.length + 1);
  const sourceStart = new Int32Array(model.units.length + 1);
  const heatIdx = kindIdx('heat');
  const whIdx = kindIdx('waste_heat');
  model.units.forEach((cu, ui) => {
    const u = cu.unit;
    kpiKind[ui] =
      u.kind === 'gas_boiler' || u.kind === 'gas_chp'
        ? K_FOSSIL
        : u.kind === 'waste_heat_source' || u.kind === 'wte_chp'
          ? K_WASTE
          : u.kind === 'heat_pump' && u.sourceBus !== undefined
            ? K_HP_WASTE
            : u.kind === 'pv' || u.kind === 'wind'
              ? K_RENEWABLE
              : K_OTHER;
    const key = u.kind === 'waste_heat_source' ? 'waste_heat_direct' : u.kind;
    if (!heatKeys.includes(key)) heatKeys.push(key);
    heatKeyOf[ui] = heatKeys.indexOf(key);
    const e = entries[ui]!;
    for (let k = 0; k < e.length; k += 3) {
      if (e[k + 2] === heatIdx) heatPairs.push(e[k]!, e[k + 1]!);
      else if (e[k + 2] === whIdx) sourcePairs.push(e[k]!, e[k + 1]!);
    }
    heatStart[ui + 1] = heatPairs.length;
    sourceStart[ui + 1] = sourcePairs.length;
  });
  const realCostSlack = new Uint8Array(lp.numCols);
  for (const cb of model.buses) if (cb.kind === 'waste') for (const d of cb.dump) realCostSlack[d] = 1;
  const costWeight = new Float64Array(lp.numCols);
  const penaltyWeight = new Float64Array(lp.numCols);
  for (let j = 0; j < lp.numCols; j++) {
    const k = model.colKind[j];
    if (k === ColKind.Slack && !realCostSlack[j]) penaltyWeight[j] = 1;
    else if (k !== ColKind.Storage) costWeight[j] = 1;
  }
  const buses = model.buses;
  return {
    kpiKind,
    heatKeys,
    heatSums: new Float64Array(heatKeys.length),
    heatKeyOf,
    heatStart,
    heatPairs: Int32Array.from(heatPairs),
    sourceStart,
    sourcePairs: Int32Array.from(sourcePairs),
    costWeight,
    penaltyWeight,
    storageCols: Int32Array.from(model.storages.flatMap((cs) => [cs.charge[0]!, cs.discharge[0]!])),
    storageCycleCost: Float64Array.from(model.storages, (cs) => cs.storage.cycleCostEurPerMWh),
    busIds: buses.map((cb) => cb.id),
    busKind: Uint8Array.from(buses, (cb) => kindIdx(cb.kind)),
    busRow: Int32Array.from(buses, (cb) => cb.row[0]!),
    busUnmet: Int32Array.from(buses, (cb) => cb.unmet[0]!),
    busDump: Int32Array.from(buses, (cb) => cb.dump[0]!),
    entries,
    meritGroups: [...byRow.values()],
    mainCol,
    mainRow,
    inputRow,
    inputSupply,
    elRow: elBus ? model.busById.get(elBus.id)!.row[0]! : -1,
    gasRow: gasBus ? model.busById.get(gasBus.id)!.row[0]! : -1,
  };
}

const flowScratch = new Float64Array(BUS_KINDS.length);
const HEAT = 0;
const ELEC = 1;
const GAS = 2;
const WASTE = 3;
const WHEAT = 4;

/** Flows of a unit into each bus kind (LP coefficient × column value), into flowScratch. */
function flowsOf(model: CompiledModel, layout: ReportLayout, ui: number, x: ArrayLike<number>): Float64Array {
  const f = flowScratch;
  f.fill(0);
  const e = layout.entries[ui]!;
  const vals = model.lp.values;
  for (let k = 0; k < e.length; k += 3) f[e[k + 2]!]! += vals[e[k + 1]!]! * x[e[k]!]!;
  return f;
}

const clean = (v: number) => (Math.abs(v) < 1e-12 ? 0 : v);

/** Setpoints by unit id, and the same objects in unit order. */
export function buildSetpoints(v: TickView, layout: ReportLayout): { byId: Record<string, Setpoint>; list: Setpoint[] } {
  const { model, x } = v;
  const lp = model.lp;
  const byId: Record<string, Setpoint> = {};
  const list: Setpoint[] = [];
  const units = model.units;
  for (let ui = 0; ui < units.length; ui++) {
    const cu = units[ui]!;
    const u = cu.unit;
    const cols = cu.cols[0]!;
    const main = cols[0]!;
    const f = flowsOf(model, layout, ui, x);
    // One object shape for every kind (absent fields undefined, dropped by JSON): fast to allocate.
    const sp: Setpoint = {
      kind: u.kind,
      zone: undefined,
      heatMw: clean(f[HEAT]!),
      elMw: clean(f[ELEC]!),
      fuelMw: undefined,
      wasteTph: undefined,
      sourceHeatMw: undefined,
      directMw: undefined,
      cop: undefined,
      curtailedMw: undefined,
      importMw: undefined,
      exportMw: undefined,
      output: clean(x[main]!),
      lower: lp.colLower[main]!,
      upper: lp.colUpper[main]!,
    };
    switch (u.kind) {
      case 'gas_boiler':
      case 'gas_chp':
        sp.zone = u.zone;
        sp.fuelMw = clean(-f[GAS]!);
        break;
      case 'electric_boiler':
        sp.zone = u.zone;
        break;
      case 'wte_chp':
        sp.zone = u.zone;
        sp.wasteTph = clean(-f[WASTE]!);
        break;
      case 'heat_pump':
        sp.zone = u.zone;
        sp.cop = model.unitCop[ui]!;
        sp.sourceHeatMw = u.sourceBus !== undefined ? clean(-f[WHEAT]!) : clean(f[HEAT]! + f[ELEC]!);
        break;
      case 'waste_heat_source':
        sp.sourceHeatMw = clean(x[main]!);
        if (u.directZone !== undefined) {
          sp.zone = u.directZone;
          sp.directMw = clean(x[cols[1]!]!);
        }
        break;
      case 'pv':
      case 'wind':
        sp.curtailedMw = clean(x[main]!);
        sp.elMw = clean(model.unitPotential[ui]! - x[main]!);
        break;
      case 'grid': {
        // The meter sees the net flow. Import and export at once only happens when they cost the
        // same (fees 0), where any split is optimal, so netting changes no cost.
        const net = x[cols[0]!]! - x[cols[1]!]!;
        sp.importMw = clean(Math.max(0, net));
        sp.exportMw = clean(Math.max(0, -net));
        break;
      }
    }
    byId[u.id] = sp;
    list.push(sp);
  }
  return { byId, list };
}

export function buildFlows(v: TickView): Record<string, LinkFlow> {
  const { model, x } = v;
  const lp = model.lp;
  const out: Record<string, LinkFlow> = {};
  for (const cl of model.links) {
    const l = cl.link;
    const f = x[cl.fwd[0]!]!;
    const r = x[cl.rev[0]!]!;
    const fwdCap = lp.colUpper[cl.fwd[0]!]!;
    const revCap = lp.colUpper[cl.rev[0]!]!;
    const net = f - r;
    out[l.id] = {
      from: l.from,
      to: l.to,
      flowMw: clean(net),
      forwardMw: clean(f),
      reverseMw: clean(r),
      // Forward, `to` receives f less the loss and sends r; reverse, the mirror image, negative.
      deliveredMw: clean(net >= 0 ? f * (1 - l.lossFraction) - r : f - r * (1 - l.lossFraction)),
      lossMw: clean((f + r) * l.lossFraction),
      capacityMw: net >= 0 ? fwdCap : revCap,
      congested: (fwdCap > 0 && f >= fwdCap - 1e-7 * (1 + fwdCap)) || (revCap > 0 && r >= revCap - 1e-7 * (1 + revCap)),
    };
  }
  return out;
}

export function buildStorage(v: TickView): Record<string, StorageState> {
  const { model, x } = v;
  const out: Record<string, StorageState> = {};
  model.storages.forEach((cs, si) => {
    const s = cs.storage;
    const c = x[cs.charge[0]!]!;
    const d = x[cs.discharge[0]!]!;
    const st = model.storageState;
    const end = Math.max(0, Math.min(s.capacityMWh, st[si * 3 + 1]! + (s.etaCharge * c - d / s.etaDischarge) * st[si * 3 + 2]!));
    out[s.id] = {
      zone: s.zone,
      socStartMWh: st[si * 3]!,
      socMWh: end,
      socFraction: end / s.capacityMWh,
      chargeMw: clean(c),
      dischargeMw: clean(d),
      valueEurPerMWh: v.storageValue[si]!,
      valueSource: v.valueFromPlan ? 'plan' : 'default',
    };
  });
  return out;
}

export function buildBuses(v: TickView): Record<string, BusState> {
  const { model, x, y } = v;
  const out: Record<string, BusState> = {};
  for (const cb of model.buses) {
    const supply = cb.supply[0]!;
    out[cb.id] = {
      kind: cb.kind,
      priceEurPerMWh: y[cb.row[0]!]!,
      demandMw: model.busDemand[cb.index]!,
      supplyMw: supply >= 0 ? x[supply]! : 0,
      unmetMw: x[cb.unmet[0]!]!,
      dumpMw: x[cb.dump[0]!]!,
    };
  }
  return out;
}

/** KPIs straight from the solution (no per-unit records needed). */
export function buildKpis(model: CompiledModel, layout: ReportLayout, x: ArrayLike<number>): DispatchKpis {
  const { numCols, colCost, values } = model.lp;
  const { colCo2 } = model;
  const { costWeight, penaltyWeight, kpiKind, mainCol, heatKeys, heatKeyOf, heatStart, heatPairs, sourceStart, sourcePairs } = layout;
  let cost = 0;
  let penalty = 0;
  let co2 = 0;
  for (let j = 0; j < numCols; j++) {
    const xj = x[j]!;
    const c = colCost[j]! * xj;
    co2 += colCo2[j]! * xj;
    cost += c * costWeight[j]!;
    penalty += c * penaltyWeight[j]!;
  }
  let renewableCurtailed = 0;
  let heatSupplied = 0;
  let fossil = 0;
  let wasteHeat = 0;
  // Per source key, summed by index; keys enter the record in the order units first supply heat.
  const sums = layout.heatSums.fill(0);
  const order: number[] = [];
  for (let ui = 0; ui < kpiKind.length; ui++) {
    const kind = kpiKind[ui]!;
    if (kind === K_RENEWABLE) {
      const col = mainCol[ui]!;
      const curtailed = x[col]!;
      renewableCurtailed += curtailed;
      const pen = colCost[col]! * curtailed;
      cost -= pen;
      penalty += pen;
      continue;
    }
    let heat = 0;
    for (let k = heatStart[ui]!; k < heatStart[ui + 1]!; k += 2) heat += values[heatPairs[k + 1]!]! * x[heatPairs[k]!]!;
    if (heat <= 1e-12) continue;
    heatSupplied += heat;
    const key = heatKeyOf[ui]!;
    if (sums[key] === 0) order.push(key);
    sums[key]! += heat;
    if (kind === K_FOSSIL) fossil += heat;
    else if (kind === K_WASTE) wasteHeat += heat;
    else if (kind === K_HP_WASTE) {
      let src = 0;
      for (let k = sourceStart[ui]!; k < sourceStart[ui + 1]!; k += 2) src -= values[sourcePairs[k + 1]!]! * x[sourcePairs[k]!]!;
      wasteHeat += Math.max(0, src);
    }
  }
  const bySource: Record<string, number> = {};
  for (const key of order) bySource[heatKeys[key]!] = sums[key]!;
  const { storageCols, storageCycleCost } = layout;
  for (let si = 0; si < storageCycleCost.length; si++) cost += storageCycleCost[si]! * (x[storageCols[2 * si]!]! + x[storageCols[2 * si + 1]!]!);
  let unmetHeat = 0;
  let unmetEl = 0;
  let heatDumped = 0;
  let elDumped = 0;
  const { busKind, busUnmet, busDump } = layout;
  for (let b = 0; b < busKind.length; b++) {
    const k = busKind[b];
    if (k === HEAT) {
      unmetHeat += x[busUnmet[b]!]!;
      heatDumped += x[busDump[b]!]!;
    } else if (k === ELEC) {
      unmetEl += x[busUnmet[b]!]!;
      elDumped += x[busDump[b]!]!;
    }
  }
  return {
    costEurPerH: cost,
    co2TPerH: co2,
    heatSuppliedMw: heatSupplied,
    wasteHeatShare: heatSupplied > 0 ? wasteHeat / heatSupplied : 0,
    fossilShare: heatSupplied > 0 ? fossil / heatSupplied : 0,
    unmetDemandMw: clean(unmetHeat + unmetEl),
    unmetHeatMw: clean(unmetHeat),
    unmetElectricityMw: clean(unmetEl),
    curtailmentMw: clean(renewableCurtailed + heatDumped + elDumped),
    renewableCurtailedMw: clean(renewableCurtailed),
    heatDumpedMw: clean(heatDumped),
    penaltyEurPerH: penalty,
    heatBySourceMw: bySource,
  };
}

// ---------------------------------------------------------------- explanations

const f2 = (v: number) => (Math.abs(v) < 0.005 ? '0.00' : Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(2));
const limitText: Record<string, string> = {
  capacity: 'its capacity',
  availability: 'reduced availability',
  ramp: 'its ramp limit',
  min_output: 'its minimum output',
  must_run: 'must-run',
  out_of_service: 'out of service (availability 0)',
  storage_content: 'the storage content',
  source_available: 'the heat/power available at the source',
  too_cold_for_direct_use: 'source too cold for direct use',
  slack: 'penalised slack',
  must_dispose: 'waste that must be disposed',
  none: 'no limit',
};

function busName(model: CompiledModel, row: number): string {
  const bi = model.rowBus[row]!;
  return bi >= 0 ? model.buses[bi]!.id : model.lp.rowNames[row]!;
}

/** Marginal cost of a column's product in `row`, other products valued at their shadow prices. */
function marginalCost(model: CompiledModel, j: number, row: number, y: ArrayLike<number>, skipRow = -1): { mc: number; a: number } {
  const lp = model.lp;
  let other = 0;
  let a = 0;
  for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) {
    const i = lp.rowIndex[p]!;
    if (i === row) a = lp.values[p]!;
    else if (i !== skipRow) other += y[i]! * lp.values[p]!;
  }
  return { mc: a !== 0 ? (lp.colCost[j]! - other) / a : NaN, a };
}

type Status = UnitExplanation['status'];

function statusOf(lo: number, hi: number, v: number): Status {
  const eps = 1e-7 * (1 + Math.abs(hi));
  if (hi - lo <= eps) return hi <= eps ? 'unavailable' : 'fixed';
  if (v >= hi - eps) return 'at_max';
  if (v <= lo + eps) return lo > eps ? 'at_min' : 'off';
  return 'marginal';
}

export function buildExplanations(v: TickView, layout: ReportLayout, setpoints: readonly Setpoint[], storage: Record<string, StorageState>): Record<string, UnitExplanation> {
  const model = v.model;
  const sol: TickSolution = v;
  const { lp } = model;
  const { x, y } = sol;
  const n = model.units.length;
  const mc = new Float64Array(n);
  const out: Record<string, UnitExplanation> = {};
  for (let ui = 0; ui < n; ui++) mc[ui] = marginalCost(model, layout.mainCol[ui]!, layout.mainRow[ui]!, y).mc;
  const rank = new Int32Array(n);
  const of = new Int32Array(n);
  for (const g of layout.meritGroups) {
    for (const a of g) {
      let r = 1;
      for (const b of g) if (b !== a && (mc[b]! < mc[a]! || (mc[b] === mc[a] && b < a))) r++;
      rank[a] = r;
      of[a] = g.length;
    }
  }
  for (let ui = 0; ui < n; ui++) {
    const cu = model.units[ui]!;
    out[cu.unit.id] = explainUnit(model, layout, cu, ui, sol, setpoints[ui]!, model.unitCop[ui]!, mc[ui]!, rank[ui]!, of[ui]!);
  }
  // Storage: charging and discharging are judged against the zone price and the stored value.
  model.storages.forEach((cs) => {
    const s = cs.storage;
    const st = storage[s.id]!;
    const zr = cs.zoneRow[0]!;
    const price = y[zr]!;
    const c = cs.charge[0]!;
    const dcol = cs.discharge[0]!;
    const chargeBelow = lp.colCost[c]!; // charge when the zone price is below -cost
    const dischargeAbove = lp.colCost[dcol]!;
    let status: Status;
    let binding: UnitExplanation['binding'] = null;
    let text: string;
    const socRow = cs.socRow[0]!;
    const act = -(s.etaCharge * x[c]! - x[dcol]! / s.etaDischarge);
    const contentLimit = act <= lp.rowLower[socRow]! + 1e-7 || act >= lp.rowUpper[socRow]! - 1e-7;
    const chargeAt = -chargeBelow;
    if (x[c]! > 1e-9) {
      status = statusOf(lp.colLower[c]!, lp.colUpper[c]!, x[c]!);
      if (status === 'at_max') binding = limitNames[model.hiLimit[c]!]!;
      if (contentLimit) binding = 'storage_content';
      text = `${s.id} charging ${f2(x[c]!)} MW${status === 'marginal' && !binding ? ', setting the price' : ''}: ${s.zone} heat price ${f2(price)} EUR/MWh is at or below what stored heat is worth after losses and cycle cost (${f2(chargeAt)} EUR/MWh; value ${f2(st.valueEurPerMWh)} EUR/MWh from the ${st.valueSource})${binding ? `; limited by ${limitText[binding]}` : ''}`;
    } else if (x[dcol]! > 1e-9) {
      status = statusOf(lp.colLower[dcol]!, lp.colUpper[dcol]!, x[dcol]!);
      if (status === 'at_max') binding = limitNames[model.hiLimit[dcol]!]!;
      if (contentLimit) binding = 'storage_content';
      text = `${s.id} discharging ${f2(x[dcol]!)} MW${status === 'marginal' && !binding ? ', setting the price' : ''}: ${s.zone} heat price ${f2(price)} EUR/MWh is at or above the value of stored heat plus losses and cycle cost (${f2(dischargeAbove)} EUR/MWh)${binding ? `; limited by ${limitText[binding]}` : ''}`;
    } else {
      status = lp.colUpper[c] === 0 && lp.colUpper[dcol] === 0 ? 'unavailable' : 'off';
      text = `${s.id} idle: ${s.zone} heat price ${f2(price)} EUR/MWh lies between the charge threshold ${f2(chargeAt)} and the discharge threshold ${f2(dischargeAbove)} EUR/MWh`;
    }
    out[s.id] = {
      status,
      binding,
      marginalCostEurPerMWh: dischargeAbove,
      priceEurPerMWh: price,
      priceBus: s.zone,
      reducedCost: x[c]! > 1e-9 ? lp.colCost[c]! + price : lp.colCost[dcol]! - price,
      meritRank: 0,
      meritOf: 0,
      text,
    };
  });
  return out;
}

function explainUnit(
  model: CompiledModel,
  layout: ReportLayout,
  cu: CompiledUnit,
  ui: number,
  sol: TickSolution,
  sp: Setpoint,
  cop: number,
  mcIn: number,
  rank: number,
  of: number,
): UnitExplanation {
  const { lp } = model;
  const { x, y } = sol;
  const u = cu.unit;
  const j = layout.mainCol[ui]!;
  const row = layout.mainRow[ui]!;
  const price = y[row]!;
  const bus = busName(model, row);
  let reduced = lp.colCost[j]!;
  for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) reduced -= y[lp.rowIndex[p]!]! * lp.values[p]!;
  const lo = lp.colLower[j]!;
  const hi = lp.colUpper[j]!;
  const v = x[j]!;
  let mc = mcIn;
  const merit = of > 0 ? `; merit order ${rank} of ${of} in ${bus}` : '';

  if (u.kind === 'pv' || u.kind === 'wind') {
    // The column is curtailment: at 0 the unit feeds in everything available.
    const st = statusOf(lo, hi, v);
    const status: Status = hi <= 1e-9 ? 'unavailable' : st === 'off' ? 'at_max' : st === 'at_max' ? 'off' : 'marginal';
    const pen = lp.colCost[j]!;
    const text =
      status === 'unavailable'
        ? `${u.id} produces nothing: no ${u.kind === 'pv' ? 'sun' : 'wind'} available`
        : status === 'at_max'
          ? `${u.id} feeds in all ${f2(sp.elMw)} MW available: electricity price ${f2(price)} EUR/MWh is above minus the curtailment penalty (${f2(-pen)} EUR/MWh)`
          : `${u.id} curtailed by ${f2(v)} MW: electricity is worth ${f2(price)} EUR/MWh, less than curtailing costs (${f2(-pen)} EUR/MWh)`;
    return { status, binding: status === 'at_max' ? 'source_available' : null, marginalCostEurPerMWh: 0, priceEurPerMWh: price, priceBus: bus, reducedCost: -reduced, meritRank: 0, meritOf: 0, text };
  }

  if (u.kind === 'grid') {
    const net = x[cu.cols[0]![0]!]! - x[cu.cols[0]![1]!]!;
    const imp = Math.max(0, net);
    const exp = Math.max(0, -net);
    const ci = lp.colCost[cu.cols[0]![0]!]!;
    const ce = -lp.colCost[cu.cols[0]![1]!]!;
    const expCol = cu.cols[0]![1]!;
    let status: Status;
    let binding: UnitExplanation['binding'] = null;
    let text: string;
    if (imp > 1e-9) {
      status = statusOf(lo, hi, imp);
      if (status === 'at_max') binding = limitNames[model.hiLimit[j]!]!;
      text = `${u.id} imports ${f2(imp)} MW at ${f2(ci)} EUR/MWh (price, fees and CO2)${status === 'at_max' ? ` up to ${limitText[binding!]}` : ': the import price sets the electricity price'}`;
    } else if (exp > 1e-9) {
      status = statusOf(lp.colLower[expCol]!, lp.colUpper[expCol]!, exp);
      if (status === 'at_max') binding = limitNames[model.hiLimit[expCol]!]!;
      text = `${u.id} exports ${f2(exp)} MW for ${f2(ce)} EUR/MWh${status === 'at_max' ? ` up to ${limitText[binding!]}` : ': the export price sets the electricity price'}`;
    } else {
      status = hi <= 1e-9 && lp.colUpper[expCol]! <= 1e-9 ? 'unavailable' : 'off';
      text = `${u.id} neither imports nor exports: electricity price ${f2(price)} EUR/MWh lies between export ${f2(ce)} and import ${f2(ci)} EUR/MWh`;
    }
    return { status, binding, marginalCostEurPerMWh: ci, priceEurPerMWh: price, priceBus: bus, reducedCost: reduced, meritRank: 0, meritOf: 0, text };
  }

  let status = statusOf(lo, hi, v);
  let binding: UnitExplanation['binding'] = null;
  let scarce = '';
  const ir = layout.inputRow[ui]!;
  if (status === 'marginal' && ir >= 0 && y[ir]! > 1e-9) {
    // Basic, but held by an exhausted input: all supply into its input bus is at the maximum.
    const sup = layout.inputSupply[ui]!;
    if (sup.length > 0 && sup.every((c) => x[c]! >= lp.colUpper[c]! - 1e-7 * (1 + lp.colUpper[c]!))) {
      status = 'at_max';
      scarce = `${busName(model, ir)} (scarcity value ${f2(y[ir]!)} EUR/MWh)`;
      mc = marginalCost(model, j, row, y, ir).mc;
    }
  }
  if (scarce) binding = 'source_available';
  else if (status === 'at_max' || status === 'fixed' || status === 'unavailable') binding = limitNames[model.hiLimit[j]!]!;
  else if (status === 'at_min') binding = limitNames[model.loLimit[j]!]!;
  if (status === 'fixed' && model.loLimit[j]! !== 0) binding = limitNames[model.loLimit[j]!]!;
  const what = u.kind === 'gas_chp' && u.mode === 'extraction' ? 'electricity (condensing)' : u.kind === 'waste_heat_source' ? 'waste heat' : 'heat';
  const out = u.kind === 'wte_chp' ? `${f2(v)} t/h of waste` : u.kind === 'gas_chp' ? `${f2(v)} MW fuel` : `${f2(v)} MW`;
  const cmp = `marginal cost of ${what} ${f2(mc)} EUR/MWh vs ${bus} price ${f2(price)} EUR/MWh`;
  let text: string;
  switch (status) {
    case 'unavailable':
      text = `${u.id} cannot run: ${limitText[binding!]}`;
      break;
    case 'fixed':
      text = `${u.id} fixed at ${out} by ${limitText[binding!]} (${cmp})`;
      break;
    case 'at_max':
      text = scarce
        ? `${u.id} runs at ${out}, limited by what ${scarce} can supply: marginal cost of ${what} without that input ${f2(mc)} EUR/MWh vs ${bus} price ${f2(price)} EUR/MWh${merit}`
        : `${u.id} at its maximum ${out}, limited by ${limitText[binding!]}: ${cmp}, cheaper than the price${merit}`;
      break;
    case 'at_min':
      text = `${u.id} held at ${out} by ${limitText[binding!]}: ${cmp}, dearer than the price${merit}`;
      break;
    case 'off':
      text =
        Math.abs(reduced) <= 1e-7 * (1 + Math.abs(lp.colCost[j]!))
          ? `${u.id} off: ${cmp}, exactly at the price (tied with the unit setting it), not needed${merit}`
          : `${u.id} off: ${cmp}, too expensive${merit}`;
      break;
    default:
      text = `${u.id} is the marginal unit at ${out}, between its limits: its ${cmp} set the price${merit}`;
  }
  if (u.kind === 'gas_chp' && u.mode === 'extraction') {
    const q = cu.cols[0]![1]!;
    const tr = cu.techRow[0]!;
    const act = u.etaEl * x[j]! - (u.beta! + u.powerToHeat!) * x[q]!;
    const heatMc = marginalCost(model, q, cu.primaryRow[0]!, y).mc;
    const onLine = x[j]! > 1e-9 && act <= lp.rowLower[tr]! + 1e-7 * (1 + Math.abs(x[j]!));
    text += `; heat extraction ${f2(x[q]!)} MW (each MWh of heat costs ${f2(u.beta!)} MWh of electricity, ${f2(heatMc)} EUR/MWh vs ${busName(model, cu.primaryRow[0]!)} price ${f2(y[cu.primaryRow[0]!]!)})${onLine ? ', on the back-pressure line (P = σ·Q)' : ''}`;
  }
  if (u.kind === 'heat_pump') text += ` (COP ${f2(cop)})`;
  return { status, binding, marginalCostEurPerMWh: mc, priceEurPerMWh: price, priceBus: bus, reducedCost: reduced, meritRank: of > 0 ? rank : 0, meritOf: of, text };
}

/**
 * City → LP. The structure (rows, columns, which coefficients exist) is fixed at compile time;
 * `fill` writes the numbers for given input values in place, so a tick only changes bounds,
 * costs, right-hand sides and the few coefficients that depend on temperatures (heat-pump COP).
 *
 * Units: columns in MW (heat, electricity, fuel), t/h (waste); rows balance MW (t/h for waste);
 * costs in EUR/MWh so the objective is EUR/h. Every bus has an unmet (source) and a dump (sink)
 * slack with a penalty, with finite natural bounds, so the LP is always feasible and every
 * column is boxed (the warm-started dual simplex relies on that).
 *
 * Two modes share the component logic:
 * - `tick`: one period of length dtH; storage is charge/discharge columns valued at the storage's
 *   value (EUR/MWh) from the look-ahead plan, with the state of charge as a ranged row; ramps
 *   limit the change from the previous setpoint.
 * - `plan`: T hourly periods with storage content columns linking them (no ramps); the content
 *   at the end must not fall below the start (soft). Its duals give the storage values.
 */
import { busOf, type City, type Unit } from '../model/schema.ts';
import type { InputRegistry } from '../model/inputs.ts';
import {
  BusTable,
  DispatchableTable,
  ExtractionChpTable,
  HeatPumpTable,
  LinkTable,
  RenewableTable,
  StorageTable,
  WasteHeatTable,
  type DispatchState,
  type FillTarget,
  type StorageFillState,
} from './fill-tables.ts';
import { Limit } from './limits.ts';
import { LpBuilder, type LpProblem } from './problem.ts';

export type CompileMode = 'tick' | 'plan';

export { Limit, limitNames, type LimitName } from './limits.ts';

/** Column categories, for cost accounting. */
export const ColKind = { Unit: 0, Slack: 1, Storage: 2, Link: 3, Supply: 4 } as const;
export type ColKind = (typeof ColKind)[keyof typeof ColKind];

export interface CompiledUnit {
  unit: Unit;
  /** Columns of the unit per period: [main, second?]. */
  cols: number[][];
  /** Bus row the main column serves, per period (zone for heat units, el bus for PV/grid). */
  primaryRow: number[];
  /** Technical row (extraction CHP back-pressure line) per period, or -1. */
  techRow: number[];
  /** Index into the model's per-unit state arrays (unitCop, unitPotential). */
  index: number;
}

export interface CompiledBus {
  id: string;
  kind: City['buses'][number]['kind'];
  row: number[];
  unmet: number[];
  dump: number[];
  /** Supply column (gas, waste) per period or -1. */
  supply: number[];
  index: number;
}

export interface CompiledStorage {
  storage: City['storages'][number];
  zoneRow: number[];
  charge: number[];
  discharge: number[];
  /** Tick: the ranged net-charge row. Plan: content balance rows. */
  socRow: number[];
  /** Plan only: content at the end of each period, and the terminal row/shortfall column. */
  energy: number[];
  terminalRow: number;
  shortfall: number;
  index: number;
}

export interface CompiledLink {
  link: City['links'][number];
  fwd: number[];
  rev: number[];
}

export interface FillState extends DispatchState {
  /** Value of stored heat per storage (tick mode), EUR/MWh. */
  storageValue: Float64Array;
}

export interface CompiledModel {
  city: City;
  mode: CompileMode;
  periods: number;
  lp: LpProblem;
  units: CompiledUnit[];
  buses: CompiledBus[];
  busById: Map<string, CompiledBus>;
  storages: CompiledStorage[];
  links: CompiledLink[];
  colKind: Uint8Array;
  /** Component index per column: into units / buses / storages / links by colKind. */
  colOwner: Int32Array;
  loLimit: Uint8Array;
  hiLimit: Uint8Array;
  /** Row → bus index, or -1 for technical rows. */
  rowBus: Int32Array;
  /** CO2 emitted per unit of each column (t per MWh or per t). */
  colCo2: Float64Array;
  /**
   * Per-tick state written by fill, as flat arrays (snapshots copy them in one go):
   * unitCop / unitPotential [unit × period]: heat-pump COP, renewable potential (MW);
   * busDemand [bus × period] (MW); storageState [storage × 3]: content at the start (MWh),
   * after standing losses, tick length (h).
   */
  unitCop: Float64Array;
  unitPotential: Float64Array;
  busDemand: Float64Array;
  storageState: Float64Array;
  /** Columns whose matrix coefficients changed in the last fill. */
  changedCols: Int32Array;
  changedCount: number;
  /** Writes all numbers for the given input values (one Float64Array per period). */
  fill(values: readonly Float64Array[], state: FillState): void;
}

export function compileCity(city: City, registry: InputRegistry, mode: CompileMode, periods = 1): CompiledModel {
  const T = mode === 'tick' ? 1 : periods;
  const unitCop = new Float64Array(city.units.length * T).fill(NaN);
  const unitPotential = new Float64Array(city.units.length * T);
  const busDemand = new Float64Array(city.buses.length * T);
  const storageState = new Float64Array(city.storages.length * 3);
  const b = new LpBuilder(`${city.name}-${mode}`);
  const sfx = (t: number) => (mode === 'tick' ? '' : `.t${t}`);
  const inputIdx = (component: string, field: string): number => {
    const i = registry.byName.get(`${component}.${field}`);
    return i === undefined ? -1 : i;
  };
  const mustInput = (component: string, field: string): number => {
    const i = inputIdx(component, field);
    if (i < 0) throw new Error(`internal: no input ${component}.${field}`);
    return i;
  };

  const colKind: number[] = [];
  const colOwner: number[] = [];
  const colCo2: number[] = [];
  const addCol = (name: string, kind: ColKind, owner: number) => {
    colKind.push(kind);
    colOwner.push(owner);
    colCo2.push(0);
    return b.addCol(name);
  };

  // ---- buses
  const buses: CompiledBus[] = [];
  const busById = new Map<string, CompiledBus>();
  const rowBusList: number[] = [];
  city.buses.forEach((bus, bi) => {
    const cb: CompiledBus = { id: bus.id, kind: bus.kind, row: [], unmet: [], dump: [], supply: [], index: bi };
    for (let t = 0; t < T; t++) {
      const r = b.addRow(`bal.${bus.id}${sfx(t)}`);
      rowBusList[r] = bi;
      cb.row.push(r);
      const u = addCol(`unmet.${bus.id}${sfx(t)}`, ColKind.Slack, bi);
      b.add(r, u, 1);
      const d = addCol(`dump.${bus.id}${sfx(t)}`, ColKind.Slack, bi);
      b.add(r, d, -1);
      cb.unmet.push(u);
      cb.dump.push(d);
      if (bus.kind === 'gas' || bus.kind === 'waste') {
        const s = addCol(`supply.${bus.id}${sfx(t)}`, ColKind.Supply, bi);
        b.add(r, s, 1);
        cb.supply.push(s);
      } else cb.supply.push(-1);
    }
    buses.push(cb);
    busById.set(bus.id, cb);
  });
  const rowOf = (busId: string, t: number) => busById.get(busId)!.row[t]!;

  // ---- units
  const units: CompiledUnit[] = [];
  // The few one-off components (grid, gas and waste supply) fill by closures, per period, after the tables.
  const fillers: ((v: Float64Array, st: FillState) => void)[][] = Array.from({ length: T }, () => []);
  const onPeriod = (t: number, f: (v: Float64Array, st: FillState) => void) => fillers[t]!.push(f);
  const everyPeriod = (f: (t: number, v: Float64Array, st: FillState) => void) => {
    for (let t = 0; t < T; t++) fillers[t]!.push((v, st) => f(t, v, st));
  };
  // Assigned once the builder has packed the matrix; fillers only run after that.
  let built: { lp: LpProblem; position: Int32Array };

  // The LP's arrays, bound once the builder has packed the matrix (fillers run only after that).
  let colCost: Float64Array;
  let colLower: Float64Array;
  let colUpper: Float64Array;
  let coefficients: Float64Array;
  // Bus-row coefficients in row order for naturalSlackBounds, and where each position's copy is.
  let slackEntryVal: Float64Array;
  let slackEntryAt: Int32Array;
  let co2: Float64Array;
  const setCost = (j: number, c: number) => {
    colCost[j] = c;
  };
  const setBounds = (j: number, lo: number, hi: number, loWhy: Limit, hiWhy: Limit) => {
    colLower[j] = lo;
    colUpper[j] = hi;
    loLimit[j] = loWhy;
    hiLimit[j] = hiWhy;
  };
  const setCoefficient = (p: number, col: number, value: number) => {
    if (coefficients[p] !== value) {
      coefficients[p] = value;
      const e = slackEntryAt[p]!;
      if (e >= 0) slackEntryVal[e] = value;
      markChanged(col);
    }
  };
  let changedCols = new Int32Array(16);
  let changedCount = 0;
  const changedFlag: number[] = [];
  const markChanged = (col: number) => {
    if (changedFlag[col] === fillEpoch) return;
    changedFlag[col] = fillEpoch;
    if (changedCount === changedCols.length) {
      const n = new Int32Array(changedCols.length * 2);
      n.set(changedCols);
      changedCols = n;
    }
    changedCols[changedCount++] = col;
  };
  let fillEpoch = 0;

  // The many columns of a few kinds are filled by loops over flat tables (per period), not by
  // one closure each: a tick then reads a few kilobytes of typed arrays in order.
  const dispatchable = Array.from({ length: T }, () => new DispatchableTable());
  const renewables = Array.from({ length: T }, () => new RenewableTable());
  const linkTables = Array.from({ length: T }, () => new LinkTable());
  const busTables = Array.from({ length: T }, () => new BusTable());
  const heatPumps = Array.from({ length: T }, () => new HeatPumpTable());
  const wasteHeat = Array.from({ length: T }, () => new WasteHeatTable());
  const extractionChps = Array.from({ length: T }, () => new ExtractionChpTable());
  const storageTables = Array.from({ length: T }, () => new StorageTable());
  /** Cost base + CO2 factor × CO2 price, bounds per DispatchableTable. */
  const addDispatchable = (t: number, col: number, availIdx: number, min: number, max: number, mustRun: boolean, ramp: number | undefined, costBase: number, costCo2 = 0) =>
    dispatchable[t]!.add(col, availIdx, min, max, mustRun, ramp, costBase, costCo2);

  city.units.forEach((u, ui) => {
    const cu: CompiledUnit = { unit: u, cols: [], primaryRow: [], techRow: [], index: ui };
    const availIdx = mustInput(u.id, 'availability');
    for (let t = 0; t < T; t++) {
      const s = sfx(t);
      switch (u.kind) {
        case 'gas_boiler': {
          const zr = rowOf(u.zone, t);
          const q = addCol(`${u.id}.heat${s}`, ColKind.Unit, ui);
          b.add(zr, q, 1);
          b.add(rowOf(busOf(city, u.gasBus, 'gas'), t), q, -1 / u.efficiency);
          cu.cols.push([q]);
          cu.primaryRow.push(zr);
          cu.techRow.push(-1);
          addDispatchable(t, q, availIdx, u.heatMinMw, u.heatMaxMw, u.mustRun, u.rampMwPerMin && u.rampMwPerMin * 60, u.varCostEurPerMWh);
          break;
        }
        case 'electric_boiler': {
          const zr = rowOf(u.zone, t);
          const q = addCol(`${u.id}.heat${s}`, ColKind.Unit, ui);
          b.add(zr, q, 1);
          b.add(rowOf(busOf(city, u.elBus, 'electricity'), t), q, -1 / u.efficiency);
          cu.cols.push([q]);
          cu.primaryRow.push(zr);
          cu.techRow.push(-1);
          addDispatchable(t, q, availIdx, u.heatMinMw, u.heatMaxMw, u.mustRun, u.rampMwPerMin && u.rampMwPerMin * 60, u.varCostEurPerMWh);
          break;
        }
        case 'heat_pump': {
          const zr = rowOf(u.zone, t);
          const q = addCol(`${u.id}.heat${s}`, ColKind.Unit, ui);
          b.add(zr, q, 1);
          const hEl = b.add(rowOf(busOf(city, u.elBus, 'electricity'), t), q, -1 / u.copMax);
          const hSrc = u.sourceBus !== undefined ? b.add(rowOf(u.sourceBus, t), q, -(1 - 1 / u.copMax)) : -1;
          cu.cols.push([q]);
          cu.primaryRow.push(zr);
          cu.techRow.push(-1);
          const sinkIdx = u.sinkTempC !== undefined ? mustInput(u.id, 'sinkTempC') : mustInput(u.zone, 'supplyTempC');
          const srcIdx = u.sourceBus !== undefined ? mustInput(u.sourceBus, 'temperatureC') : mustInput(u.id, 'sourceTempC');
          addDispatchable(t, q, availIdx, u.heatMinMw, u.heatMaxMw, u.mustRun, u.rampMwPerMin && u.rampMwPerMin * 60, u.varCostEurPerMWh);
          heatPumps[t]!.add(q, sinkIdx, srcIdx, u.carnotEfficiency, u.sinkApproachK, u.sourceApproachK, u.copMin, u.copMax, ui * T + t, hEl, hSrc);
          break;
        }
        case 'waste_heat_source': {
          const br = rowOf(u.bus, t);
          const sup = addCol(`${u.id}.supply${s}`, ColKind.Unit, ui);
          b.add(br, sup, 1);
          const cols = [sup];
          let dir = -1;
          let zoneTempIdx = -1;
          if (u.directZone !== undefined) {
            dir = addCol(`${u.id}.direct${s}`, ColKind.Unit, ui);
            b.add(br, dir, -1);
            b.add(rowOf(u.directZone, t), dir, 1);
            cols.push(dir);
            zoneTempIdx = mustInput(u.directZone, 'supplyTempC');
          }
          cu.cols.push(cols);
          cu.primaryRow.push(br);
          cu.techRow.push(-1);
          const availMwIdx = mustInput(u.id, 'availableMw');
          const busTempIdx = mustInput(u.bus, 'temperatureC');
          wasteHeat[t]!.add(sup, dir, availIdx, availMwIdx, busTempIdx, zoneTempIdx, u.varCostEurPerMWh, u.mustRun, u.directApproachK, u.directMaxMw);
          break;
        }
        case 'wte_chp': {
          const zr = rowOf(u.zone, t);
          const w = addCol(`${u.id}.waste${s}`, ColKind.Unit, ui);
          b.add(zr, w, u.lhvMWhPerT * u.etaTh);
          b.add(rowOf(busOf(city, u.elBus, 'electricity'), t), w, u.lhvMWhPerT * u.etaEl);
          b.add(rowOf(busOf(city, u.wasteBus, 'waste'), t), w, -1);
          colCo2[w] = u.co2TPerT;
          cu.cols.push([w]);
          cu.primaryRow.push(zr);
          cu.techRow.push(-1);
          addDispatchable(t, w, availIdx, u.wasteMinTph, u.wasteMaxTph, u.mustRun, u.rampTphPerMin && u.rampTphPerMin * 60, u.varCostEurPerT, u.co2TPerT);
          break;
        }
        case 'gas_chp': {
          const zr = rowOf(u.zone, t);
          const er = rowOf(busOf(city, u.elBus, 'electricity'), t);
          const gr = rowOf(busOf(city, u.gasBus, 'gas'), t);
          const f = addCol(`${u.id}.fuel${s}`, ColKind.Unit, ui);
          b.add(gr, f, -1);
          b.add(er, f, u.etaEl);
          const fMax = u.elMaxMw / u.etaEl;
          const fMin = u.elMinMw / u.etaEl;
          const rampF = u.rampMwPerMin && (u.rampMwPerMin * 60) / u.etaEl;
          if (u.mode === 'back_pressure') {
            b.add(zr, f, u.etaTh!);
            cu.cols.push([f]);
            cu.techRow.push(-1);
            addDispatchable(t, f, availIdx, fMin, fMax, u.mustRun, rampF, u.varCostEurPerMWhEl * u.etaEl);
          } else {
            // Extraction: P = etaEl F - beta Q (iso-fuel lines), P >= sigma Q (back-pressure line).
            const beta = u.beta!;
            const sigma = u.powerToHeat!;
            const q = addCol(`${u.id}.heat${s}`, ColKind.Unit, ui);
            b.add(zr, q, 1);
            b.add(er, q, -beta);
            const tr = b.addRow(`chp.${u.id}${s}`);
            rowBusList[tr] = -1;
            b.add(tr, f, u.etaEl);
            b.add(tr, q, -(beta + sigma));
            const qMax = u.heatMaxMw ?? (u.etaEl * fMax) / (beta + sigma);
            cu.cols.push([f, q]);
            cu.techRow.push(tr);
            addDispatchable(t, f, availIdx, fMin, fMax, u.mustRun, rampF, u.varCostEurPerMWhEl * u.etaEl);
            extractionChps[t]!.add(q, f, availIdx, qMax, tr, u.etaEl);
          }
          cu.primaryRow.push(zr);
          break;
        }
        case 'pv':
        case 'wind': {
          const er = rowOf(busOf(city, u.bus, 'electricity'), t);
          const c = addCol(`${u.id}.curtail${s}`, ColKind.Unit, ui);
          b.add(er, c, -1);
          cu.cols.push([c]);
          cu.primaryRow.push(er);
          cu.techRow.push(-1);
          const availMwIdx = mustInput(u.id, 'availableMw');
          renewables[t]!.add(c, availIdx, availMwIdx, u.capacityMw, u.curtailPenaltyEurPerMWh ?? city.penalties.curtailRenewableEurPerMWh, ui * T + t);
          break;
        }
        case 'grid': {
          const er = rowOf(busOf(city, u.bus, 'electricity'), t);
          const imp = addCol(`${u.id}.import${s}`, ColKind.Unit, ui);
          b.add(er, imp, 1);
          const exp = addCol(`${u.id}.export${s}`, ColKind.Unit, ui);
          b.add(er, exp, -1);
          cu.cols.push([imp, exp]);
          cu.primaryRow.push(er);
          cu.techRow.push(-1);
          const pIdx = mustInput(u.id, 'importPriceEurPerMWh');
          const xIdx = inputIdx(u.id, 'exportPriceEurPerMWh');
          const cIdx = mustInput(u.id, 'co2TPerMWh');
          onPeriod(t, (v, st) => {
            const intensity = Math.max(0, v[cIdx]!);
            co2[imp] = intensity;
            setCost(imp, v[pIdx]! + u.importFeeEurPerMWh + intensity * st.co2PriceEurPerT);
            setCost(exp, -((xIdx >= 0 ? v[xIdx]! : v[pIdx]!) - u.exportFeeEurPerMWh));
            const a = Math.max(0, Math.min(1, v[availIdx]!));
            const why = a < 1 ? (a > 0 ? Limit.Availability : Limit.OutOfService) : Limit.Capacity;
            setBounds(imp, 0, u.importMaxMw * a, Limit.None, why);
            setBounds(exp, 0, u.exportMaxMw * a, Limit.None, why);
          });
          break;
        }
      }
    }
    units.push(cu);
  });

  // ---- storages
  const storages: CompiledStorage[] = [];
  city.storages.forEach((s, si) => {
    const cs: CompiledStorage = {
      storage: s,
      zoneRow: [],
      charge: [],
      discharge: [],
      socRow: [],
      energy: [],
      terminalRow: -1,
      shortfall: -1,
      index: si,
    };
    for (let t = 0; t < T; t++) {
      const zr = rowOf(s.zone, t);
      const c = addCol(`${s.id}.charge${sfx(t)}`, ColKind.Storage, si);
      const d = addCol(`${s.id}.discharge${sfx(t)}`, ColKind.Storage, si);
      b.add(zr, c, -1);
      b.add(zr, d, 1);
      const r = b.addRow(`soc.${s.id}${sfx(t)}`);
      rowBusList[r] = -1;
      b.add(r, c, -s.etaCharge);
      b.add(r, d, 1 / s.etaDischarge);
      if (mode === 'plan') {
        const e = addCol(`${s.id}.content${sfx(t)}`, ColKind.Storage, si);
        b.add(r, e, 1);
        if (t > 0) b.add(r, cs.energy[t - 1]!, -(1 - s.lossPerH));
        cs.energy.push(e);
      }
      cs.zoneRow.push(zr);
      cs.charge.push(c);
      cs.discharge.push(d);
      cs.socRow.push(r);
    }
    if (mode === 'plan') {
      const tr = b.addRow(`terminal.${s.id}`);
      rowBusList[tr] = -1;
      const sh = addCol(`${s.id}.shortfall`, ColKind.Slack, si);
      b.add(tr, cs.energy[T - 1]!, 1);
      b.add(tr, sh, 1);
      cs.terminalRow = tr;
      cs.shortfall = sh;
    }
    const socIdx = mustInput(s.id, 'soc');
    const availIdx = mustInput(s.id, 'availability');
    for (let t = 0; t < T; t++) {
      const cols = { charge: cs.charge[t]!, discharge: cs.discharge[t]!, socRow: cs.socRow[t]!, energy: cs.energy[t] ?? -1, terminalRow: cs.terminalRow, shortfall: cs.shortfall };
      storageTables[t]!.add(si, cols, availIdx, socIdx, registry.defs[socIdx]!.socIsEnergy === true, s);
    }
    storages.push(cs);
  });

  // ---- links
  const links: CompiledLink[] = [];
  city.links.forEach((l, li) => {
    const cl: CompiledLink = { link: l, fwd: [], rev: [] };
    for (let t = 0; t < T; t++) {
      const fr = rowOf(l.from, t);
      const tr = rowOf(l.to, t);
      const f = addCol(`${l.id}.fwd${sfx(t)}`, ColKind.Link, li);
      b.add(fr, f, -1);
      b.add(tr, f, 1 - l.lossFraction);
      const r = addCol(`${l.id}.rev${sfx(t)}`, ColKind.Link, li);
      b.add(tr, r, -1);
      b.add(fr, r, 1 - l.lossFraction);
      cl.fwd.push(f);
      cl.rev.push(r);
    }
    const availIdx = mustInput(l.id, 'availability');
    for (let t = 0; t < T; t++) {
      linkTables[t]!.add(cl.fwd[t]!, cl.rev[t]!, availIdx, l.varCostEurPerMWh, l.capacityMw, l.reverseCapacityMw ?? l.capacityMw);
    }
    links.push(cl);
  });

  // ---- bus numbers (after units so renewable potentials are known)
  const gasCapacity = new Map<string, number>();
  for (const u of city.units) {
    if (u.kind === 'gas_boiler') {
      const g = busOf(city, u.gasBus, 'gas');
      gasCapacity.set(g, (gasCapacity.get(g) ?? 0) + u.heatMaxMw / u.efficiency);
    } else if (u.kind === 'gas_chp') {
      const g = busOf(city, u.gasBus, 'gas');
      gasCapacity.set(g, (gasCapacity.get(g) ?? 0) + u.elMaxMw / u.etaEl);
    }
  }
  const renewablesOn = new Map<string, CompiledUnit[]>();
  for (const cu of units) {
    if (cu.unit.kind === 'pv' || cu.unit.kind === 'wind') {
      const eb = busOf(city, cu.unit.bus, 'electricity');
      const list = renewablesOn.get(eb) ?? [];
      list.push(cu);
      renewablesOn.set(eb, list);
    }
  }
  const P = city.penalties;
  city.buses.forEach((bus, bi) => {
    const cb = buses[bi]!;
    const pen = (unmetDefault: number, dumpDefault: number) => ({
      unmet: ('unmetPenaltyEurPerMWh' in bus && bus.unmetPenaltyEurPerMWh) || unmetDefault,
      dump: 'dumpPenaltyEurPerMWh' in bus && bus.dumpPenaltyEurPerMWh !== undefined ? bus.dumpPenaltyEurPerMWh : dumpDefault,
    });
    let p: { unmet: number; dump: number };
    let demandIdx = -1;
    let priceIdx = -1;
    let wasteIdx = -1;
    switch (bus.kind) {
      case 'heat':
        p = pen(P.unmetHeatEurPerMWh, P.dumpHeatEurPerMWh);
        demandIdx = mustInput(bus.id, 'demandMw');
        break;
      case 'electricity':
        p = pen(P.unmetElectricityEurPerMWh, P.dumpElectricityEurPerMWh);
        demandIdx = mustInput(bus.id, 'demandMw');
        break;
      case 'gas':
        p = pen(P.unmetGasEurPerMWh, P.dumpHeatEurPerMWh);
        priceIdx = mustInput(bus.id, 'priceEurPerMWh');
        break;
      case 'waste':
        p = { unmet: bus.unmetPenaltyEurPerMWh ?? P.unmetWasteEurPerT, dump: bus.divertCostEurPerT };
        wasteIdx = mustInput(bus.id, 'availableTph');
        break;
      case 'waste_heat':
        p = pen(P.unmetWasteHeatEurPerMWh, P.dumpHeatEurPerMWh);
        break;
    }
    const gasCap = bus.kind === 'gas' ? (bus.capacityMw ?? gasCapacity.get(bus.id) ?? 0) : 0;
    const ren = (renewablesOn.get(bus.id) ?? []).map((cu) => cu.index);
    for (let t = 0; t < T; t++) {
      busTables[t]!.add(cb.row[t]!, demandIdx, bi * T + t, ren.map((ui) => ui * T + t), cb.unmet[t]!, cb.dump[t]!, p.unmet, p.dump);
    }
    if (bus.kind === 'gas') {
      const co2PerMWh = bus.co2TPerMWh;
      everyPeriod((t, v, st) => {
        const s = cb.supply[t]!;
        co2[s] = co2PerMWh;
        setCost(s, v[priceIdx]! + co2PerMWh * st.co2PriceEurPerT);
        setBounds(s, 0, gasCap, Limit.None, Limit.Capacity);
      });
    } else if (bus.kind === 'waste') {
      const { gateFeeEurPerT, mustDispose } = bus;
      everyPeriod((t, v) => {
        const s = cb.supply[t]!;
        const avail = Math.max(0, v[wasteIdx]!);
        setCost(s, -gateFeeEurPerT);
        setBounds(s, mustDispose ? avail : 0, avail, mustDispose ? Limit.MustDispose : Limit.None, Limit.SourceAvailable);
      });
    }
  });

  built = b.finish();
  const L = built.lp;
  const loLimit = new Uint8Array(L.numCols);
  const hiLimit = new Uint8Array(L.numCols);
  const rowBus = new Int32Array(L.numRows);
  for (let i = 0; i < L.numRows; i++) rowBus[i] = rowBusList[i] ?? -1;
  const colCo2Arr = Float64Array.from(colCo2);
  colCost = L.colCost;
  colLower = L.colLower;
  colUpper = L.colUpper;
  coefficients = L.values;
  co2 = colCo2Arr;
  const out: FillTarget = { colCost, colLower, colUpper, loLimit, hiLimit, rowLower: L.rowLower, rowUpper: L.rowUpper };
  // Per bus row, its entries in non-slack columns (by row, so each row sums in a register).
  const slackUnmet: number[] = [];
  const slackDump: number[] = [];
  const entryStart: number[] = [0];
  const entryCol: number[] = [];
  const entryPos: number[] = [];
  const slackRowOf: number[] = [];
  {
    const byRow = new Map<number, { col: number; pos: number }[]>();
    for (let j = 0; j < L.numCols; j++) {
      if (colKind[j] === ColKind.Slack) continue;
      for (let k = L.colStart[j]!; k < L.colStart[j + 1]!; k++) {
        const i = L.rowIndex[k]!;
        const list = byRow.get(i) ?? [];
        list.push({ col: j, pos: k });
        byRow.set(i, list);
      }
    }
    for (const cb of buses) {
      for (let t = 0; t < T; t++) {
        slackRowOf.push(cb.row[t]!);
        slackUnmet.push(cb.unmet[t]!);
        slackDump.push(cb.dump[t]!);
        for (const e of byRow.get(cb.row[t]!) ?? []) {
          entryCol.push(e.col);
          entryPos.push(e.pos);
        }
        entryStart.push(entryCol.length);
      }
    }
  }
  const slackRows = Int32Array.from(slackRowOf);
  const slackStart = Int32Array.from(entryStart);
  const slackEntryCol = Int32Array.from(entryCol);
  // A copy of the coefficients in row order, kept by setCoefficient (the only writer of bus-row
  // coefficients after compilation): the slack bounds then read one array in order, not values
  // scattered over the matrix, which costs cache misses on a cold tick.
  slackEntryVal = Float64Array.from(entryPos, (p) => L.values[p]!);
  slackEntryAt = new Int32Array(L.values.length).fill(-1);
  entryPos.forEach((p, e) => (slackEntryAt[p] = e));
  const unmetCols = Int32Array.from(slackUnmet);
  const dumpCols = Int32Array.from(slackDump);
  /** Slack bounds: whatever the box of the other columns cannot balance. */
  const naturalSlackBounds = () => {
    // Everything in locals: the scope's late-bound arrays (let) would be reloaded per access.
    const rowLower = L.rowLower;
    const values = slackEntryVal;
    const lower = colLower;
    const upper = colUpper;
    const lo = loLimit;
    const hi = hiLimit;
    for (let k = 0; k < slackRows.length; k++) {
      let lmin = 0;
      let lmax = 0;
      const e = slackStart[k + 1]!;
      for (let p = slackStart[k]!; p < e; p++) {
        const j = slackEntryCol[p]!;
        const a = values[p]!;
        if (a > 0) {
          lmin += a * lower[j]!;
          lmax += a * upper[j]!;
        } else {
          lmin += a * upper[j]!;
          lmax += a * lower[j]!;
        }
      }
      const rhs = rowLower[slackRows[k]!]!;
      const u = unmetCols[k]!;
      const d = dumpCols[k]!;
      lower[u] = 0;
      upper[u] = Math.max(0, rhs - lmin);
      lower[d] = 0;
      upper[d] = Math.max(0, lmax - rhs);
      lo[u] = Limit.None;
      hi[u] = Limit.Slack;
      lo[d] = Limit.None;
      hi[d] = Limit.Slack;
    }
  };


  const storageFill: StorageFillState = {
    mode,
    t: 0,
    periods: T,
    dtH: 1,
    storageValue: new Float64Array(city.storages.length),
    storageState,
    terminalShortfallEurPerMWh: city.planning.terminalShortfallEurPerMWh,
  };

  const model: CompiledModel = {
    city,
    mode,
    periods: T,
    lp: L,
    units,
    buses,
    busById,
    storages,
    links,
    colKind: Uint8Array.from(colKind),
    colOwner: Int32Array.from(colOwner),
    loLimit,
    hiLimit,
    rowBus,
    colCo2: colCo2Arr,
    unitCop,
    unitPotential,
    busDemand,
    storageState,
    changedCols,
    changedCount: 0,
    fill(values, state) {
      fillEpoch++;
      changedCount = 0;
      storageFill.dtH = state.dtH;
      storageFill.storageValue = state.storageValue;
      for (let t = 0; t < T; t++) {
        const v = values[t] ?? values[values.length - 1]!;
        dispatchable[t]!.fill(v, state, mode === 'tick', out);
        renewables[t]!.fill(v, out, unitPotential);
        linkTables[t]!.fill(v, out);
        heatPumps[t]!.fill(v, unitCop, built.position, setCoefficient);
        wasteHeat[t]!.fill(v, out);
        // After the dispatchable table: the back-pressure row takes this tick's fuel bound.
        extractionChps[t]!.fill(v, out);
        storageFill.t = t;
        storageTables[t]!.fill(v, storageFill, out);
        const fs = fillers[t]!;
        for (let k = 0; k < fs.length; k++) fs[k]!(v, state);
        busTables[t]!.fill(v, out, busDemand, unitPotential);
      }
      naturalSlackBounds();
      model.changedCols = changedCols;
      model.changedCount = changedCount;
    },
  };
  return model;
}

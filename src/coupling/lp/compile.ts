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
import { LpBuilder, type LpProblem } from './problem.ts';

export type CompileMode = 'tick' | 'plan';

/** Why a column's bound is where it is (for explanations). */
export const Limit = {
  None: 0,
  Capacity: 1,
  Availability: 2,
  Ramp: 3,
  MinOutput: 4,
  MustRun: 5,
  OutOfService: 6,
  StorageContent: 7,
  SourceAvailable: 8,
  TooCold: 9,
  Slack: 10,
  MustDispose: 11,
} as const;
export type Limit = (typeof Limit)[keyof typeof Limit];
export const limitNames = [
  'none',
  'capacity',
  'availability',
  'ramp',
  'min_output',
  'must_run',
  'out_of_service',
  'storage_content',
  'source_available',
  'too_cold_for_direct_use',
  'slack',
  'must_dispose',
] as const;
export type LimitName = (typeof limitNames)[number];

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

export interface FillState {
  /** Tick length in hours (tick mode); the plan uses 1 h periods. */
  dtH: number;
  co2PriceEurPerT: number;
  /** Previous setpoint per column (tick mode) for ramps; NaN when unknown. */
  prev: Float64Array | undefined;
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

const KELVIN = 273.15;

/** COP of a heat pump as a fraction of the Carnot COP, clamped to the unit's range. */
export function heatPumpCop(carnotEfficiency: number, sinkC: number, sourceC: number, copMin: number, copMax: number): number {
  const lift = sinkC - sourceC;
  if (!(lift > 0)) return copMax;
  const cop = (carnotEfficiency * (sinkC + KELVIN)) / lift;
  return Math.min(copMax, Math.max(copMin, cop));
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
  // Fillers per period, run in component order by fill().
  const fillers: ((v: Float64Array, st: FillState) => void)[][] = Array.from({ length: T }, () => []);
  const onPeriod = (t: number, f: (v: Float64Array, st: FillState) => void) => fillers[t]!.push(f);
  const everyPeriod = (f: (t: number, v: Float64Array, st: FillState) => void) => {
    for (let t = 0; t < T; t++) fillers[t]!.push((v, st) => f(t, v, st));
  };
  // Assigned once the builder has packed the matrix; fillers only run after that.
  let built: { lp: LpProblem; position: Int32Array };
  let LP: LpProblem;

  // The LP's arrays, bound once the builder has packed the matrix (fillers run only after that).
  let colCost: Float64Array;
  let colLower: Float64Array;
  let colUpper: Float64Array;
  let coefficients: Float64Array;
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
  const setDyn = (handle: number, col: number, value: number) => {
    const p = built.position[handle]!;
    if (coefficients[p] !== value) {
      coefficients[p] = value;
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

  /**
   * Bounds of a dispatchable column: [min, max] scaled by availability, must-run, and (tick mode)
   * ramp limits around the previous setpoint. A unit below its minimum may start at the minimum.
   */
  const dispatchBounds = (j: number, min: number, max: number, avail: number, mustRun: boolean, rampPerH: number | undefined, st: FillState) => {
    if (!(avail > 0)) {
      setBounds(j, 0, 0, Limit.OutOfService, Limit.OutOfService);
      return;
    }
    const a = Math.min(1, avail);
    let hi = max * a;
    let hiWhy: Limit = a < 1 ? Limit.Availability : Limit.Capacity;
    let lo = Math.min(min, hi);
    let loWhy: Limit = min > 0 ? Limit.MinOutput : Limit.None;
    if (mustRun) {
      lo = hi;
      loWhy = Limit.MustRun;
    }
    if (mode === 'tick' && rampPerH !== undefined && st.prev) {
      const prev = st.prev[j]!;
      if (Number.isFinite(prev)) {
        const r = rampPerH * st.dtH;
        const up = Math.max(prev + r, lo);
        if (up < hi) {
          hi = up;
          hiWhy = Limit.Ramp;
        }
        const down = prev - r;
        if (down > lo) {
          lo = Math.min(down, hi);
          loWhy = Limit.Ramp;
        }
      }
    }
    setBounds(j, lo, hi, loWhy, hiWhy);
  };

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
          onPeriod(t, (v, st) => {
            setCost(q, u.varCostEurPerMWh);
            dispatchBounds(q, u.heatMinMw, u.heatMaxMw, v[availIdx]!, u.mustRun, u.rampMwPerMin && u.rampMwPerMin * 60, st);
          });
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
          onPeriod(t, (v, st) => {
            setCost(q, u.varCostEurPerMWh);
            dispatchBounds(q, u.heatMinMw, u.heatMaxMw, v[availIdx]!, u.mustRun, u.rampMwPerMin && u.rampMwPerMin * 60, st);
          });
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
          onPeriod(t, (v, st) => {
            const cop = heatPumpCop(u.carnotEfficiency, v[sinkIdx]! + u.sinkApproachK, v[srcIdx]! - u.sourceApproachK, u.copMin, u.copMax);
            unitCop[ui * T + t] = cop;
            setDyn(hEl, q, -1 / cop);
            if (hSrc >= 0) setDyn(hSrc, q, -(1 - 1 / cop));
            setCost(q, u.varCostEurPerMWh);
            dispatchBounds(q, u.heatMinMw, u.heatMaxMw, v[availIdx]!, u.mustRun, u.rampMwPerMin && u.rampMwPerMin * 60, st);
          });
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
          onPeriod(t, (v) => {
            const a = Math.max(0, Math.min(1, v[availIdx]!));
            const avail = Math.max(0, v[availMwIdx]!) * a;
            setCost(sup, u.varCostEurPerMWh);
            const mr = u.mustRun ? avail : 0;
            setBounds(sup, mr, avail, u.mustRun ? Limit.MustRun : Limit.None, a > 0 ? Limit.SourceAvailable : Limit.OutOfService);
            if (dir >= 0) {
              const hot = v[busTempIdx]! >= v[zoneTempIdx]! + u.directApproachK;
              const cap = Math.min(u.directMaxMw ?? Infinity, avail);
              setCost(dir, 0);
              if (hot) setBounds(dir, 0, cap, Limit.None, u.directMaxMw !== undefined && u.directMaxMw < avail ? Limit.Capacity : Limit.SourceAvailable);
              else setBounds(dir, 0, 0, Limit.TooCold, Limit.TooCold);
            }
          });
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
          onPeriod(t, (v, st) => {
            setCost(w, u.varCostEurPerT + u.co2TPerT * st.co2PriceEurPerT);
            dispatchBounds(w, u.wasteMinTph, u.wasteMaxTph, v[availIdx]!, u.mustRun, u.rampTphPerMin && u.rampTphPerMin * 60, st);
          });
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
            onPeriod(t, (v, st) => {
              setCost(f, u.varCostEurPerMWhEl * u.etaEl);
              dispatchBounds(f, fMin, fMax, v[availIdx]!, u.mustRun, rampF, st);
            });
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
            onPeriod(t, (v, st) => {
              setCost(f, u.varCostEurPerMWhEl * u.etaEl);
              setCost(q, 0);
              dispatchBounds(f, fMin, fMax, v[availIdx]!, u.mustRun, rampF, st);
              const a = Math.max(0, Math.min(1, v[availIdx]!));
              setBounds(q, 0, qMax * a, Limit.None, a < 1 ? (a > 0 ? Limit.Availability : Limit.OutOfService) : Limit.Capacity);
              const L = LP;
              L.rowLower[tr] = 0;
              L.rowUpper[tr] = u.etaEl * L.colUpper[f]!;
            });
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
          const pen = u.curtailPenaltyEurPerMWh ?? city.penalties.curtailRenewableEurPerMWh;
          onPeriod(t, (v) => {
            const a = Math.max(0, Math.min(1, v[availIdx]!));
            const pot = Math.min(u.capacityMw, Math.max(0, v[availMwIdx]!)) * a;
            unitPotential[ui * T + t] = pot;
            setCost(c, pen);
            setBounds(c, 0, pot, Limit.None, Limit.SourceAvailable);
          });
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
    const socDef = registry.defs[socIdx]!;
    const availIdx = mustInput(s.id, 'availability');
    everyPeriod((t, v, st) => {
      const L = LP;
      const a = Math.max(0, Math.min(1, v[availIdx]!));
      const c = cs.charge[t]!;
      const d = cs.discharge[t]!;
      const why = a < 1 ? (a > 0 ? Limit.Availability : Limit.OutOfService) : Limit.Capacity;
      setBounds(c, 0, s.chargeMaxMw * a, Limit.None, why);
      setBounds(d, 0, s.dischargeMaxMw * a, Limit.None, why);
      if (t === 0) {
        const raw = v[socIdx]!;
        const soc = socDef.socIsEnergy ? raw : raw * s.capacityMWh;
        storageState[si * 3] = Math.max(0, Math.min(s.capacityMWh, Number.isFinite(soc) ? soc : 0));
      }
      const r = cs.socRow[t]!;
      if (mode === 'tick') {
        const dt = st.dtH;
        const keep = Math.max(0, 1 - s.lossPerH * dt);
        const after = storageState[si * 3]! * keep;
        storageState[si * 3 + 1] = after;
        storageState[si * 3 + 2] = dt;
        // -(etaC c - d/etaD) ∈ [-(cap - e0')/dt, e0'/dt]: content stays within [0, cap].
        L.rowLower[r] = -(s.capacityMWh - after) / dt;
        L.rowUpper[r] = after / dt;
        const value = st.storageValue[si]!;
        setCost(c, -value * s.etaCharge + s.cycleCostEurPerMWh);
        setCost(d, value / s.etaDischarge + s.cycleCostEurPerMWh);
      } else {
        const e = cs.energy[t]!;
        setBounds(e, 0, s.capacityMWh, Limit.None, Limit.StorageContent);
        setCost(c, s.cycleCostEurPerMWh);
        setCost(d, s.cycleCostEurPerMWh);
        setCost(e, 0);
        const soc0 = storageState[si * 3]!;
        const rhs = t === 0 ? (1 - s.lossPerH) * soc0 : 0;
        L.rowLower[r] = rhs;
        L.rowUpper[r] = rhs;
        if (t === T - 1) {
          storageState[si * 3 + 1] = (1 - s.lossPerH) * soc0;
          storageState[si * 3 + 2] = 1;
          L.rowLower[cs.terminalRow] = soc0;
          L.rowUpper[cs.terminalRow] = soc0 + 2 * s.capacityMWh;
          setBounds(cs.shortfall, 0, soc0, Limit.None, Limit.Slack);
          setCost(cs.shortfall, city.planning.terminalShortfallEurPerMWh);
        }
      }
    });
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
    everyPeriod((t, v) => {
      const a = Math.max(0, Math.min(1, v[availIdx]!));
      const why = a < 1 ? (a > 0 ? Limit.Availability : Limit.OutOfService) : Limit.Capacity;
      setCost(cl.fwd[t]!, l.varCostEurPerMWh);
      setCost(cl.rev[t]!, l.varCostEurPerMWh);
      setBounds(cl.fwd[t]!, 0, l.capacityMw * a, Limit.None, why);
      setBounds(cl.rev[t]!, 0, (l.reverseCapacityMw ?? l.capacityMw) * a, Limit.None, why);
    });
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
    const ren = renewablesOn.get(bus.id) ?? [];
    everyPeriod((t, v, st) => {
      const L = LP;
      const r = cb.row[t]!;
      let rhs = 0;
      if (demandIdx >= 0) {
        const dem = Math.max(0, v[demandIdx]!);
        busDemand[bi * T + t] = dem;
        rhs = dem;
      }
      for (let k = 0; k < ren.length; k++) rhs -= unitPotential[ren[k]!.index * T + t]!;
      L.rowLower[r] = rhs;
      L.rowUpper[r] = rhs;
      setCost(cb.unmet[t]!, p.unmet);
      setCost(cb.dump[t]!, p.dump);
      const s = cb.supply[t]!;
      if (bus.kind === 'gas') {
        co2[s] = bus.co2TPerMWh;
        setCost(s, v[priceIdx]! + bus.co2TPerMWh * st.co2PriceEurPerT);
        setBounds(s, 0, gasCap, Limit.None, Limit.Capacity);
      } else if (bus.kind === 'waste') {
        const avail = Math.max(0, v[wasteIdx]!);
        setCost(s, -bus.gateFeeEurPerT);
        setBounds(s, bus.mustDispose ? avail : 0, avail, bus.mustDispose ? Limit.MustDispose : Limit.None, Limit.SourceAvailable);
      }
    });
  });

  built = b.finish();
  LP = built.lp;
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
  const isSlack = Uint8Array.from(colKind, (k) => (k === ColKind.Slack ? 1 : 0));
  const slackRow: number[] = [];
  const slackUnmet: number[] = [];
  const slackDump: number[] = [];
  for (const cb of buses) {
    for (let t = 0; t < T; t++) {
      slackRow.push(cb.row[t]!);
      slackUnmet.push(cb.unmet[t]!);
      slackDump.push(cb.dump[t]!);
    }
  }
  const lmin = new Float64Array(L.numRows);
  const lmax = new Float64Array(L.numRows);
  /** Slack bounds: whatever the box of the other columns cannot balance. */
  const naturalSlackBounds = () => {
    const { numCols, colStart, rowIndex, values, rowLower } = L;
    lmin.fill(0);
    lmax.fill(0);
    for (let j = 0; j < numCols; j++) {
      if (isSlack[j]) continue;
      const lo = colLower[j]!;
      const hi = colUpper[j]!;
      const e = colStart[j + 1]!;
      for (let k = colStart[j]!; k < e; k++) {
        const a = values[k]!;
        const i = rowIndex[k]!;
        if (a > 0) {
          lmin[i]! += a * lo;
          lmax[i]! += a * hi;
        } else {
          lmin[i]! += a * hi;
          lmax[i]! += a * lo;
        }
      }
    }
    for (let k = 0; k < slackRow.length; k++) {
      const row = slackRow[k]!;
      const rhs = rowLower[row]!;
      setBounds(slackUnmet[k]!, 0, Math.max(0, rhs - lmin[row]!), Limit.None, Limit.Slack);
      setBounds(slackDump[k]!, 0, Math.max(0, lmax[row]! - rhs), Limit.None, Limit.Slack);
    }
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
      for (let t = 0; t < T; t++) {
        const v = values[t] ?? values[values.length - 1]!;
        const fs = fillers[t]!;
        for (let k = 0; k < fs.length; k++) fs[k]!(v, state);
      }
      naturalSlackBounds();
      model.changedCols = changedCols;
      model.changedCount = changedCount;
    },
  };
  return model;
}

/**
 * Results per period: what the hourly CSV holds (flows, storage, prices, cost, CO2) and the
 * hidden sums the KPIs need (cost by kind, CO2 by sector, heat by origin, unit output). Every
 * number is read off the LP solution: a component's flow into a bus is its LP coefficient times
 * its column value, prices are row duals per MWh.
 */
import { ColKind } from '../coupling/lp/compile.ts';
import type { City } from '../coupling/model/schema.ts';
import type { PeriodModel } from './model.ts';

/** Hidden (KPI-only) fields. */
export const K = {
  fuel: 'k.cost_fuel',
  electricity: 'k.cost_electricity',
  co2cost: 'k.cost_co2',
  variable: 'k.cost_variable',
  storage: 'k.cost_storage',
  penalty: 'k.cost_penalty',
  co2Gas: 'k.co2_gas',
  co2El: 'k.co2_electricity',
  co2Waste: 'k.co2_waste',
  heatSupplied: 'k.heat_supplied',
  heatWaste: 'k.heat_waste',
  heatFossil: 'k.heat_fossil',
  curtailed: 'k.renewable_curtailed',
} as const;

export const outputField = (unit: string) => `k.out.${unit}`;
export const heatField = (unit: string) => `k.heat.${unit}`;

export class HourlyTable {
  readonly fields: string[] = [];
  /** Fields written to CSV/Parquet (in order); the rest are hidden KPI sums. */
  readonly visible: string[] = [];
  readonly data = new Map<string, Float64Array>();

  constructor(readonly periods: number) {}

  add(name: string, visible: boolean): Float64Array {
    let a = this.data.get(name);
    if (a) return a;
    a = new Float64Array(this.periods);
    this.fields.push(name);
    if (visible) this.visible.push(name);
    this.data.set(name, a);
    return a;
  }

  get(name: string): Float64Array {
    const a = this.data.get(name);
    if (!a) throw new Error(`internal: no field ${name}`);
    return a;
  }

  /** Sum of a field over [from, to). */
  sum(name: string, from = 0, to = this.periods): number {
    const a = this.get(name);
    let s = 0;
    for (let g = from; g < to; g++) s += a[g]!;
    return s;
  }
}

// Column roles: what its cost is (C_*) and which sector its CO2 belongs to (S_*).
const C_NONE = 0;
const C_FUEL = 1;
const C_ELECTRICITY = 2;
const C_VARIABLE = 3;
const C_STORAGE = 4;
const C_PENALTY = 5;
const S_NONE = 0;
const S_GAS = 1;
const S_EL = 2;
const S_WASTE = 3;

/**
 * Knows, for one PeriodModel, which field each column and coefficient feeds; builds the table's
 * fields on construction. Works for any PeriodModel of the same city (same component order).
 */
export class Extractor {
  private readonly busFields: { demand?: Float64Array; unmet: Float64Array; dump: Float64Array; supply?: Float64Array; price: Float64Array }[];
  private readonly flowField = new Map<string, Float64Array>();
  private readonly storageFields: { charge: Float64Array; discharge: Float64Array; content: Float64Array }[];
  private readonly cost: Float64Array;
  private readonly co2: Float64Array;
  private readonly k: Record<keyof typeof K, Float64Array>;
  private readonly unitOut: (Float64Array | undefined)[];
  private readonly unitHeat: Float64Array[];
  private readonly busKinds: string[];
  /** Flow field per bus index, per unit and per link. */
  private readonly unitFlows: (Float64Array | undefined)[][];
  private readonly linkFlows: (Float64Array | undefined)[][];

  constructor(
    readonly city: City,
    readonly table: HourlyTable,
    sample: PeriodModel,
  ) {
    const m = sample.model;
    this.busKinds = m.buses.map((b) => b.kind);
    this.busFields = city.buses.map((b) => ({
      ...(b.kind === 'heat' || b.kind === 'electricity' ? { demand: table.add(`${b.id}.demand_mw`, true) } : {}),
      unmet: table.add(`${b.id}.unmet_mw`, true),
      dump: table.add(`${b.id}.dump_mw`, true),
      ...(b.kind === 'gas' || b.kind === 'waste' ? { supply: table.add(`${b.id}.supply_mw`, true) } : {}),
      price: table.add(`${b.id}.price_eur_per_mwh`, true),
    }));
    // Flow fields from the buses each unit and link touches in period 0.
    const lp = m.lp;
    const touch = (owner: string, cols: readonly number[]) => {
      const seen = new Set<number>();
      for (const j of cols) for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) {
        const bi = m.rowBus[lp.rowIndex[p]!]!;
        if (bi >= 0) seen.add(bi);
      }
      for (const bi of [...seen].sort((a, b) => a - b)) this.flowField.set(`${owner}\u0000${bi}`, table.add(`${owner}.${m.buses[bi]!.id}_mw`, true));
    };
    for (const cu of m.units) {
      const cols = [...cu.cols[0]!];
      touch(cu.unit.id, cols);
      if (cu.unit.kind === 'pv' || cu.unit.kind === 'wind') {
        const bi = m.rowBus[cu.primaryRow[0]!]!;
        if (!this.flowField.has(`${cu.unit.id}\u0000${bi}`)) this.flowField.set(`${cu.unit.id}\u0000${bi}`, table.add(`${cu.unit.id}.${m.buses[bi]!.id}_mw`, true));
      }
    }
    this.storageFields = city.storages.map((s) => ({
      charge: table.add(`${s.id}.charge_mw`, true),
      discharge: table.add(`${s.id}.discharge_mw`, true),
      content: table.add(`${s.id}.content_mwh`, true),
    }));
    for (const cl of m.links) touch(cl.link.id, [cl.fwd[0]!, cl.rev[0]!]);
    this.cost = table.add('cost_eur', true);
    this.co2 = table.add('co2_t', true);
    this.k = Object.fromEntries(Object.entries(K).map(([key, name]) => [key, table.add(name, false)])) as Record<keyof typeof K, Float64Array>;
    this.unitOut = city.units.map((u) => (u.kind === 'grid' || u.kind === 'waste_heat_source' ? undefined : table.add(outputField(u.id), false)));
    this.unitHeat = city.units.map((u) => table.add(heatField(u.id), false));
    const byBus = (owner: string) => m.buses.map((_, bi) => this.flowField.get(`${owner}\u0000${bi}`));
    this.unitFlows = city.units.map((u) => byBus(u.id));
    this.linkFlows = city.links.map((l) => byBus(l.id));
  }

  /** Cost kind and CO2 sector of a column (same for every period), packed as cost * 4 + sector. */
  private role(pm: PeriodModel, j: number): number {
    const m = pm.model;
    const kind = m.colKind[j];
    const owner = m.colOwner[j]!;
    const pack = (cost: number, sector: number) => cost * 4 + sector;
    if (kind === ColKind.Supply) return pack(C_FUEL, m.buses[owner]!.kind === 'gas' ? S_GAS : S_NONE);
    if (kind === ColKind.Slack) {
      const t = pm.colPeriod[j]!;
      if (t < 0) return pack(C_PENALTY, S_NONE);
      const cb = m.buses[owner]!;
      return pack(cb.kind === 'waste' && cb.dump[t] === j ? C_FUEL : C_PENALTY, S_NONE);
    }
    if (kind === ColKind.Storage) return pack(C_STORAGE, S_NONE);
    if (kind === ColKind.Link) return pack(C_VARIABLE, S_NONE);
    if (kind === ColKind.Unit) {
      const u = m.units[owner]!.unit;
      if (u.kind === 'grid') return pack(C_ELECTRICITY, S_EL);
      if (u.kind === 'pv' || u.kind === 'wind') return pack(C_PENALTY, S_NONE);
      if (u.kind === 'wte_chp') return pack(C_VARIABLE, S_WASTE);
      return pack(C_VARIABLE, S_NONE);
    }
    return pack(C_NONE, S_NONE);
  }

  private roles = new WeakMap<PeriodModel, Uint8Array>();

  private rolesOf(pm: PeriodModel): Uint8Array {
    let r = this.roles.get(pm);
    if (!r) {
      r = new Uint8Array(pm.lp.numCols);
      for (let j = 0; j < pm.lp.numCols; j++) r[j] = this.role(pm, j);
      this.roles.set(pm, r);
    }
    return r;
  }

  /** Writes period t of a solution of `pm` (x, y; extended vectors allowed) into row g; returns its cost in EUR. */
  extract(pm: PeriodModel, x: ArrayLike<number>, y: ArrayLike<number>, t: number, g: number, co2Price: number): number {
    const m = pm.model;
    const lp = m.lp;
    const T = pm.T;
    const dt = pm.dtH;
    const roles = this.rolesOf(pm);
    m.buses.forEach((cb, bi) => {
      const f = this.busFields[bi]!;
      if (f.demand) f.demand[g] = m.busDemand[bi * T + t]!;
      f.unmet[g] = x[cb.unmet[t]!]!;
      f.dump[g] = x[cb.dump[t]!]!;
      if (f.supply) f.supply[g] = x[cb.supply[t]!]!;
      f.price[g] = y[cb.row[t]!]! / dt;
    });
    const flows = (byBus: (Float64Array | undefined)[], j: number) => {
      const xj = x[j]!;
      if (xj === 0) return;
      for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) {
        const bi = m.rowBus[lp.rowIndex[p]!]!;
        if (bi < 0) continue;
        const fld = byBus[bi];
        if (fld) fld[g]! += lp.values[p]! * xj;
      }
    };
    for (const fld of this.flowField.values()) fld[g] = 0;
    m.units.forEach((cu, ui) => {
      const u = cu.unit;
      let heat = 0;
      let src = 0;
      let el = 0;
      const byBus = this.unitFlows[ui]!;
      for (const j of cu.cols[t]!) {
        flows(byBus, j);
        const xj = x[j]!;
        for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) {
          const bi = m.rowBus[lp.rowIndex[p]!]!;
          if (bi < 0) continue;
          const v = lp.values[p]! * xj;
          const kind = this.busKinds[bi];
          if (kind === 'heat' && v > 0) heat += v;
          else if (kind === 'waste_heat' && v < 0) src -= v;
          else if (kind === 'electricity' && v > 0) el += v;
        }
      }
      if (u.kind === 'pv' || u.kind === 'wind') {
        const pot = m.unitPotential[ui * T + t]!;
        const bi = m.rowBus[cu.primaryRow[t]!]!;
        byBus[bi]![g]! += pot;
        const curtailed = x[cu.cols[t]![0]!]!;
        this.k.curtailed[g]! += curtailed;
        el = pot - curtailed;
      }
      this.unitHeat[ui]![g] = heat;
      const out = this.unitOut[ui];
      if (out) out[g] = u.kind === 'gas_chp' || u.kind === 'pv' || u.kind === 'wind' ? el : heat;
      if (heat > 0) {
        this.k.heatSupplied[g]! += heat;
        if (u.kind === 'gas_boiler' || u.kind === 'gas_chp') this.k.heatFossil[g]! += heat;
        else if (u.kind === 'waste_heat_source' || u.kind === 'wte_chp') this.k.heatWaste[g]! += heat;
      }
      if (u.kind === 'heat_pump' && u.sourceBus !== undefined) this.k.heatWaste[g]! += src;
    });
    m.storages.forEach((cs, si) => {
      const f = this.storageFields[si]!;
      f.charge[g] = x[cs.charge[t]!]!;
      f.discharge[g] = x[cs.discharge[t]!]!;
      f.content[g] = x[cs.energy[t]!]!;
    });
    m.links.forEach((cl, li) => {
      flows(this.linkFlows[li]!, cl.fwd[t]!);
      flows(this.linkFlows[li]!, cl.rev[t]!);
    });
    // Costs and CO2 of the period's columns.
    let total = 0;
    let co2 = 0;
    for (const j of pm.periodCols[t]!) {
      const xj = x[j]!;
      if (xj === 0) continue;
      const c = lp.colCost[j]! * xj;
      total += c;
      const r = roles[j]!;
      const sector = r & 3;
      const e = m.colCo2[j]! * xj * dt;
      let co2Cost = 0;
      if (e !== 0) {
        co2 += e;
        co2Cost = e * co2Price;
        if (sector === S_GAS) this.k.co2Gas[g]! += e;
        else if (sector === S_EL) this.k.co2El[g]! += e;
        else if (sector === S_WASTE) this.k.co2Waste[g]! += e;
        this.k.co2cost[g]! += co2Cost;
      }
      const rest = c - co2Cost;
      switch (r >> 2) {
        case C_FUEL:
          this.k.fuel[g]! += rest;
          break;
        case C_ELECTRICITY:
          this.k.electricity[g]! += rest;
          break;
        case C_VARIABLE:
          this.k.variable[g]! += rest;
          break;
        case C_STORAGE:
          this.k.storage[g]! += rest;
          break;
        case C_PENALTY:
          this.k.penalty[g]! += rest;
          break;
        default:
          break;
      }
    }
    this.cost[g] = total;
    this.co2[g] = co2;
    return total;
  }
}

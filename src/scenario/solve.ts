/**
 * The two ways to run a scenario on the coupling engine's plan LP with HiGHS:
 *
 * - Perfect foresight: one LP per calendar year over all its periods (storage cyclic or carried
 *   over, optional capacity sizing). To make the year LP fast, a quick pass over chunks of the
 *   year (default 730 h, storage carried between chunks) produces a basis that HiGHS starts
 *   from; HiGHS then proves optimality of the full year LP, so the chunks change the speed,
 *   never the optimum.
 * - Rolling horizon: windows of `window + overlap` periods on one persistent HiGHS model
 *   (hot-started), committing the first `window` periods and carrying storage content on.
 *   Each window's storage must end at least as full as it started (soft), as in the live plan.
 */
import type { Highs } from 'highs';
import { PersistentHighs, toModelData } from '../coupling/lp/highs.ts';
import type { LpProblem } from '../coupling/lp/problem.ts';
import type { InputTimeline } from './inputs.ts';
import type { ResolvedScenario } from './load.ts';
import { emptyExtension, extendLp, PeriodModel, type LpExtension } from './model.ts';
import type { Extractor } from './results.ts';
import { annuity } from './schema.ts';
import type { YearSegment } from './time.ts';

export interface SolveContext {
  scn: ResolvedScenario;
  inputs: InputTimeline;
  highs: Highs;
  models: Map<number, PeriodModel>;
  /** Yields to the event loop now and then (keeps a server responsive, lets progress render). */
  yieldEvery?: number;
}

export function periodModel(ctx: SolveContext, T: number): PeriodModel {
  let pm = ctx.models.get(T);
  if (!pm) {
    pm = new PeriodModel(ctx.scn.city, ctx.scn.registry, T, ctx.scn.timeline.dtH);
    ctx.models.set(T, pm);
  }
  return pm;
}

const HIGHS_QUIET = { output_flag: false } as const;

function windowValues(ctx: SolveContext, g0: number, n: number): Float64Array[] {
  const len = ctx.scn.registry.defs.length;
  const out: Float64Array[] = [];
  for (let t = 0; t < n; t++) out.push(ctx.inputs.periodValues(g0 + t, new Float64Array(len)));
  return out;
}

function co2Prices(ctx: SolveContext, g0: number, n: number): Float64Array {
  const tl = ctx.scn.timeline;
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) out[t] = ctx.inputs.co2Price(tl.yearOf(Math.min(g0 + t, tl.periods - 1)));
  return out;
}

/** Writes storage contents (MWh) into the soc inputs of the first period's values. */
function setContents(ctx: SolveContext, values0: Float64Array, contents: Float64Array): void {
  const { city, registry } = ctx.scn;
  city.storages.forEach((s, si) => {
    const idx = registry.byName.get(`${s.id}.soc`)!;
    values0[idx] = registry.defs[idx]!.socIsEnergy ? contents[si]! : contents[si]! / s.capacityMWh;
  });
}

/** Storage contents (MWh) the inputs start with. */
export function initialContents(ctx: SolveContext): Float64Array {
  const { city, registry } = ctx.scn;
  return Float64Array.from(city.storages, (s) => {
    const idx = registry.byName.get(`${s.id}.soc`)!;
    const v = ctx.inputs.base[idx]!;
    const e = registry.defs[idx]!.socIsEnergy ? v : v * s.capacityMWh;
    return Math.max(0, Math.min(s.capacityMWh, Number.isFinite(e) ? e : 0));
  });
}

export interface WindowPassOptions {
  from: number;
  to: number;
  windowP: number;
  overlapP: number;
  contents: Float64Array;
  /** Writes committed periods into the table (rolling runs). */
  extractor?: Extractor;
  /** Sized storage capacity (MWh) per storage for a year, when sizing fixed it. */
  storageCap?: (si: number, year: number) => number | undefined;
  /** Collects the committed periods' basis into a year model's numbering (warm start). */
  basis?: { target: PeriodModel; offset: number; colStatus: Int32Array; rowStatus: Int32Array };
  onWindow?: (done: number, total: number) => void;
  /** Storage contents (MWh) the last window must end with at least (soft), e.g. the range's start. */
  endContents?: Float64Array;
}

export interface WindowPassResult {
  /** Realised cost of the committed periods (EUR, penalties included). */
  objective: number;
  contents: Float64Array;
  windows: number;
}

export async function windowPass(ctx: SolveContext, o: WindowPassOptions): Promise<WindowPassResult> {
  const n = o.windowP + o.overlapP;
  const tl = ctx.scn.timeline;
  // Windows never look past the end of the range: the last ones are shorter (own model and solver).
  const solvers = new Map<number, PersistentHighs>();
  const contents = o.contents.slice();
  const total = Math.ceil((o.to - o.from) / o.windowP);
  let objective = 0;
  let done = 0;
  try {
    for (let g0 = o.from; g0 < o.to; g0 += o.windowP) {
      const len = Math.min(n, o.to - g0);
      const pm = periodModel(ctx, len);
      const values = windowValues(ctx, g0, len);
      setContents(ctx, values[0]!, contents);
      const co2 = co2Prices(ctx, g0, len);
      pm.fill(values, co2, (si, t) => {
        const g = g0 + t;
        if (!ctx.inputs.storageInService(si, g)) return 0;
        return o.storageCap?.(si, tl.yearOf(g));
      });
      if (o.endContents && g0 + len >= o.to) {
        // The window that reaches the end: storage ends at least as full as the range started (soft).
        for (const cs of pm.model.storages) {
          const target = Math.min(o.endContents[cs.index]!, pm.lp.colUpper[cs.energy[len - 1]!]!);
          const lp = pm.lp;
          lp.rowLower[cs.terminalRow] = Math.max(lp.rowLower[cs.terminalRow]!, target);
          lp.rowUpper[cs.terminalRow] = Math.max(lp.rowUpper[cs.terminalRow]!, lp.rowLower[cs.terminalRow]!);
          lp.colUpper[cs.shortfall] = lp.rowLower[cs.terminalRow]!;
        }
      }
      let solver = solvers.get(len);
      if (!solver) {
        solver = new PersistentHighs(ctx.highs, pm.lp, { presolve: 'off' });
        solvers.set(len, solver);
      }
      let sol = solver.solve(pm.model.changedCols, pm.model.changedCount);
      if (!sol.optimal) {
        solver.rebuild();
        sol = solver.solve();
      }
      if (!sol.optimal) throw new Error(`window at ${new Date(tl.timeOf(g0)).toISOString()}: HiGHS ${sol.status}`);
      const committed = Math.min(o.windowP, len);
      const x = sol.colValue;
      for (let t = 0; t < committed; t++) {
        if (o.extractor) objective += o.extractor.extract(pm, x, sol.rowDual, t, g0 + t, co2[t]!);
        else for (const j of pm.periodCols[t]!) objective += pm.lp.colCost[j]! * x[j]!;
      }
      if (o.basis && sol.basis) {
        const b = o.basis;
        for (let t = 0; t < committed; t++) {
          const tc = pm.periodCols[t]!;
          const fc = b.target.periodCols[g0 + t - b.offset]!;
          for (let k = 0; k < tc.length; k++) b.colStatus[fc[k]!] = sol.basis.colStatus[tc[k]!]!;
          const tr = pm.periodRows[t]!;
          const fr = b.target.periodRows[g0 + t - b.offset]!;
          for (let k = 0; k < tr.length; k++) b.rowStatus[fr[k]!] = sol.basis.rowStatus[tr[k]!]!;
        }
      }
      for (let si = 0; si < contents.length; si++) contents[si] = pm.content(x, si, committed - 1);
      done++;
      o.onWindow?.(done, total);
      if (ctx.yieldEvery && done % ctx.yieldEvery === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    for (const s of solvers.values()) s.dispose();
  }
  return { objective, contents, windows: done };
}

export interface YearSolution {
  pm: PeriodModel;
  lp: LpProblem;
  x: Float64Array;
  y: Float64Array;
  objective: number;
  /** Sized capacities (MW or MWh) and their annualised cost for this year (EUR). */
  capacities: Record<string, { size: number; costEur: number }>;
  contents: Float64Array;
  warmStart: boolean;
  solveS: number;
}

/** Annualised investment cost per MW or MWh of a size block. */
export function annualCost(s: { annualCostEurPerMw?: number; annualCostEurPerMWh?: number; capexEurPerMw?: number; capexEurPerMWh?: number; lifetimeYears?: number; interestRate?: number }): number {
  const direct = s.annualCostEurPerMw ?? s.annualCostEurPerMWh;
  if (direct !== undefined) return direct;
  const capex = s.capexEurPerMw ?? s.capexEurPerMWh ?? 0;
  return annuity(capex, s.lifetimeYears ?? 1, s.interestRate ?? 0);
}

interface BuiltExtension {
  ext: LpExtension;
  sizing: boolean;
  capCols: { id: string; col: number; costPerUnit: number }[];
}

/** Cyclic storage starts and sizing columns for a year LP. */
function buildExtension(ctx: SolveContext, pm: PeriodModel, seg: YearSegment, values: Float64Array[], prevCaps: Map<string, number>): BuiltExtension {
  const { spec, registry } = ctx.scn;
  const m = pm.model;
  const T = pm.T;
  const dt = pm.dtH;
  const ext = emptyExtension();
  const n0 = pm.lp.numCols;
  const m0 = pm.lp.numRows;
  const addCol = (name: string, cost: number, lower: number, upper: number) => {
    ext.cols.push({ name, cost, lower, upper });
    return n0 + ext.cols.length - 1;
  };
  const addRow = (name: string, lower: number, upper: number) => {
    ext.rows.push({ name, lower, upper });
    return m0 + ext.rows.length - 1;
  };
  const yearShare = seg.periods / seg.periodsInYear;
  const capCols: BuiltExtension['capCols'] = [];

  const startCol = new Map<number, number>();
  if (spec.run.storageBoundary === 'cyclic') {
    for (const cs of m.storages) {
      const st = cs.storage;
      const start = addCol(`${st.id}.start`, 0, 0, st.capacityMWh);
      startCol.set(cs.index, start);
      ext.coef.push({ row: cs.socRow[0]!, col: start, value: -(1 - st.lossPerH * dt) });
      ext.coef.push({ row: cs.terminalRow, col: start, value: -1 });
      ext.rowBounds.push({ row: cs.socRow[0]!, lower: 0, upper: 0 });
      ext.rowBounds.push({ row: cs.terminalRow, lower: 0, upper: 0 });
      ext.colBounds.push({ col: cs.shortfall, lower: 0, upper: 0 });
    }
  }
  for (const plan of spec.units) {
    if (!plan.size) continue;
    const cu = m.units.find((u) => u.unit.id === plan.id)!;
    const u = cu.unit as { heatMaxMw: number };
    const per = annualCost(plan.size);
    const lower = Math.min(u.heatMaxMw, Math.max(plan.size.minMw, prevCaps.get(plan.id) ?? 0));
    const cap = addCol(`cap.${plan.id}`, per * yearShare, lower, u.heatMaxMw);
    capCols.push({ id: plan.id, col: cap, costPerUnit: per * yearShare });
    const availIdx = registry.byName.get(`${plan.id}.availability`)!;
    for (let t = 0; t < T; t++) {
      const a = Math.max(0, Math.min(1, values[t]![availIdx]!));
      if (a === 0) continue;
      const r = addRow(`size.${plan.id}.t${t}`, -Infinity, 0);
      ext.coef.push({ row: r, col: cu.cols[t]![0]!, value: 1 });
      ext.coef.push({ row: r, col: cap, value: -a });
    }
  }
  for (const plan of spec.storages) {
    if (!plan.size) continue;
    const cs = m.storages.find((s) => s.storage.id === plan.id)!;
    const st = cs.storage;
    const per = annualCost(plan.size);
    const lower = Math.min(st.capacityMWh, Math.max(plan.size.minMWh, prevCaps.get(plan.id) ?? 0));
    const cap = addCol(`cap.${plan.id}`, per * yearShare, lower, st.capacityMWh);
    capCols.push({ id: plan.id, col: cap, costPerUnit: per * yearShare });
    const rc = st.chargeMaxMw / st.capacityMWh;
    const rd = st.dischargeMaxMw / st.capacityMWh;
    const limit = (name: string, col: number, ratio: number) => {
      const r = addRow(name, -Infinity, 0);
      ext.coef.push({ row: r, col, value: 1 });
      ext.coef.push({ row: r, col: cap, value: -ratio });
    };
    for (let t = 0; t < T; t++) {
      limit(`size.${plan.id}.e.t${t}`, cs.energy[t]!, 1);
      if (pm.lp.colUpper[cs.charge[t]!]! > 0) limit(`size.${plan.id}.c.t${t}`, cs.charge[t]!, rc);
      if (pm.lp.colUpper[cs.discharge[t]!]! > 0) limit(`size.${plan.id}.d.t${t}`, cs.discharge[t]!, rd);
    }
    const start = startCol.get(cs.index);
    if (start !== undefined) limit(`size.${plan.id}.start`, start, 1);
  }
  return { ext, sizing: capCols.length > 0, capCols };
}

export interface PerfectYearOptions {
  contents: Float64Array;
  prevCaps: Map<string, number>;
  onChunk?: (done: number, total: number) => void;
}

/** The year's LP, built and filled, before solving (for export and independent checks). */
export function buildYearLp(ctx: SolveContext, seg: YearSegment, o: { contents: Float64Array; prevCaps: Map<string, number> }): { pm: PeriodModel; lp: LpProblem; ext: BuiltExtension } {
  const pm = periodModel(ctx, seg.periods);
  const values = windowValues(ctx, seg.offset, seg.periods);
  setContents(ctx, values[0]!, o.contents);
  pm.fill(values, co2Prices(ctx, seg.offset, seg.periods), (si, t) => (ctx.inputs.storageInService(si, seg.offset + t) ? undefined : 0));
  const ext = buildExtension(ctx, pm, seg, values, o.prevCaps);
  return { pm, lp: extendLp(pm.lp, ext.ext), ext };
}

export async function solvePerfectYear(ctx: SolveContext, seg: YearSegment, o: PerfectYearOptions): Promise<YearSolution> {
  const { pm, lp, ext } = buildYearLp(ctx, seg, o);
  const chunkP = Math.round(ctx.scn.spec.run.warmStartChunkH / ctx.scn.timeline.dtH);
  let basis: { colStatus: Int32Array; rowStatus: Int32Array } | undefined;
  if (chunkP > 0 && !ext.sizing && seg.periods > chunkP) {
    const colStatus = new Int32Array(lp.numCols); // nonbasic at lower unless a chunk says otherwise
    const rowStatus = new Int32Array(lp.numRows).fill(1);
    await windowPass(ctx, {
      from: seg.offset,
      to: seg.offset + seg.periods,
      windowP: chunkP,
      overlapP: 0,
      contents: o.contents,
      basis: { target: pm, offset: seg.offset, colStatus, rowStatus },
      ...(o.onChunk ? { onWindow: o.onChunk } : {}),
    });
    for (const cs of pm.model.storages) rowStatus[cs.terminalRow] = 1;
    basis = { colStatus, rowStatus };
  }
  const t0 = performance.now();
  const model = ctx.highs.createModel(toModelData(lp));
  let x: Float64Array;
  let y: Float64Array;
  let objective: number;
  try {
    model.options.set({ ...HIGHS_QUIET, presolve: basis ? 'off' : 'on' });
    if (basis) model.setBasis(basis);
    model.run();
    const status = model.getModelStatus();
    if (status !== ctx.highs.constants.modelStatus.optimal) {
      throw new Error(`${seg.year}: the year LP did not solve to optimality (HiGHS model status ${status})`);
    }
    const sol = model.getSolution();
    x = Float64Array.from(sol.colValue);
    y = Float64Array.from(sol.rowDual);
    objective = model.getObjectiveValue();
  } finally {
    model.dispose();
  }
  const solveS = (performance.now() - t0) / 1000;
  const capacities: YearSolution['capacities'] = {};
  for (const c of ext.capCols) capacities[c.id] = { size: x[c.col]!, costEur: x[c.col]! * c.costPerUnit };
  const contents = Float64Array.from(pm.model.storages, (cs) => x[cs.energy[seg.periods - 1]!]!);
  return { pm, lp, x, y, objective, capacities, contents, warmStart: basis !== undefined, solveS };
}

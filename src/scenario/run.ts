/**
 * Runs a resolved scenario: perfect foresight (one LP per year), rolling horizon, or both
 * (then the rolling result reports its gap to perfect foresight, and uses the capacities
 * perfect foresight sized). Progress is reported as work done (periods solved) with an
 * estimate of the time left. Deterministic: same scenario, code and solver → same numbers.
 */
import type { Highs } from 'highs';
import { loadHighs } from '../coupling/lp/highs.ts';
import type { LpProblem } from '../coupling/lp/problem.ts';
import { InputTimeline } from './inputs.ts';
import { kpiReportSchema, totalKpis, yearKpis, type KpiReport, type ModeKpis, type YearInput } from './kpis.ts';
import type { ResolvedScenario } from './load.ts';
import { Extractor, HourlyTable } from './results.ts';
import type { RunMode } from './schema.ts';
import type { YearSegment } from './time.ts';
import { buildYearLp, initialContents, periodModel, solvePerfectYear, windowPass, type SolveContext } from './solve.ts';
import { codeVersion } from './version.ts';

export type ModeName = 'perfect_foresight' | 'rolling';

export interface ScenarioProgress {
  /** 0..1 of the estimated work. */
  fraction: number;
  phase: ModeName | 'done';
  year: number | undefined;
  yearsDone: number;
  yearsTotal: number;
  windowsDone: number;
  windowsTotal: number;
  elapsedS: number;
  etaS: number | undefined;
}

export interface RunOptions {
  mode?: RunMode;
  rolling?: { windowH?: number; overlapH?: number };
  warmStartChunkH?: number;
  highs?: Highs;
  onProgress?: (p: ScenarioProgress) => void;
  /** Keep each perfect-foresight year LP (for export and an independent solve). */
  keepYearLps?: boolean;
  /** Yield to the event loop every n windows (servers, progress bars). Default 8. */
  yieldEvery?: number;
}

export interface ModeRun {
  mode: ModeName;
  table: HourlyTable;
  objective: number;
  kpis: ModeKpis;
  wallS: number;
  yearLps: LpProblem[];
  capacities: Map<number, Record<string, { size: number; costEur: number }>>;
  warmStarted: boolean[];
}

export interface RunManifest {
  scenario: string;
  contentHash: string;
  codeVersion: string;
  solver: string;
  seed: number;
  mode: RunMode;
  rolling: { windowH: number; overlapH: number } | undefined;
  startedAt: string;
  finishedAt: string;
  wallS: Partial<Record<ModeName, number>>;
  node: string;
  warnings: { path: string; message: string }[];
}

export interface ScenarioRun {
  scenario: ResolvedScenario;
  kpis: KpiReport;
  perfect: ModeRun | undefined;
  rolling: ModeRun | undefined;
  primary: ModeRun;
  manifest: RunManifest;
}

/** Share of a year's periods each phased component is in service. */
function serviceShares(scn: ResolvedScenario, seg: YearSegment): Record<string, number> {
  const out: Record<string, number> = {};
  const end = seg.startMs + seg.periods * scn.timeline.periodMs;
  for (const p of [...scn.spec.units, ...scn.spec.storages]) {
    if (p.phaseIn === undefined && p.phaseOut === undefined) continue;
    const from = Math.max(seg.startMs, p.phaseIn ?? -Infinity);
    const to = Math.min(end, p.phaseOut ?? Infinity);
    out[p.id] = Math.max(0, Math.ceil((to - from) / scn.timeline.periodMs)) / seg.periods;
  }
  return out;
}

export async function runScenario(scn: ResolvedScenario, opts: RunOptions = {}): Promise<ScenarioRun> {
  const startedAt = new Date();
  const highs = opts.highs ?? (await loadHighs());
  const mode = opts.mode ?? scn.spec.run.mode;
  const sizing = scn.spec.units.some((u) => u.size) || scn.spec.storages.some((s) => s.size);
  if (mode === 'rolling' && sizing) throw new Error('capacity sizing needs perfect foresight (mode perfect_foresight or both)');
  const windowH = opts.rolling?.windowH ?? scn.spec.run.rolling.windowH;
  const overlapH = opts.rolling?.overlapH ?? scn.spec.run.rolling.overlapH;
  const spec = opts.warmStartChunkH === undefined ? scn.spec : { ...scn.spec, run: { ...scn.spec.run, warmStartChunkH: opts.warmStartChunkH } };
  const scnRun: ResolvedScenario = spec === scn.spec ? scn : { ...scn, spec };
  const tl = scn.timeline;
  const dt = tl.dtH;
  const windowP = Math.max(1, Math.round(windowH / dt));
  const overlapP = Math.max(0, Math.round(overlapH / dt));
  const chunkP = Math.round(spec.run.warmStartChunkH / dt);
  const inputs = new InputTimeline(scnRun);
  const ctx: SolveContext = { scn: scnRun, inputs, highs, models: new Map(), yieldEvery: opts.yieldEvery ?? 8 };

  // Work estimate in periods: perfect foresight counts its chunk pass and the year solve.
  const doPf = mode !== 'rolling';
  const doRolling = mode !== 'perfect_foresight';
  const pfWork = doPf ? tl.years.reduce((s, y) => s + y.periods * (chunkP > 0 && !sizing && y.periods > chunkP ? 2 : 1), 0) : 0;
  const rollWork = doRolling ? tl.periods : 0;
  const totalWork = Math.max(1, pfWork + rollWork);
  let workDone = 0;
  const t0 = performance.now();
  const report = (p: Omit<ScenarioProgress, 'fraction' | 'elapsedS' | 'etaS'>) => {
    if (!opts.onProgress) return;
    const fraction = Math.min(1, workDone / totalWork);
    const elapsedS = (performance.now() - t0) / 1000;
    opts.onProgress({ ...p, fraction, elapsedS, etaS: fraction > 0.02 ? (elapsedS * (1 - fraction)) / fraction : undefined });
  };

  let perfect: ModeRun | undefined;
  if (doPf) {
    const tp = performance.now();
    const table = new HourlyTable(tl.periods);
    const extractor = new Extractor(scn.city, table, periodModel(ctx, Math.min(tl.years[0]!.periods, 24)));
    let contents = initialContents(ctx);
    const prevCaps = new Map<string, number>();
    const years: YearInput[] = [];
    const yearLps: LpProblem[] = [];
    const capacities = new Map<number, Record<string, { size: number; costEur: number }>>();
    const warm: boolean[] = [];
    let objective = 0;
    for (let yi = 0; yi < tl.years.length; yi++) {
      const seg = tl.years[yi]!;
      const chunks = chunkP > 0 && !sizing && seg.periods > chunkP ? Math.ceil(seg.periods / chunkP) : 0;
      const base = workDone;
      report({ phase: 'perfect_foresight', year: seg.year, yearsDone: yi, yearsTotal: tl.years.length, windowsDone: 0, windowsTotal: chunks });
      const sol = await solvePerfectYear(ctx, seg, {
        contents: spec.run.storageBoundary === 'carry' ? contents : initialContents(ctx),
        prevCaps,
        onChunk: (done, total) => {
          workDone = base + (seg.periods * done) / total;
          report({ phase: 'perfect_foresight', year: seg.year, yearsDone: yi, yearsTotal: tl.years.length, windowsDone: done, windowsTotal: total });
        },
      });
      const co2 = inputs.co2Price(seg.year);
      for (let t = 0; t < seg.periods; t++) extractor.extract(sol.pm, sol.x, sol.y, t, seg.offset + t, co2);
      contents = sol.contents;
      for (const [id, c] of Object.entries(sol.capacities)) prevCaps.set(id, c.size);
      capacities.set(seg.year, sol.capacities);
      years.push({ seg, objective: sol.objective, co2Price: co2, capacities: sol.capacities, service: serviceShares(scn, seg) });
      if (opts.keepYearLps) yearLps.push(sol.lp);
      warm.push(sol.warmStart);
      objective += sol.objective;
      workDone = base + seg.periods * (sol.warmStart ? 2 : 1);
      report({ phase: 'perfect_foresight', year: seg.year, yearsDone: yi + 1, yearsTotal: tl.years.length, windowsDone: chunks, windowsTotal: chunks });
      await new Promise((r) => setImmediate(r));
    }
    const kpiYears = years.map((y) => yearKpis(scn.city, table, dt, y));
    perfect = {
      mode: 'perfect_foresight',
      table,
      objective,
      kpis: { mode: 'perfect_foresight', years: kpiYears, total: totalKpis(kpiYears, tl.years) },
      wallS: (performance.now() - tp) / 1000,
      yearLps,
      capacities,
      warmStarted: warm,
    };
  }

  let rolling: ModeRun | undefined;
  if (doRolling) {
    const tr = performance.now();
    // Rolling after sizing: run with the capacities perfect foresight chose, year by year.
    const sized = perfect?.capacities;
    if (sized) {
      for (const [year, caps] of sized) {
        const scale = new Map<number, number>();
        for (const [id, c] of Object.entries(caps)) {
          const u = scn.city.units.find((x) => x.id === id) as { heatMaxMw: number } | undefined;
          if (u) scale.set(scn.registry.byName.get(`${id}.availability`)!, u.heatMaxMw > 0 ? c.size / u.heatMaxMw : 0);
        }
        inputs.availabilityScale.set(year, scale);
      }
    }
    const storageCap = sized
      ? (si: number, year: number) => {
          const id = scn.city.storages[si]!.id;
          return sized.get(year)?.[id]?.size;
        }
      : undefined;
    const table = new HourlyTable(tl.periods);
    const extractor = new Extractor(scn.city, table, periodModel(ctx, Math.min(windowP + overlapP, tl.periods)));
    let contents = initialContents(ctx);
    if (storageCap) contents = contents.map((c, si) => Math.min(c, storageCap(si, tl.years[0]!.year) ?? c));
    const total = Math.ceil(tl.periods / windowP);
    const base = workDone;
    await windowPass(ctx, {
      from: 0,
      to: tl.periods,
      windowP,
      overlapP,
      contents,
      endContents: contents,
      extractor,
      ...(storageCap ? { storageCap } : {}),
      onWindow: (done) => {
        workDone = base + Math.min(tl.periods, done * windowP);
        const g = Math.min(done * windowP, tl.periods - 1);
        const seg = tl.segmentOf(g);
        report({ phase: 'rolling', year: seg.year, yearsDone: tl.years.indexOf(seg), yearsTotal: tl.years.length, windowsDone: done, windowsTotal: total });
      },
    });
    inputs.availabilityScale.clear();
    const years: YearInput[] = tl.years.map((seg) => {
      const caps = sized?.get(seg.year) ?? {};
      const invest = Object.values(caps).reduce((s, c) => s + c.costEur, 0);
      return { seg, objective: table.sum('cost_eur', seg.offset, seg.offset + seg.periods) + invest, co2Price: inputs.co2Price(seg.year), capacities: caps, service: serviceShares(scn, seg) };
    });
    const kpiYears = years.map((y) => yearKpis(scn.city, table, dt, y));
    const objective = years.reduce((s, y) => s + y.objective, 0);
    const kpis: ModeKpis = { mode: 'rolling', years: kpiYears, total: totalKpis(kpiYears, tl.years), rolling: { windowH, overlapH } };
    if (perfect) kpis.gapToPerfectForesight = Math.round(((objective - perfect.objective) / Math.abs(perfect.objective || 1)) * 1e9) / 1e9;
    rolling = { mode: 'rolling', table, objective, kpis, wallS: (performance.now() - tr) / 1000, yearLps: [], capacities: sized ?? new Map(), warmStarted: [] };
  }
  workDone = totalWork;
  report({ phase: 'done', year: undefined, yearsDone: tl.years.length, yearsTotal: tl.years.length, windowsDone: 0, windowsTotal: 0 });

  const primary = (perfect ?? rolling)!;
  const kpis: KpiReport = kpiReportSchema.parse({
    scenario: scn.spec.name,
    ...(scn.spec.description !== undefined ? { description: scn.spec.description } : {}),
    contentHash: scn.hash,
    codeVersion: codeVersion(),
    solver: `HiGHS ${highs.version.string}`,
    seed: scn.spec.run.seed,
    resolution: scn.spec.horizon.resolution,
    horizon: { from: new Date(tl.fromMs).toISOString(), to: new Date(tl.toMs).toISOString() },
    primary: primary.mode,
    modes: { ...(perfect ? { perfect_foresight: perfect.kpis } : {}), ...(rolling ? { rolling: rolling.kpis } : {}) },
    warnings: scn.warnings,
  });
  const manifest: RunManifest = {
    scenario: scn.spec.name,
    contentHash: scn.hash,
    codeVersion: kpis.codeVersion,
    solver: kpis.solver,
    seed: scn.spec.run.seed,
    mode,
    rolling: doRolling ? { windowH, overlapH } : undefined,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    wallS: { ...(perfect ? { perfect_foresight: perfect.wallS } : {}), ...(rolling ? { rolling: rolling.wallS } : {}) },
    node: process.version,
    warnings: scn.warnings,
  };
  return { scenario: scn, kpis, perfect, rolling, primary, manifest };
}

/**
 * The perfect-foresight LP of one year exactly as `runScenario` solves it (storage starting from
 * the scenario's initial content; earlier sized capacities are not carried in), for export to
 * another solver.
 */
export async function scenarioYearLp(scn: ResolvedScenario, year: number, highs?: Highs): Promise<LpProblem> {
  const seg = scn.timeline.years.find((y) => y.year === year);
  if (!seg) throw new Error(`year ${year} is not in the horizon (${scn.timeline.years.map((y) => y.year).join(', ')})`);
  const ctx: SolveContext = { scn, inputs: new InputTimeline(scn), highs: highs ?? (await loadHighs()), models: new Map() };
  return buildYearLp(ctx, seg, { contents: initialContents(ctx), prevCaps: new Map() }).lp;
}

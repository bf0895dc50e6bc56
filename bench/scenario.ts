/**
 * Planning benchmark on the public district-heating reference case (config/scenarios/
 * district-heating-2019.yaml, data read in place from ../shared/data/): a full year of hourly
 * periods in perfect foresight and with a rolling horizon, in this process with HiGHS already
 * loaded. The perfect-foresight year LP is then written as CPLEX LP and solved independently
 * by glpsol (timed separately, not part of the wall times).
 */
import { resolve } from 'node:path';
import { loadHighs } from '../src/coupling/lp/highs.ts';
import { loadScenarioFile, shippedScenarioDir } from '../src/scenario/load.ts';
import { solveWithGlpsol } from '../src/scenario/reference.ts';
import { runScenario, type ScenarioRun } from '../src/scenario/run.ts';

export interface BenchScenarioOptions {
  scenario?: string;
  windowH?: number;
  overlapH?: number;
  /** Perfect-foresight repetitions; the median is reported (and the first separately). */
  repeat?: number;
  /** Also time perfect foresight without the chunked warm start (cold HiGHS solve). */
  cold?: boolean;
  /** Skip the glpsol check. */
  skipReference?: boolean;
  log?: (line: string) => void;
}

export interface BenchScenarioResult {
  scenario: string;
  hours: number;
  perfect_foresight_wall_s: number;
  perfect_foresight_first_wall_s: number;
  perfect_foresight_cpu_s: number;
  perfect_foresight_cold_wall_s: number | null;
  rolling_wall_s: number;
  rolling_cpu_s: number;
  rolling_window_h: number;
  rolling_overlap_h: number;
  objective: number;
  reference_objective: number | null;
  reference_solver: string;
  reference_wall_s: number | null;
  rel_gap: number | null;
  rolling_objective: number;
  rolling_gap_vs_perfect: number;
  rss_mb: number;
  lp_columns: number;
  lp_rows: number;
  solver: string;
  content_hash: string;
  target_perfect_foresight_wall_s: number;
  target_rel_gap: number;
  meets_targets: boolean;
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; wallS: number; cpuS: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const cpu = process.cpuUsage(c0);
  return { value, wallS: (performance.now() - t0) / 1000, cpuS: (cpu.user + cpu.system) / 1e6 };
}

export async function benchScenario(o: BenchScenarioOptions = {}): Promise<BenchScenarioResult> {
  const log = o.log ?? (() => undefined);
  const file = o.scenario ?? resolve(shippedScenarioDir, 'district-heating-2019.yaml');
  const windowH = o.windowH ?? 24;
  const overlapH = o.overlapH ?? 0;
  const repeat = Math.max(1, o.repeat ?? 3);
  const highs = await loadHighs();
  const scn = loadScenarioFile(file);
  log(`scenario ${scn.spec.name}: ${scn.timeline.periods} periods of ${scn.spec.horizon.resolution}, content ${scn.hash.slice(0, 12)}`);

  const pfRuns: { wallS: number; cpuS: number }[] = [];
  let pf: ScenarioRun | undefined;
  for (let i = 0; i < repeat; i++) {
    const r = await timed(() => runScenario(scn, { mode: 'perfect_foresight', highs, keepYearLps: i === 0 }));
    pfRuns.push({ wallS: r.wallS, cpuS: r.cpuS });
    pf ??= r.value;
    log(`perfect foresight #${i + 1}: ${r.wallS.toFixed(3)} s wall, ${r.cpuS.toFixed(3)} s CPU, objective ${r.value.perfect!.objective.toFixed(4)} EUR`);
  }
  let coldS: number | null = null;
  if (o.cold) {
    const r = await timed(() => runScenario(scn, { mode: 'perfect_foresight', highs, warmStartChunkH: 0 }));
    coldS = r.wallS;
    log(`perfect foresight without warm start: ${r.wallS.toFixed(3)} s wall, objective ${r.value.perfect!.objective.toFixed(4)} EUR`);
  }
  const roll = await timed(() => runScenario(scn, { mode: 'rolling', highs, rolling: { windowH, overlapH } }));
  log(`rolling horizon (${windowH} h window, ${overlapH} h overlap): ${roll.wallS.toFixed(3)} s wall, objective ${roll.value.rolling!.objective.toFixed(4)} EUR`);

  const objective = pf!.perfect!.objective;
  const lps = pf!.perfect!.yearLps;
  let reference: number | null = null;
  let referenceS: number | null = null;
  if (!o.skipReference) {
    // One year LP per year; the reference case has one.
    let sum = 0;
    const t0 = performance.now();
    for (const lp of lps) sum += (await solveWithGlpsol(lp)).objective;
    referenceS = (performance.now() - t0) / 1000;
    reference = sum;
    log(`glpsol --interior on the exported LP: objective ${reference.toFixed(4)} EUR in ${referenceS.toFixed(2)} s`);
  }
  const relGap = reference === null ? null : Math.abs(objective - reference) / Math.max(1e-9, Math.abs(reference));
  const rollingObjective = roll.value.rolling!.objective;
  const pfWall = median(pfRuns.map((r) => r.wallS));
  const rssMb = process.resourceUsage().maxRSS / 1024;
  const result: BenchScenarioResult = {
    scenario: scn.spec.name,
    hours: scn.timeline.periods * scn.timeline.dtH,
    perfect_foresight_wall_s: pfWall,
    perfect_foresight_first_wall_s: pfRuns[0]!.wallS,
    perfect_foresight_cpu_s: median(pfRuns.map((r) => r.cpuS)),
    perfect_foresight_cold_wall_s: coldS,
    rolling_wall_s: roll.wallS,
    rolling_cpu_s: roll.cpuS,
    rolling_window_h: windowH,
    rolling_overlap_h: overlapH,
    objective,
    reference_objective: reference,
    reference_solver: 'glpsol --interior (GLPK), CPLEX LP export of the same year LP',
    reference_wall_s: referenceS,
    rel_gap: relGap,
    rolling_objective: rollingObjective,
    rolling_gap_vs_perfect: (rollingObjective - objective) / Math.abs(objective),
    rss_mb: Math.round(rssMb * 10) / 10,
    lp_columns: lps[0]?.numCols ?? 0,
    lp_rows: lps[0]?.numRows ?? 0,
    solver: pf!.kpis.solver,
    content_hash: scn.hash,
    target_perfect_foresight_wall_s: 2,
    target_rel_gap: 1e-4,
    meets_targets: pfWall <= 2 && relGap !== null && relGap <= 1e-4,
  };
  return result;
}

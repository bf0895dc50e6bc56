/**
 * `querstrom scenario`: planner scenarios from the command line.
 *   scenario run FILE [--mode perfect_foresight|rolling|both] [--out DIR] [--window-h 24] [--overlap-h 24] [--json]
 *   scenario validate FILE
 *   scenario compare A B [C ...]      (run directories, kpis.json files, or scenario files to run now)
 *   scenario export-lp FILE [--year 2019] [--format lp|mps] [--out FILE]
 *   scenario list
 * Progress goes to stderr; results and tables to stdout.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeCplexLp, writeMps } from '../../coupling/lp/write.ts';
import { compareReports, comparisonSvg, formatComparison } from '../../scenario/compare.ts';
import { kpiReportSchema, type KpiReport } from '../../scenario/kpis.ts';
import { loadScenarioFile, ScenarioConfigError, shippedScenarioDir, type ResolvedScenario } from '../../scenario/load.ts';
import { writeRunOutputs } from '../../scenario/outputs.ts';
import { progressPrinter } from '../../scenario/progress.ts';
import { runScenario, scenarioYearLp } from '../../scenario/run.ts';
import { runModes, type RunMode } from '../../scenario/schema.ts';
import { fail, numberOption } from './common.ts';

function load(file: string): ResolvedScenario {
  try {
    return loadScenarioFile(file);
  } catch (err) {
    if (err instanceof ScenarioConfigError) fail(err.message);
    fail(`cannot load ${file}: ${(err as Error).message}`);
  }
}

function printWarnings(scn: ResolvedScenario): void {
  for (const w of scn.warnings) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
}

const num = (name: string, v: string | undefined, min: number): number | undefined => (v === undefined ? undefined : numberOption(name, v, { min }));

function summary(k: KpiReport, dir: string | undefined): string {
  const lines: string[] = [`${k.scenario}  (content ${k.contentHash.slice(0, 12)}, ${k.codeVersion}, ${k.solver}, seed ${k.seed})`];
  for (const m of ['perfect_foresight', 'rolling'] as const) {
    const mk = k.modes[m];
    if (!mk) continue;
    const t = mk.total;
    lines.push(
      `${m === 'perfect_foresight' ? 'perfect foresight' : `rolling horizon (${mk.rolling?.windowH} h + ${mk.rolling?.overlapH} h look-ahead)`}: ` +
        `total cost ${t.totalCostEur.toFixed(0)} EUR, LCOH ${t.lcohEurPerMWh.toFixed(2)} EUR/MWh, CO2 ${t.co2T.total.toFixed(1)} t, ` +
        `waste heat ${(t.wasteHeatShare * 100).toFixed(1)} %, fossil ${(t.fossilShare * 100).toFixed(1)} %, unmet ${t.unmetDemandMWh.toFixed(2)} MWh, objective ${t.objectiveEur.toFixed(2)} EUR` +
        (mk.gapToPerfectForesight !== undefined ? `, gap to perfect foresight ${(mk.gapToPerfectForesight * 100).toFixed(3)} %` : ''),
    );
  }
  if (dir) lines.push(`results in ${dir} (kpis.json, hourly.csv, hourly.parquet, charts/, report.html)`);
  return lines.join('\n') + '\n';
}

async function readReport(arg: string): Promise<{ label: string; kpis: KpiReport }> {
  const p = resolve(arg);
  let file = p;
  if (existsSync(p) && statSync(p).isDirectory()) file = join(p, 'kpis.json');
  if (file.endsWith('.json') && existsSync(file)) {
    const parsed = kpiReportSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (parsed.success) return { label: parsed.data.scenario, kpis: parsed.data };
    if (basename(file) === 'kpis.json') fail(`${file} is not a scenario KPI file: ${parsed.error.issues[0]?.message}`);
  }
  if (!existsSync(p)) fail(`${arg}: no such run directory, kpis.json or scenario file`);
  // A scenario file: run it now (its own mode), without writing outputs.
  const scn = load(p);
  printWarnings(scn);
  const run = await runScenario(scn, { onProgress: progressPrinter() });
  return { label: scn.spec.name, kpis: run.kpis };
}

export function registerScenarioCommand(program: Command): Command {
  const scenario = program.command('scenario').description('planner scenarios: run years of coupling, compare them, export their LPs');

  scenario
    .command('run')
    .description('run a scenario file; progress on stderr, KPIs on stdout, outputs in --out')
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--mode <mode>', `${runModes.join(' | ')} (default: the file's run.mode)`)
    .option('--out <dir>', 'output directory (default: data/scenario-runs/<name>)')
    .option('--window-h <h>', 'rolling horizon: hours committed per step')
    .option('--overlap-h <h>', 'rolling horizon: extra look-ahead hours')
    .option('--no-parquet', 'skip the Parquet export')
    .option('--json', 'print kpis.json to stdout instead of the summary')
    .action(async (file: string, o: { mode?: string; out?: string; windowH?: string; overlapH?: string; parquet: boolean; json?: boolean }) => {
      if (o.mode !== undefined && !(runModes as readonly string[]).includes(o.mode)) fail(`--mode must be one of ${runModes.join(', ')}, got "${o.mode}"`);
      const scn = load(file);
      printWarnings(scn);
      const windowH = num('window-h', o.windowH, 1);
      const overlapH = num('overlap-h', o.overlapH, 0);
      let run;
      try {
        run = await runScenario(scn, {
          ...(o.mode ? { mode: o.mode as RunMode } : {}),
          rolling: { ...(windowH !== undefined ? { windowH } : {}), ...(overlapH !== undefined ? { overlapH } : {}) },
          onProgress: progressPrinter(),
        });
      } catch (err) {
        fail(`${file}: ${(err as Error).message}`);
      }
      const dir = resolve(o.out ?? join('data', 'scenario-runs', scn.spec.name));
      try {
        await writeRunOutputs(run, dir, { parquet: o.parquet });
      } catch (err) {
        fail(`cannot write the results to ${dir}: ${(err as Error).message}`);
      }
      process.stdout.write(o.json ? JSON.stringify(run.kpis, null, 2) + '\n' : summary(run.kpis, dir));
    });

  scenario
    .command('validate')
    .description('check a scenario file: errors name the field (exit 1), warnings are printed')
    .argument('<file>', 'scenario file')
    .action((file: string) => {
      const scn = load(file);
      printWarnings(scn);
      const tl = scn.timeline;
      process.stdout.write(
        `${file}: valid. ${scn.spec.name}: ${tl.years.length} year(s) ${tl.years.map((y) => y.year).join(', ')}, ${tl.periods} periods of ${scn.spec.horizon.resolution}; ` +
          `${scn.city.units.length} units, ${scn.city.storages.length} storages; ${scn.warnings.length} warning(s); content ${scn.hash}\n`,
      );
    });

  scenario
    .command('compare')
    .description('side-by-side KPIs of runs (directories or kpis.json) or scenario files (run now), with differences to the first')
    .argument('<runs...>', 'two or more run directories, kpis.json files or scenario files')
    .option('--json', 'print the comparison as JSON')
    .option('--svg <file>', 'also write a comparison chart')
    .action(async (args: string[], o: { json?: boolean; svg?: string }) => {
      if (args.length < 2) fail('compare needs at least two runs');
      const reports = [];
      for (const a of args) reports.push(await readReport(a));
      // Same scenario name twice (e.g. two modes of one file): tell them apart by position.
      const seen = new Map<string, number>();
      for (const r of reports) {
        const n = (seen.get(r.label) ?? 0) + 1;
        seen.set(r.label, n);
        if (n > 1) r.label = `${r.label} #${n}`;
      }
      const c = compareReports(reports);
      if (o.svg) await writeFile(o.svg, comparisonSvg(c));
      process.stdout.write(o.json ? JSON.stringify(c, null, 2) + '\n' : formatComparison(c));
    });

  scenario
    .command('export-lp')
    .description("write one year's perfect-foresight LP (CPLEX LP or free MPS) for an independent solver such as glpsol")
    .argument('<file>', 'scenario file')
    .option('--year <year>', 'year of the horizon (default: the first)')
    .option('--format <fmt>', 'lp or mps', 'lp')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (file: string, o: { year?: string; format: string; out?: string }) => {
      if (o.format !== 'lp' && o.format !== 'mps') fail(`--format must be lp or mps, got "${o.format}"`);
      const scn = load(file);
      const year = o.year !== undefined ? Number(o.year) : scn.timeline.years[0]!.year;
      let lp;
      try {
        lp = await scenarioYearLp(scn, year);
      } catch (err) {
        fail((err as Error).message);
      }
      const comment = [`querstrom scenario ${scn.spec.name} year ${year}`, `content ${scn.hash}`];
      const text = o.format === 'lp' ? writeCplexLp(lp, comment) : writeMps(lp, comment);
      if (o.out) {
        await writeFile(o.out, text);
        process.stderr.write(`wrote ${o.out}: ${lp.numCols} columns, ${lp.numRows} rows\n`);
      } else process.stdout.write(text);
    });

  scenario
    .command('list')
    .description('scenarios shipped in config/scenarios')
    .action(() => {
      const names = readdirSync(shippedScenarioDir).filter((f) => f.endsWith('.yaml'));
      process.stdout.write(names.map((f) => join(shippedScenarioDir, f)).join('\n') + '\n');
    });
  return scenario;
}

/**
 * Everything a run leaves behind in its directory:
 *   kpis.json            KPIs per year and in total (byte-identical for identical inputs)
 *   run.json             the run record: content hash, code and solver version, seed, timings
 *   scenario.json        the merged scenario and the resolved city
 *   hourly.csv/.parquet  per-period results of the primary mode (hourly-rolling.* for the second)
 *   charts/*.svg         dispatch stack, peak week, load duration curves, CO2 path, modes
 *   report.html          self-contained report (inline SVG, KPI tables)
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { escapeXml, lineChart, palette, stackedAreaChart, stackedBarChart } from './charts.ts';
import { compareReports, comparisonSvg } from './compare.ts';
import { round6 } from '../common/round.ts';
import { HEADLINE_KPIS, type HeadlineKpiId, type KpiReport } from './kpis.ts';
import { heatField, type HourlyTable } from './results.ts';
import type { ModeRun, RunManifest, ScenarioRun } from './run.ts';
import type { Timeline } from './time.ts';

const num = (v: number) => String(round6(v));

/** Writes the visible fields of a table as CSV (time in UTC, then year, then fields), streaming. */
export async function writeHourlyCsv(file: string, table: HourlyTable, tl: Timeline): Promise<void> {
  const out = createWriteStream(file);
  const cols = table.visible.map((f) => table.get(f));
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await write(['time', 'year', ...table.visible].join(',') + '\n');
  const CHUNK = 2000;
  for (let g0 = 0; g0 < table.periods; g0 += CHUNK) {
    let s = '';
    for (let g = g0; g < Math.min(table.periods, g0 + CHUNK); g++) {
      s += `${new Date(tl.timeOf(g)).toISOString().replace('.000Z', 'Z')},${tl.yearOf(g)}`;
      for (const c of cols) s += `,${num(c[g]!)}`;
      s += '\n';
    }
    await write(s);
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** CSV → Parquet with DuckDB (in memory). */
export async function csvToParquet(csv: string, parquet: string): Promise<void> {
  const q = (p: string) => `'${p.replace(/'/g, "''")}'`;
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    await con.run(`COPY (SELECT * FROM read_csv(${q(csv)}, header = true, auto_detect = true)) TO ${q(parquet)} (FORMAT PARQUET)`);
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

function bucketMeans(values: Float64Array, size: number): Float64Array {
  const n = Math.ceil(values.length / size);
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    let s = 0;
    const end = Math.min(values.length, (b + 1) * size);
    for (let g = b * size; g < end; g++) s += values[g]!;
    out[b] = s / (end - b * size);
  }
  return out;
}

function heatUnits(run: ScenarioRun, table: HourlyTable): string[] {
  return run.scenario.city.units.filter((u) => table.sum(heatField(u.id)) > 1e-9).map((u) => u.id);
}

function heatDemand(run: ScenarioRun, table: HourlyTable): Float64Array {
  const out = new Float64Array(table.periods);
  for (const b of run.scenario.city.buses) if (b.kind === 'heat') {
    const d = table.get(`${b.id}.demand_mw`);
    for (let g = 0; g < out.length; g++) out[g]! += d[g]!;
  }
  return out;
}

const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The charts of one mode's results, by file name. */
export function modeCharts(run: ScenarioRun, mode: ModeRun, suffix = ''): Record<string, string> {
  const tl = run.scenario.timeline;
  const table = mode.table;
  const units = heatUnits(run, table);
  const storages = run.scenario.city.storages.map((s) => s.id);
  const demand = heatDemand(run, table);
  const perDay = Math.round(24 / tl.dtH);
  const days = Math.ceil(tl.periods / perDay);
  const bucket = days <= 1100 ? perDay : perDay * 7;
  const label = mode.mode === 'rolling' ? 'rolling horizon' : 'perfect foresight';
  const xLabels: { at: number; text: string }[] = [];
  const nb = Math.ceil(tl.periods / bucket);
  const multiYear = tl.years.length > 1;
  for (let b = 0; b < nb; b++) {
    const d = new Date(tl.timeOf(b * bucket));
    const prev = b === 0 ? undefined : new Date(tl.timeOf((b - 1) * bucket));
    if (multiYear ? !prev || prev.getUTCFullYear() !== d.getUTCFullYear() : !prev || prev.getUTCMonth() !== d.getUTCMonth()) {
      xLabels.push({ at: b, text: multiYear ? String(d.getUTCFullYear()) : monthNames[d.getUTCMonth()]! });
    }
  }
  const charts: Record<string, string> = {};
  charts[`dispatch${suffix}.svg`] = stackedAreaChart({
    title: `Heat dispatch, ${bucket === perDay ? 'daily' : 'weekly'} means (${label})`,
    yLabel: 'MW',
    up: [...units.map((u) => ({ name: u, values: bucketMeans(table.get(heatField(u)), bucket) })), ...storages.map((s) => ({ name: `${s} discharge`, values: bucketMeans(table.get(`${s}.discharge_mw`), bucket) }))],
    down: storages.map((s) => ({ name: `${s} charge`, values: bucketMeans(table.get(`${s}.charge_mw`), bucket) })),
    line: { name: 'heat demand', values: bucketMeans(demand, bucket) },
    xLabels,
  });
  // The week with the highest heat demand, at full resolution.
  const week = 7 * perDay;
  let best = 0;
  let bestSum = -Infinity;
  for (let g0 = 0; g0 + week <= tl.periods; g0 += perDay) {
    let s = 0;
    for (let g = g0; g < g0 + week; g++) s += demand[g]!;
    if (s > bestSum) {
      bestSum = s;
      best = g0;
    }
  }
  const span = Math.min(week, tl.periods);
  const slice = (a: Float64Array) => a.subarray(best, best + span);
  const dayLabels = Array.from({ length: Math.ceil(span / perDay) }, (_, d) => ({ at: d * perDay, text: new Date(tl.timeOf(best + d * perDay)).toISOString().slice(5, 10) }));
  charts[`dispatch-week${suffix}.svg`] = stackedAreaChart({
    title: `Heat dispatch in the peak week from ${new Date(tl.timeOf(best)).toISOString().slice(0, 10)} (${label})`,
    yLabel: 'MW',
    up: [...units.map((u) => ({ name: u, values: slice(table.get(heatField(u))) })), ...storages.map((s) => ({ name: `${s} discharge`, values: slice(table.get(`${s}.discharge_mw`)) }))],
    down: storages.map((s) => ({ name: `${s} charge`, values: slice(table.get(`${s}.charge_mw`)) })),
    line: { name: 'heat demand', values: slice(demand) },
    xLabels: dayLabels,
  });
  const sortedDown = (a: Float64Array) => {
    const s = Float64Array.from(a).sort().reverse();
    const step = Math.max(1, Math.floor(s.length / 1000));
    const out: number[] = [];
    for (let i = 0; i < s.length; i += step) out.push(s[i]!);
    out.push(s[s.length - 1]!);
    return out;
  };
  charts[`load-duration${suffix}.svg`] = lineChart({
    title: `Load duration curves (${label})`,
    xLabel: 'hours',
    yLabel: 'MW',
    xMax: tl.periods * tl.dtH,
    series: [{ name: 'heat demand', values: sortedDown(demand), color: '#000' }, ...units.map((u, k) => ({ name: u, values: sortedDown(table.get(heatField(u))), color: palette[k % palette.length]! }))],
  });
  const years = mode.kpis.years;
  charts[`co2-path${suffix}.svg`] = stackedBarChart({
    title: `CO2 by year and sector (${label})`,
    yLabel: 't CO2',
    categories: years.map((y) => String(y.year)),
    series: [
      { name: 'gas', values: years.map((y) => y.co2T.gas) },
      { name: 'electricity', values: years.map((y) => y.co2T.electricity) },
      { name: 'waste', values: years.map((y) => y.co2T.waste) },
    ],
  });
  return charts;
}

export function runCharts(run: ScenarioRun): Record<string, string> {
  const charts = modeCharts(run, run.primary);
  const other = run.primary === run.perfect ? run.rolling : undefined;
  if (other) Object.assign(charts, modeCharts(run, other, '-rolling'));
  if (run.perfect && run.rolling) {
    const pf = { ...run.kpis, primary: 'perfect_foresight' as const };
    const rh = { ...run.kpis, primary: 'rolling' as const };
    charts['modes.svg'] = comparisonSvg(compareReports([{ label: 'perfect foresight', kpis: pf }, { label: 'rolling horizon', kpis: rh }]), 'Perfect foresight vs rolling horizon');
  }
  return charts;
}

const fmtCell = (v: number) => {
  const a = Math.abs(v);
  if (v === 0) return '0';
  return a >= 1e5 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(4);
};

/** The report's KPI table: totals and their labels. */
const kpiRows: readonly (readonly [HeadlineKpiId, string])[] = [
  ['totalCost', 'Total cost'],
  ['lcoh', 'Levelised cost of heat'],
  ['fuel', 'Fuel'],
  ['electricity', 'Electricity'],
  ['co2Cost', 'CO2 cost'],
  ['variable', 'Variable O&M'],
  ['storageCycling', 'Storage cycling'],
  ['investment', 'Investment (annualised)'],
  ['penalties', 'Penalties'],
  ['objective', 'LP objective'],
  ['heatDemand', 'Heat demand'],
  ['heatDelivered', 'Heat delivered'],
  ['co2', 'CO2 total'],
  ['co2Gas', 'CO2 gas'],
  ['co2Electricity', 'CO2 electricity'],
  ['co2Waste', 'CO2 waste'],
  ['wasteHeatShare', 'Waste-heat share'],
  ['fossilShare', 'Fossil share'],
  ['unmetDemand', 'Unmet demand'],
  ['curtailment', 'Curtailment'],
  ['gapToPerfectForesight', 'Gap to perfect foresight'],
];

/** The report's only styles: one fixed <style> element, so a page's CSP can allow it by hash. */
const REPORT_STYLE = 'body{font-family:sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:0.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}caption{text-align:left;font-weight:bold;padding:4px 0}.meta td{text-align:left}.warn{color:#8a4b00}figure{margin:1rem 0}svg{max-width:100%;height:auto}';

/** CSP source expression allowing the report's <style> (and no other inline style). */
export const reportStyleCspSource = `'sha256-${createHash('sha256').update(REPORT_STYLE).digest('base64')}'`;

export function reportHtml(kpis: KpiReport, manifest: RunManifest, charts: Record<string, string>): string {
  const e = escapeXml;
  const modes = (['perfect_foresight', 'rolling'] as const).filter((m) => kpis.modes[m]);
  const modeName = (m: string) => (m === 'perfect_foresight' ? 'Perfect foresight' : 'Rolling horizon');
  const meta: [string, string][] = [
    ['Scenario', kpis.scenario],
    ['Horizon', `${kpis.horizon.from.slice(0, 16)} – ${kpis.horizon.to.slice(0, 16)} UTC, ${kpis.resolution}`],
    ['Content hash', kpis.contentHash],
    ['Code', kpis.codeVersion],
    ['Solver', kpis.solver],
    ['Seed', String(kpis.seed)],
    ['Mode', manifest.mode + (manifest.rolling ? ` (rolling window ${manifest.rolling.windowH} h, overlap ${manifest.rolling.overlapH} h)` : '')],
    ['Wall time', Object.entries(manifest.wallS).map(([m, s]) => `${m}: ${s.toFixed(2)} s`).join(', ')],
    ['Run', `${manifest.startedAt} – ${manifest.finishedAt}, Node ${manifest.node}`],
  ];
  let h = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${e(kpis.scenario)} – Querstrom scenario report</title>
<style>${REPORT_STYLE}</style></head><body>
<h1>Scenario ${e(kpis.scenario)}</h1>\n`;
  if (kpis.description) h += `<p>${e(kpis.description)}</p>\n`;
  h += `<table class="meta"><caption>Run record</caption>${meta.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table>\n`;
  if (kpis.warnings.length > 0) h += `<h2>Warnings</h2><ul class="warn">${kpis.warnings.map((w) => `<li><code>${e(w.path)}</code>: ${e(w.message)}</li>`).join('')}</ul>\n`;
  h += `<h2>KPIs over the horizon</h2><table><thead><tr><th scope="col">KPI</th><th scope="col">Unit</th>${modes.map((m) => `<th scope="col">${modeName(m)}</th>`).join('')}</tr></thead><tbody>`;
  for (const [id, name] of kpiRows) {
    const { unit, get } = HEADLINE_KPIS[id];
    const vals = modes.map((m) => get(kpis.modes[m]!.total, kpis.modes[m]!));
    if (vals.every((v) => v === undefined)) continue;
    h += `<tr><td>${e(name)}</td><td>${e(unit)}</td>${vals.map((v) => `<td>${v === undefined ? '—' : fmtCell(v)}</td>`).join('')}</tr>`;
  }
  h += '</tbody></table>\n';
  for (const m of modes) {
    const mk = kpis.modes[m]!;
    h += `<h2>${modeName(m)}: KPIs per year</h2><table><thead><tr><th scope="col">Year</th><th scope="col">Total cost (EUR)</th><th scope="col">LCOH (EUR/MWh)</th><th scope="col">CO2 (t)</th><th scope="col">CO2 price (EUR/t)</th><th scope="col">Waste heat (%)</th><th scope="col">Fossil (%)</th><th scope="col">Unmet (MWh)</th><th scope="col">Curtailed (MWh)</th></tr></thead><tbody>`;
    for (const y of mk.years) {
      h += `<tr><td>${y.year}</td><td>${fmtCell(y.totalCostEur)}</td><td>${fmtCell(y.lcohEurPerMWh)}</td><td>${fmtCell(y.co2T.total)}</td><td>${fmtCell(y.co2PriceEurPerT)}</td><td>${fmtCell(y.wasteHeatShare * 100)}</td><td>${fmtCell(y.fossilShare * 100)}</td><td>${fmtCell(y.unmetDemandMWh)}</td><td>${fmtCell(y.curtailmentMWh)}</td></tr>`;
    }
    h += '</tbody></table>\n';
    const ids = [...new Set(mk.years.flatMap((y) => [...Object.keys(y.fullLoadHours), ...Object.keys(y.storageCycles)]))];
    if (ids.length > 0) {
      h += `<table><caption>${modeName(m)}: capacity, full-load hours and storage cycles per year</caption><thead><tr><th scope="col">Year</th>${ids.map((i) => `<th scope="col">${e(i)}</th>`).join('')}</tr></thead><tbody>`;
      for (const y of mk.years) {
        h += `<tr><td>${y.year}</td>${ids
          .map((i) => {
            const cap = y.capacities[i];
            const v = y.fullLoadHours[i] ?? y.storageCycles[i];
            const what = i in y.fullLoadHours ? 'h' : 'cycles';
            return `<td>${cap === undefined ? '' : `${fmtCell(cap)} ${i in y.fullLoadHours ? 'MW' : 'MWh'}; `}${v === undefined ? '—' : `${fmtCell(v)} ${what}`}</td>`;
          })
          .join('')}</tr>`;
      }
      h += '</tbody></table>\n';
    }
  }
  h += '<h2>Charts</h2>\n';
  for (const [name, svg] of Object.entries(charts)) h += `<figure aria-label="${e(name)}">${svg.replace(/^<\?xml[^>]*>/, '')}</figure>\n`;
  h += `<p><small>Hourly results: hourly.csv and hourly.parquet. KPIs: kpis.json. Generated by ${e(kpis.codeVersion)}.</small></p>\n</body></html>\n`;
  return h;
}

export interface WrittenRun {
  dir: string;
  files: string[];
}

/** Writes all outputs of a run into `dir`. */
export async function writeRunOutputs(run: ScenarioRun, dir: string, o: { parquet?: boolean } = {}): Promise<WrittenRun> {
  await mkdir(join(dir, 'charts'), { recursive: true });
  const files: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    files.push(name);
  };
  await put('kpis.json', JSON.stringify(run.kpis, null, 2) + '\n');
  await put('run.json', JSON.stringify(run.manifest, null, 2) + '\n');
  await put('scenario.json', JSON.stringify({ scenario: run.scenario.merged, city: run.scenario.city }, null, 2) + '\n');
  const tl = run.scenario.timeline;
  const tables: [string, HourlyTable][] = [['hourly', run.primary.table]];
  const other = run.primary === run.perfect ? run.rolling : undefined;
  if (other) tables.push(['hourly-rolling', other.table]);
  for (const [name, table] of tables) {
    await writeHourlyCsv(join(dir, `${name}.csv`), table, tl);
    files.push(`${name}.csv`);
    if (o.parquet !== false) {
      await csvToParquet(join(dir, `${name}.csv`), join(dir, `${name}.parquet`));
      files.push(`${name}.parquet`);
    }
  }
  const charts = runCharts(run);
  for (const [name, svg] of Object.entries(charts)) await put(`charts/${name}`, svg);
  await put('report.html', reportHtml(run.kpis, run.manifest, charts));
  return { dir, files };
}

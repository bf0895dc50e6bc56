/** Side-by-side KPIs of several runs (their primary mode's totals), with differences to the first. */
import { comparisonChart } from './charts.ts';
import { HEADLINE_KPIS, type HeadlineKpiId, type KpiReport, type ModeKpis, type TotalKpis } from './kpis.ts';

export interface CompareRow {
  kpi: string;
  unit: string;
  values: (number | null)[];
  /** Value minus the first run's value, per run (first: 0). */
  diff: (number | null)[];
  /** Relative difference to the first run, per run. */
  rel: (number | null)[];
}

export interface Comparison {
  runs: string[];
  rows: CompareRow[];
}

const primaryOf = (r: KpiReport): ModeKpis => (r.modes[r.primary] ?? r.modes.perfect_foresight ?? r.modes.rolling)!;

/** The compared totals and their labels (the API's `kpi` values, which clients match on). */
const compared: readonly (readonly [HeadlineKpiId, string])[] = [
  ['totalCost', 'total cost'],
  ['lcoh', 'levelised cost of heat'],
  ['investment', 'investment (annualised)'],
  ['fuel', 'fuel'],
  ['electricity', 'electricity'],
  ['co2Cost', 'CO2 cost'],
  ['co2', 'CO2'],
  ['co2Gas', 'CO2 gas'],
  ['co2Electricity', 'CO2 electricity'],
  ['co2Waste', 'CO2 waste'],
  ['wasteHeatShare', 'waste-heat share'],
  ['fossilShare', 'fossil share'],
  ['heatDelivered', 'heat delivered'],
  ['unmetDemand', 'unmet demand'],
  ['curtailment', 'curtailment'],
  ['objective', 'objective'],
  ['gapToPerfectForesight', 'gap to perfect foresight'],
];

export function compareReports(reports: { label: string; kpis: KpiReport }[]): Comparison {
  const runs = reports.map((r) => r.label);
  const modes = reports.map((r) => primaryOf(r.kpis));
  const rows: CompareRow[] = [];
  const push = (kpi: string, unit: string, values: (number | null)[]) => {
    if (values.every((v) => v === null)) return;
    const first = values[0] ?? null;
    rows.push({
      kpi,
      unit,
      values,
      diff: values.map((v) => (v === null || first === null ? null : v - first)),
      rel: values.map((v) => (v === null || first === null || first === 0 ? null : (v - first) / Math.abs(first))),
    });
  };
  for (const [id, kpi] of compared) {
    const { unit, get } = HEADLINE_KPIS[id];
    push(kpi, unit, modes.map((md) => get(md.total, md) ?? null));
  }
  const ids = (f: (t: TotalKpis) => Record<string, number>) => [...new Set(modes.flatMap((m) => Object.keys(f(m.total))))].sort();
  for (const id of ids((t) => t.fullLoadHours)) push(`full-load hours ${id}`, 'h/a', modes.map((m) => m.total.fullLoadHours[id] ?? null));
  for (const id of ids((t) => t.storageCycles)) push(`storage cycles ${id}`, 'cycles', modes.map((m) => m.total.storageCycles[id] ?? null));
  for (const id of ids((t) => t.heatBySourceMWh)) push(`heat from ${id}`, 'MWh', modes.map((m) => m.total.heatBySourceMWh[id] ?? null));
  return { runs, rows };
}

const fmt = (v: number | null, digits = 2) => {
  if (v === null) return '—';
  const a = Math.abs(v);
  if (a >= 1e5) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  return v.toFixed(digits);
};

/** A plain-text table: KPI, unit, one column per run, then Δ and Δ% of each later run against the first. */
export function formatComparison(c: Comparison): string {
  const head = ['KPI', 'unit', ...c.runs, ...c.runs.slice(1).flatMap((r) => [`Δ ${r}`, `Δ% ${r}`])];
  const body = c.rows.map((row) => [
    row.kpi,
    row.unit,
    ...row.values.map((v) => fmt(v)),
    ...row.values.slice(1).flatMap((_, i) => {
      const d = row.diff[i + 1] ?? null;
      const r = row.rel[i + 1] ?? null;
      return [d === null ? '—' : `${d > 0 ? '+' : ''}${fmt(d)}`, r === null ? '—' : `${r > 0 ? '+' : ''}${(r * 100).toFixed(1)}%`];
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}

const chartKpis = ['total cost', 'levelised cost of heat', 'CO2', 'waste-heat share', 'fossil share', 'unmet demand'];

export function comparisonSvg(c: Comparison, title = 'Scenario comparison'): string {
  return comparisonChart({
    title,
    runs: c.runs,
    metrics: c.rows.filter((r) => chartKpis.includes(r.kpi)).map((r) => ({ name: r.kpi, unit: r.unit, values: r.values.map((v) => v ?? 0) })),
  });
}

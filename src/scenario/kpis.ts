/**
 * KPIs per year and in total, from the hourly results. Definitions follow the live engine's
 * DispatchKpis (waste-heat share counts waste-heat sources, the heat-pump source draw and
 * waste-to-energy; fossil share counts gas units; curtailment is renewable curtailment plus
 * heat and electricity dumped). Total cost excludes penalties (unmet demand, dumping) and
 * includes annualised investment; the levelised cost of heat is total cost per MWh of heat
 * delivered, undiscounted.
 */
import { z } from 'zod';
import { round6 } from '../common/round.ts';
import type { City } from '../coupling/model/schema.ts';
import { heatField, K, outputField, type HourlyTable } from './results.ts';
import type { YearSegment } from './time.ts';

const num = z.number();
const rec = z.record(z.string(), num);

export const yearKpisSchema = z.object({
  year: z.number().int(),
  serviceShare: rec.meta({ description: 'Share of the year each phased-in or phased-out unit or storage is in service.' }),
  periods: z.number().int(),
  hours: num,
  objectiveEur: num.meta({ description: 'LP objective: costs plus penalties (perfect foresight) or the realised sum (rolling).' }),
  totalCostEur: num,
  costEur: z.object({ fuel: num, electricity: num, co2: num, variable: num, storage: num, investment: num }),
  penaltyEur: num,
  heatDemandMWh: num,
  heatDeliveredMWh: num,
  heatSuppliedMWh: num,
  lcohEurPerMWh: num,
  co2T: z.object({ total: num, gas: num, electricity: num, waste: num }),
  co2PriceEurPerT: num,
  wasteHeatShare: num,
  fossilShare: num,
  unmetDemandMWh: num,
  unmetHeatMWh: num,
  curtailmentMWh: num,
  heatBySourceMWh: rec,
  fullLoadHours: rec,
  storageCycles: rec,
  capacities: rec.meta({ description: 'Installed capacity per unit (MW) and storage (MWh) in this year; sized ones as the optimiser chose.' }),
});
export type YearKpis = z.infer<typeof yearKpisSchema>;

export const totalKpisSchema = yearKpisSchema.omit({ year: true, serviceShare: true, co2PriceEurPerT: true, capacities: true }).extend({
  years: z.number().int(),
});
export type TotalKpis = z.infer<typeof totalKpisSchema>;

export const modeKpisSchema = z.object({
  mode: z.enum(['perfect_foresight', 'rolling']),
  years: z.array(yearKpisSchema),
  total: totalKpisSchema,
  rolling: z.object({ windowH: num, overlapH: num }).optional(),
  gapToPerfectForesight: num.optional().meta({ description: '(rolling objective − perfect-foresight objective) / |perfect-foresight objective|.' }),
});
export type ModeKpis = z.infer<typeof modeKpisSchema>;

interface HeadlineKpi {
  unit: string;
  /** undefined when the run has no such figure (the gap exists for rolling runs only). */
  get: (t: TotalKpis, m: ModeKpis) => number | undefined;
}

/** How each headline total is read from a run, with its unit: one definition for every view of it (report, comparison). */
export const HEADLINE_KPIS = {
  totalCost: { unit: 'EUR', get: (t) => t.totalCostEur },
  lcoh: { unit: 'EUR/MWh', get: (t) => t.lcohEurPerMWh },
  investment: { unit: 'EUR', get: (t) => t.costEur.investment },
  fuel: { unit: 'EUR', get: (t) => t.costEur.fuel },
  electricity: { unit: 'EUR', get: (t) => t.costEur.electricity },
  co2Cost: { unit: 'EUR', get: (t) => t.costEur.co2 },
  variable: { unit: 'EUR', get: (t) => t.costEur.variable },
  storageCycling: { unit: 'EUR', get: (t) => t.costEur.storage },
  penalties: { unit: 'EUR', get: (t) => t.penaltyEur },
  objective: { unit: 'EUR', get: (t) => t.objectiveEur },
  heatDemand: { unit: 'MWh', get: (t) => t.heatDemandMWh },
  heatDelivered: { unit: 'MWh', get: (t) => t.heatDeliveredMWh },
  co2: { unit: 't', get: (t) => t.co2T.total },
  co2Gas: { unit: 't', get: (t) => t.co2T.gas },
  co2Electricity: { unit: 't', get: (t) => t.co2T.electricity },
  co2Waste: { unit: 't', get: (t) => t.co2T.waste },
  wasteHeatShare: { unit: '%', get: (t) => t.wasteHeatShare * 100 },
  fossilShare: { unit: '%', get: (t) => t.fossilShare * 100 },
  unmetDemand: { unit: 'MWh', get: (t) => t.unmetDemandMWh },
  curtailment: { unit: 'MWh', get: (t) => t.curtailmentMWh },
  gapToPerfectForesight: { unit: '%', get: (_t, m) => (m.gapToPerfectForesight === undefined ? undefined : m.gapToPerfectForesight * 100) },
} satisfies Record<string, HeadlineKpi>;
export type HeadlineKpiId = keyof typeof HEADLINE_KPIS;

export const kpiReportSchema = z.object({
  scenario: z.string(),
  description: z.string().optional(),
  contentHash: z.string(),
  codeVersion: z.string(),
  solver: z.string(),
  seed: z.number().int(),
  resolution: z.string(),
  horizon: z.object({ from: z.string(), to: z.string() }),
  primary: z.enum(['perfect_foresight', 'rolling']),
  modes: z.object({ perfect_foresight: modeKpisSchema.optional(), rolling: modeKpisSchema.optional() }),
  warnings: z.array(z.object({ path: z.string(), message: z.string() })),
});
export type KpiReport = z.infer<typeof kpiReportSchema>;

/** Rounds every number to 1e-6 (and -0 to 0), so KPI files are stable and readable. */
function roundDeep<T>(v: T): T {
  if (typeof v === 'number') return round6(v) as T;
  if (Array.isArray(v)) return v.map(roundDeep) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundDeep(x)])) as T;
  return v;
}

/** Nameplate capacity per unit for full-load hours (MW of its main product), undefined where none applies. */
export function unitCapacity(u: City['units'][number]): number | undefined {
  switch (u.kind) {
    case 'gas_boiler':
    case 'electric_boiler':
    case 'heat_pump':
      return u.heatMaxMw;
    case 'wte_chp':
      return u.wasteMaxTph * u.lhvMWhPerT * u.etaTh;
    case 'gas_chp':
      return u.elMaxMw;
    case 'pv':
    case 'wind':
      return u.capacityMw;
    default:
      return undefined;
  }
}

export interface YearInput {
  seg: YearSegment;
  objective: number;
  co2Price: number;
  /** Sized capacities and annualised investment (EUR) of this year. */
  capacities: Record<string, { size: number; costEur: number }>;
  /** Share of the year's periods each phased unit or storage is in service (1 when absent). */
  service: Record<string, number>;
}

export function yearKpis(city: City, table: HourlyTable, dtH: number, y: YearInput): YearKpis {
  const a = y.seg.offset;
  const b = a + y.seg.periods;
  const e = (f: string) => table.sum(f, a, b) * dtH;
  /** Fields stored per period (EUR, t), summed as they are. */
  const eur = (f: string) => table.sum(f, a, b);
  let heatDemand = 0;
  let unmetHeat = 0;
  let unmetEl = 0;
  let dumped = 0;
  for (const bus of city.buses) {
    if (bus.kind === 'heat') {
      heatDemand += e(`${bus.id}.demand_mw`);
      unmetHeat += e(`${bus.id}.unmet_mw`);
      dumped += e(`${bus.id}.dump_mw`);
    } else if (bus.kind === 'electricity') {
      unmetEl += e(`${bus.id}.unmet_mw`);
      dumped += e(`${bus.id}.dump_mw`);
    }
  }
  const investment = Object.values(y.capacities).reduce((s, c) => s + c.costEur, 0);
  const cost = { fuel: eur(K.fuel), electricity: eur(K.electricity), co2: eur(K.co2cost), variable: eur(K.variable), storage: eur(K.storage), investment };
  const totalCost = cost.fuel + cost.electricity + cost.co2 + cost.variable + cost.storage + cost.investment;
  const heatSupplied = e(K.heatSupplied);
  const delivered = heatDemand - unmetHeat;
  const bySource: Record<string, number> = {};
  const flh: Record<string, number> = {};
  const capacities: Record<string, number> = {};
  for (const u of city.units) {
    const h = e(heatField(u.id));
    if (h > 0) bySource[u.id] = h;
    const cap = y.capacities[u.id]?.size ?? unitCapacity(u);
    // Out of service all year: no capacity, no full-load hours.
    if (cap === undefined || (y.service[u.id] ?? 1) === 0) continue;
    capacities[u.id] = cap;
    flh[u.id] = cap > 1e-9 ? e(outputField(u.id)) / cap : 0;
  }
  const cycles: Record<string, number> = {};
  for (const s of city.storages) {
    const cap = y.capacities[s.id]?.size ?? s.capacityMWh;
    if ((y.service[s.id] ?? 1) === 0) continue;
    capacities[s.id] = cap;
    cycles[s.id] = cap > 1e-9 ? e(`${s.id}.discharge_mw`) / cap : 0;
  }
  const co2 = { gas: eur(K.co2Gas), electricity: eur(K.co2El), waste: eur(K.co2Waste) }; // tonnes per period already
  return roundDeep({
    year: y.seg.year,
    serviceShare: y.service,
    periods: y.seg.periods,
    hours: y.seg.periods * dtH,
    objectiveEur: y.objective,
    totalCostEur: totalCost,
    costEur: cost,
    penaltyEur: eur(K.penalty),
    heatDemandMWh: heatDemand,
    heatDeliveredMWh: delivered,
    heatSuppliedMWh: heatSupplied,
    lcohEurPerMWh: delivered > 0 ? totalCost / delivered : 0,
    co2T: { total: co2.gas + co2.electricity + co2.waste, ...co2 },
    co2PriceEurPerT: y.co2Price,
    wasteHeatShare: heatSupplied > 0 ? e(K.heatWaste) / heatSupplied : 0,
    fossilShare: heatSupplied > 0 ? e(K.heatFossil) / heatSupplied : 0,
    unmetDemandMWh: unmetHeat + unmetEl,
    unmetHeatMWh: unmetHeat,
    curtailmentMWh: e(K.curtailed) + dumped,
    heatBySourceMWh: bySource,
    fullLoadHours: flh,
    storageCycles: cycles,
    capacities,
  });
}

/** Totals over years: sums, and shares and costs per MWh from the sums. */
export function totalKpis(years: YearKpis[], segs: YearSegment[]): TotalKpis {
  const sum = (f: (y: YearKpis) => number) => years.reduce((s, y) => s + f(y), 0);
  const sumRec = (f: (y: YearKpis) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const y of years) for (const [k, v] of Object.entries(f(y))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const heatSupplied = sum((y) => y.heatSuppliedMWh);
  const delivered = sum((y) => y.heatDeliveredMWh);
  const totalCost = sum((y) => y.totalCostEur);
  const share = (f: (y: YearKpis) => number) => (heatSupplied > 0 ? sum((y) => f(y) * y.heatSuppliedMWh) / heatSupplied : 0);
  // Full-load hours per year in service: energy over capacity-years in service.
  const flh: Record<string, number> = {};
  const ids = new Set(years.flatMap((y) => Object.keys(y.fullLoadHours)));
  for (const id of ids) {
    let energy = 0;
    let capYears = 0;
    years.forEach((y, i) => {
      const cap = y.capacities[id] ?? 0;
      energy += (y.fullLoadHours[id] ?? 0) * cap;
      capYears += (cap * (y.serviceShare[id] ?? 1) * segs[i]!.periods) / segs[i]!.periodsInYear;
    });
    flh[id] = capYears > 1e-9 ? energy / capYears : 0;
  }
  return roundDeep({
    years: years.length,
    periods: sum((y) => y.periods),
    hours: sum((y) => y.hours),
    objectiveEur: sum((y) => y.objectiveEur),
    totalCostEur: totalCost,
    costEur: {
      fuel: sum((y) => y.costEur.fuel),
      electricity: sum((y) => y.costEur.electricity),
      co2: sum((y) => y.costEur.co2),
      variable: sum((y) => y.costEur.variable),
      storage: sum((y) => y.costEur.storage),
      investment: sum((y) => y.costEur.investment),
    },
    penaltyEur: sum((y) => y.penaltyEur),
    heatDemandMWh: sum((y) => y.heatDemandMWh),
    heatDeliveredMWh: delivered,
    heatSuppliedMWh: heatSupplied,
    lcohEurPerMWh: delivered > 0 ? totalCost / delivered : 0,
    co2T: { total: sum((y) => y.co2T.total), gas: sum((y) => y.co2T.gas), electricity: sum((y) => y.co2T.electricity), waste: sum((y) => y.co2T.waste) },
    wasteHeatShare: share((y) => y.wasteHeatShare),
    fossilShare: share((y) => y.fossilShare),
    unmetDemandMWh: sum((y) => y.unmetDemandMWh),
    unmetHeatMWh: sum((y) => y.unmetHeatMWh),
    curtailmentMWh: sum((y) => y.curtailmentMWh),
    heatBySourceMWh: sumRec((y) => y.heatBySourceMWh),
    fullLoadHours: flh,
    storageCycles: sumRec((y) => y.storageCycles),
  });
}

/**
 * Scenario files: a city model (or changes to one), a horizon, profiles, year paths, phase-in
 * and phase-out dates, optional capacity sizing and how to run. Validated by zod; semantic
 * checks that need the city (ids, input names, CSV columns) live in load.ts.
 *
 * Units as in the city model: MW, MWh, EUR/MWh, EUR/t, degC. Dates are UTC: a year (2030 = 1
 * January 2030 00:00), a date (2030-07-01) or a date-time (2030-07-01T06:00:00Z).
 */
import { z } from 'zod';

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:Z|\+00:00)?)?$/;

/** Epoch ms (UTC) of a year number or ISO date / date-time; undefined when malformed. */
export function parseScenarioDate(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1900 && v <= 2200 ? Date.UTC(v, 0, 1) : undefined;
  const m = DATE.exec(v.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? 0 : Number(x)));
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  const back = new Date(ms);
  // Rejects 2030-02-30 and 25:00 instead of rolling them over.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi) return undefined;
  if (y! < 1900 || y! > 2200) return undefined;
  return ms;
}

export const scenarioDateSchema = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const ms = parseScenarioDate(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a year (2030), a date (2030-07-01) or a UTC date-time (2030-07-01T06:00Z), got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'A year (1 January, 00:00 UTC), an ISO date or a UTC date-time.' });

/** A value that changes by year: a constant, or `{year: value}` interpolated linearly between years and held flat outside. */
export const yearPathSchema = z
  .union([
    z.number(),
    z.record(z.string().regex(/^\d{4}$/, 'year keys are four-digit years'), z.number()).refine((r) => Object.keys(r).length > 0, 'give at least one year'),
  ])
  .meta({ description: 'A number, or {year: value}: linear between the given years, flat before the first and after the last.' });
export type YearPath = z.infer<typeof yearPathSchema>;

/** Value of a year path in a year. */
export function pathValue(path: YearPath, year: number): number {
  if (typeof path === 'number') return path;
  const pts = Object.entries(path)
    .map(([k, v]) => [Number(k), v] as const)
    .sort((a, b) => a[0] - b[0]);
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (year <= first[0]) return first[1];
  if (year >= last[0]) return last[1];
  for (let i = 1; i < pts.length; i++) {
    const [y1, v1] = pts[i]!;
    const [y0, v0] = pts[i - 1]!;
    if (year <= y1) return v0 + ((v1 - v0) * (year - y0)) / (y1 - y0);
  }
  return last[1];
}

const idSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/, 'ids are 1-48 chars of A-Z a-z 0-9 _ and start with a letter');
/** `component.field` as the city's input registry names it (e.g. `heat.demandMw`). */
const inputNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9]*$/, 'input names are component.field, e.g. heat.demandMw');

export const csvSourceSchema = z
  .object({
    file: z.string().min(1).meta({ description: 'CSV file, relative to the scenario file.' }),
    separator: z.string().length(1).optional().meta({ description: 'Default: detected from the header (; , or tab).' }),
  })
  .strict();

const columnRef = {
  source: idSchema.meta({ description: 'A key of profiles.sources.' }),
  column: z.string().min(1),
  scale: z.number().default(1).meta({ description: 'Multiplies the column (e.g. 0.001 for kW to MW).' }),
  offset: z.number().default(0),
};

export const syntheticWeatherSchema = z
  .object({
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional().meta({ description: 'Default: run.seed.' }),
    meanC: z.number().min(-30).max(40).default(9.5),
    annualAmplitudeK: z.number().min(0).max(30).default(9),
    coldestDayOfYear: z.number().int().min(0).max(365).default(20),
    diurnalAmplitudeK: z.number().min(0).max(15).default(3),
    dailyNoiseK: z.number().min(0).max(15).default(3),
  })
  .strict();

export const temperatureSchema = z.union([z.object(columnRef).strict(), z.object({ synthetic: syntheticWeatherSchema.prefault({}) }).strict()]);

export const sigLinDeTypes = ['EFH', 'MFH', 'GHD'] as const;

export const seriesSchema = z.union([
  z.object(columnRef).strict(),
  z
    .object({
      siglinde: z
        .object({
          type: z.enum(sigLinDeTypes).meta({ description: 'BDEW SigLinDe profile: EFH (single-family), MFH (multi-family), GHD (commerce and services).' }),
          annualMWh: z.number().positive().meta({ description: 'Heat demand per year; each year of the horizon is scaled to it (before year paths).' }),
          variant: z.enum(['33', '34']).default('34'),
          linearPart: z.boolean().default(true).meta({ description: 'Add the SigLinDe linear terms max(mH T + bH, mW T + bW) to the sigmoid.' }),
          hourShape: z.array(z.number().nonnegative()).length(24).optional().meta({ description: 'Relative heat demand per hour of the day (UTC); default: a residential shape.' }),
        })
        .strict(),
    })
    .strict(),
  z.object({ weather: z.literal('temperatureC'), offset: z.number().default(0) }).strict(),
]);
export type SeriesSpec = z.infer<typeof seriesSchema>;

const annuityFields = {
  lifetimeYears: z.number().positive().max(100).optional(),
  interestRate: z.number().min(0).max(1).optional(),
};

export const unitSizeSchema = z
  .object({
    minMw: z.number().min(0).default(0),
    maxMw: z.number().positive().optional().meta({ description: "Default: the unit's heatMaxMw in the city." }),
    annualCostEurPerMw: z.number().min(0).optional().meta({ description: 'Annualised investment per MW and year.' }),
    capexEurPerMw: z.number().min(0).optional().meta({ description: 'Overnight investment per MW, annualised with lifetimeYears and interestRate.' }),
    ...annuityFields,
  })
  .strict();

export const storageSizeSchema = z
  .object({
    minMWh: z.number().min(0).default(0),
    maxMWh: z.number().positive().optional().meta({ description: "Default: the storage's capacityMWh in the city." }),
    annualCostEurPerMWh: z.number().min(0).optional(),
    capexEurPerMWh: z.number().min(0).optional(),
    ...annuityFields,
    powerPerEnergy: z.number().positive().max(10).optional().meta({ description: "Charge and discharge MW per MWh of size; default: the city's chargeMaxMw / capacityMWh." }),
  })
  .strict();

export const unitPlanSchema = z
  .object({
    id: idSchema,
    phaseIn: scenarioDateSchema.optional().meta({ description: 'First instant the unit may run (UTC).' }),
    phaseOut: scenarioDateSchema.optional().meta({ description: 'First instant the unit no longer runs (UTC).' }),
    fossil: z.boolean().optional().meta({ description: 'Default: gas boilers and gas CHPs are fossil.' }),
    size: unitSizeSchema.optional().meta({ description: 'Candidate: the optimiser sizes it (continuous, linear).' }),
  })
  .strict();
export type UnitPlan = z.infer<typeof unitPlanSchema>;

export const storagePlanSchema = z
  .object({
    id: idSchema,
    phaseIn: scenarioDateSchema.optional(),
    phaseOut: scenarioDateSchema.optional(),
    size: storageSizeSchema.optional(),
  })
  .strict();
export type StoragePlan = z.infer<typeof storagePlanSchema>;

export const runModes = ['perfect_foresight', 'rolling', 'both'] as const;
export type RunMode = (typeof runModes)[number];

export const runSettingsSchema = z
  .object({
    mode: z.enum(runModes).default('perfect_foresight'),
    rolling: z
      .object({
        windowH: z.number().min(1).max(8784).default(24).meta({ description: 'Hours committed per step.' }),
        overlapH: z.number().min(0).max(8784).default(24).meta({ description: 'Extra look-ahead hours solved but not committed.' }),
      })
      .strict()
      .prefault({}),
    storageBoundary: z
      .enum(['cyclic', 'carry'])
      .default('cyclic')
      .meta({ description: 'Perfect foresight per year: cyclic (content at the end equals the start, start optimised) or carry (start = previous year’s end).' }),
    warmStartChunkH: z
      .number()
      .int()
      .min(0)
      .max(8784)
      .default(730)
      .meta({ description: 'Perfect foresight: solve chunks of this many hours first and start the year LP from their basis (0: cold start). Changes speed, not the optimum.' }),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1).meta({ description: 'Seed of every random number in the run (synthetic weather).' }),
  })
  .strict();
export type RunSettings = z.infer<typeof runSettingsSchema>;

export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'names are 1-100 chars of A-Z a-z 0-9 . _ - and start with a letter or digit'),
    description: z.string().optional(),
    extends: z.string().optional().meta({ description: 'Another scenario file (relative path); this file overrides only what differs.' }),
    cityFile: z.string().optional().meta({ description: 'City model file (relative path); `city` then holds changes merged into it by id.' }),
    city: z.record(z.string(), z.unknown()).optional().meta({ description: 'The city model inline, or changes to cityFile: objects merge, lists of components merge by id, {id, $remove: true} removes.' }),
    horizon: z
      .object({
        from: scenarioDateSchema,
        to: scenarioDateSchema.optional().meta({ description: 'Exclusive end; default: one year after `from`.' }),
        resolution: z.enum(['1h', '15min']).default('1h'),
      })
      .strict(),
    targetYear: z.number().int().min(1900).max(2200).optional().meta({ description: 'Year by whose end no fossil unit may remain (validator warning).' }),
    co2PriceEurPerT: yearPathSchema.optional().meta({ description: "CO2 price by year; default: the city's co2PriceEurPerT." }),
    paths: z
      .object({
        scale: z.record(inputNameSchema, yearPathSchema).default({}).meta({ description: 'Multiplies an input by year (demand growth or savings, price indices).' }),
        add: z.record(inputNameSchema, yearPathSchema).default({}).meta({ description: 'Adds to an input by year (after scaling).' }),
      })
      .strict()
      .prefault({}),
    profiles: z
      .object({
        sources: z.record(idSchema, csvSourceSchema).default({}),
        weather: z.object({ temperatureC: temperatureSchema.optional() }).strict().prefault({}),
        series: z.record(inputNameSchema, seriesSchema).default({}).meta({ description: 'Time series per input (component.field); inputs without one keep their constant or safe default.' }),
      })
      .strict()
      .prefault({}),
    units: z.array(unitPlanSchema).default([]),
    storages: z.array(storagePlanSchema).default([]),
    phaseMatchYears: z.number().min(0).max(50).default(2).meta({ description: 'A phase-in needs a fossil phase-out within this many years (validator warning).' }),
    run: runSettingsSchema.prefault({}),
  })
  .strict();

export type ScenarioSpec = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** Annualised cost of an overnight investment (annuity factor i(1+i)^n / ((1+i)^n - 1)). */
export function annuity(capex: number, lifetimeYears: number, interestRate: number): number {
  if (interestRate === 0) return capex / lifetimeYears;
  const q = (1 + interestRate) ** lifetimeYears;
  return (capex * interestRate * q) / (q - 1);
}

/**
 * What one dispatch tick returns, defined once in zod (the HTTP API derives its OpenAPI from
 * it). Powers in MW, prices in EUR/MWh, costs in EUR/h, CO2 in t/h, waste in t/h.
 */
import { z } from 'zod';
import { limitNames } from './lp/limits.ts';

const num = z.number();

export const alarmSchema = z
  .object({
    input: z.string().optional().meta({ description: 'Engine input (component.field) the alarm is about.' }),
    level: z.enum(['warning', 'critical']),
    code: z.enum(['stale', 'expired', 'missing', 'rejected', 'unmet_demand', 'solver_fallback', 'solver_failed', 'plan_failed']),
    message: z.string(),
  })
  .meta({ id: 'DispatchAlarm' });

export const setpointSchema = z
  .object({
    kind: z.string(),
    zone: z.string().optional(),
    heatMw: num.meta({ description: 'Heat delivered to its zone.' }),
    elMw: num.meta({ description: 'Electricity: positive produced, negative consumed.' }),
    fuelMw: num.optional().meta({ description: 'Gas burned (lower heating value).' }),
    wasteTph: num.optional(),
    sourceHeatMw: num.optional().meta({ description: 'Heat pump: heat drawn from its source; waste-heat source: heat supplied.' }),
    directMw: num.optional().meta({ description: 'Waste-heat source: heat fed directly to its zone.' }),
    cop: num.optional(),
    curtailedMw: num.optional(),
    importMw: num.optional(),
    exportMw: num.optional(),
    /** Main decision variable of the unit and its bounds this tick (unit depends on kind). */
    output: num,
    lower: num,
    upper: num,
  })
  .meta({ id: 'Setpoint' });

export const flowSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    flowMw: num.meta({ description: 'Net heat sent from `from` towards `to` (negative: the other way).' }),
    forwardMw: num.meta({ description: 'Heat sent from `from` to `to`.' }),
    reverseMw: num.meta({ description: 'Heat sent from `to` to `from`.' }),
    deliveredMw: num.meta({ description: 'Heat arriving at the receiving zone, net of losses; signed like flowMw (negative: arriving at `from`).' }),
    lossMw: num,
    capacityMw: num.meta({ description: 'Capacity in the direction of the flow.' }),
    congested: z.boolean(),
  })
  .meta({ id: 'LinkFlow' });

export const storageStateSchema = z
  .object({
    zone: z.string(),
    socStartMWh: num,
    socMWh: num.meta({ description: 'Content at the end of the tick.' }),
    socFraction: num,
    chargeMw: num,
    dischargeMw: num,
    valueEurPerMWh: num.meta({ description: 'Value of stored heat used this tick.' }),
    valueSource: z.enum(['plan', 'default']),
  })
  .meta({ id: 'StorageState' });

export const busStateSchema = z
  .object({
    kind: z.string(),
    priceEurPerMWh: num.meta({ description: 'Shadow price of the balance (EUR/t for waste).' }),
    demandMw: num,
    supplyMw: num.meta({ description: 'Gas and waste buses: taken from the supply (t/h for waste); 0 elsewhere.' }),
    unmetMw: num,
    dumpMw: num,
  })
  .meta({ id: 'BusState' });

export const explanationSchema = z
  .object({
    status: z.enum(['at_max', 'at_min', 'off', 'marginal', 'unavailable', 'fixed']),
    binding: z.enum(limitNames).nullable().meta({ description: 'The limit that holds the unit where it is, if any.' }),
    marginalCostEurPerMWh: num.meta({ description: 'Cost of one more unit of its main product, by-products valued at their shadow prices.' }),
    priceEurPerMWh: num.meta({ description: 'Shadow price of the bus the main product goes to.' }),
    priceBus: z.string(),
    reducedCost: num.meta({ description: 'LP reduced cost of the main column (EUR/h per unit).' }),
    meritRank: z.number().int().meta({ description: 'Position by marginal cost among units serving the same bus (1 = cheapest).' }),
    meritOf: z.number().int(),
    text: z.string(),
  })
  .meta({ id: 'UnitExplanation' });

export const kpiSchema = z
  .object({
    costEurPerH: num.meta({ description: 'Fuel, energy, variable and CO2 costs minus export and gate-fee revenue; no penalties.' }),
    co2TPerH: num,
    heatSuppliedMw: num.meta({ description: 'Heat produced by units (storage and links excluded).' }),
    wasteHeatShare: num.meta({ description: 'Share of heat supplied from waste-heat sources (direct and as heat-pump source) and waste-to-energy.' }),
    fossilShare: num.meta({ description: 'Share of heat supplied from gas.' }),
    unmetDemandMw: num.meta({ description: 'Heat and electricity demand not met.' }),
    unmetHeatMw: num,
    unmetElectricityMw: num,
    curtailmentMw: num.meta({ description: 'Renewable curtailment plus heat and electricity dumped.' }),
    renewableCurtailedMw: num,
    heatDumpedMw: num,
    penaltyEurPerH: num,
    heatBySourceMw: z.record(z.string(), num),
  })
  .meta({ id: 'DispatchKpis' });

export const inputStateSchema = z.object({
  value: num,
  state: z.enum(['constant', 'fresh', 'stale', 'expired', 'missing']),
});

export const dispatchResultSchema = z
  .object({
    ts: z.number().int().meta({ description: 'Tick time, epoch ms.' }),
    tick: z.number().int(),
    city: z.string(),
    status: z.enum(['optimal', 'failed']),
    solver: z.enum(['simplex', 'highs', 'none']),
    objective: num.nullable().meta({ description: 'LP objective (EUR/h): costs, penalties and the change of stored value; null when no optimum was found.' }),
    iterations: z.number().int(),
    solveUs: num,
    tickUs: num,
    timingsUs: z
      .object({ inputs: num, update: num, solve: num, report: num })
      .meta({ description: 'Where the tick spent its time: resolving inputs, updating the LP, solving, building this result.' }),
    dtS: num,
    setpoints: z.record(z.string(), setpointSchema),
    flows: z.record(z.string(), flowSchema),
    storage: z.record(z.string(), storageStateSchema),
    buses: z.record(z.string(), busStateSchema),
    prices: z.object({
      heat: z.record(z.string(), num),
      electricity: num.nullable().meta({ description: 'Null when the city has no electricity bus.' }),
      gas: num.optional(),
    }),
    kpis: kpiSchema,
    explanations: z.record(z.string(), explanationSchema),
    alarms: z.array(alarmSchema),
    inputs: z.record(z.string(), inputStateSchema),
    plan: z.object({ at: z.number().nullable(), horizonH: z.number().int(), solveMs: num.nullable() }),
  })
  .meta({ id: 'DispatchResult' });

/** The small message on qs/v1/{tenant}/dispatch/kpis: enough for a status light or a tile. */
export const dispatchKpiMessageSchema = dispatchResultSchema
  .pick({ ts: true, tick: true, status: true, objective: true, kpis: true, prices: true })
  .extend({
    alarms: z
      .object({ critical: z.number().int().nonnegative(), warning: z.number().int().nonnegative() })
      .meta({ description: "How many of the tick's alarms are critical and how many warnings; the full list is in the latest result." }),
  })
  .meta({ id: 'DispatchKpiMessage' });

/** Advisory: the engine only recommends. Automatic: it also sends the unit's setpoints to its device. */
export const unitModes = ['advisory', 'automatic'] as const;
/** What a unit's recommended value means: which of its quantities a setpoint command sets. */
export const setpointFields = ['heatMw', 'elMw', 'sourceHeatMw', 'output', 'netChargeMw'] as const;

/** The message on qs/v1/{tenant}/dispatch/units/{unit}: one unit's (or storage's) recommendation, sent by exception. */
export const dispatchUnitMessageSchema = dispatchResultSchema
  .pick({ ts: true, tick: true })
  .extend({
    unit: z.string().meta({ description: 'Unit or storage id of the city model.' }),
    kind: z.string().meta({ description: 'Unit kind (heat_pump, gas_chp, ...), or storage.' }),
    zone: z.string().optional(),
    field: z.enum(setpointFields).meta({ description: 'What valueMw is: heat output, electric power (consumers: positive input), source heat, main output, or net charging power (storage).' }),
    valueMw: num.meta({ description: 'The recommended setpoint.' }),
    mode: z.enum(unitModes).meta({ description: 'automatic: the server also sends it to the device as a setpoint command.' }),
    status: explanationSchema.shape.status.optional().meta({ description: 'Where it runs between its limits; the explanation in the latest result says why.' }),
    binding: explanationSchema.shape.binding.optional(),
  })
  .meta({ id: 'DispatchUnitMessage' });

/** The message on qs/v1/{tenant}/dispatch/alarms: the tick's alarms, sent when the set of them changed. */
export const dispatchAlarmsMessageSchema = dispatchResultSchema.pick({ ts: true, tick: true, status: true, alarms: true }).meta({ id: 'DispatchAlarmsMessage' });

export type DispatchResult = z.infer<typeof dispatchResultSchema>;
export type DispatchAlarmsMessage = z.infer<typeof dispatchAlarmsMessageSchema>;
export type DispatchUnitMessage = z.infer<typeof dispatchUnitMessageSchema>;
export type DispatchKpiMessage = z.infer<typeof dispatchKpiMessageSchema>;
export type Setpoint = z.infer<typeof setpointSchema>;
export type LinkFlow = z.infer<typeof flowSchema>;
export type StorageState = z.infer<typeof storageStateSchema>;
export type BusState = z.infer<typeof busStateSchema>;
export type UnitExplanation = z.infer<typeof explanationSchema>;
export type DispatchKpis = z.infer<typeof kpiSchema>;
export type DispatchAlarm = z.infer<typeof alarmSchema>;

/**
 * The city model: components as plain data, validated by zod. Optimisation lives in ../lp;
 * nothing here knows about the solver (PyPSA-style split of components and optimisation).
 *
 * Units inside the engine: MW, MWh, degC, EUR/MWh, EUR/t, t/h, t CO2/MWh. A field's unit is
 * in its name. A time-varying field is either a constant (in the field's unit) or a binding to
 * one ingest metric `{device, metric}`; a binding's `default`, `min` and `max` are in the
 * binding's `unit`, which is the canonical unit ingest stores (power in kW, ...). The engine
 * converts at the binding, explicitly.
 */
import { z } from 'zod';
import { canonicalUnit, metricNameSchema } from '../../contract/index.ts';

/** Component ids also name LP rows and columns, so they stay within what LP and MPS accept. */
export const componentIdSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/, 'ids are 1-48 chars of A-Z a-z 0-9 _ and start with a letter (they name LP rows and columns)');

/** What an input measures, in engine units. */
export type InputQuantity = 'power' | 'temperature' | 'price' | 'co2_intensity' | 'fraction' | 'mass_flow' | 'soc';

/** Reading units a binding may declare for each engine quantity, with the factor into engine units. */
export const bindingUnits: Record<InputQuantity, Record<string, number>> = {
  power: { [canonicalUnit.power]: 1e-3 }, // kW -> MW
  temperature: { [canonicalUnit.temperature]: 1 },
  price: { [canonicalUnit.price]: 1 },
  co2_intensity: { [canonicalUnit.co2_intensity]: 1e-3 }, // g/kWh -> t/MWh
  fraction: { [canonicalUnit.ratio]: 1e-2 }, // % -> 0..1
  mass_flow: { [canonicalUnit.mass_flow]: 1 },
  soc: { [canonicalUnit.ratio]: 1e-2, [canonicalUnit.energy]: 1e-3 }, // % -> 0..1, or kWh -> MWh
};

const defaultBindingUnit: Record<InputQuantity, string> = {
  power: canonicalUnit.power,
  temperature: canonicalUnit.temperature,
  price: canonicalUnit.price,
  co2_intensity: canonicalUnit.co2_intensity,
  fraction: canonicalUnit.ratio,
  mass_flow: canonicalUnit.mass_flow,
  soc: canonicalUnit.ratio,
};

export const bindingSchema = z
  .object({
    device: z.string().min(1).max(129).optional().meta({ description: 'Device key as stored by ingest (`gateway` or `gateway/subdevice`).' }),
    devicePrefix: z
      .string()
      .min(1)
      .max(129)
      .optional()
      .meta({ description: 'All devices whose key starts with this (e.g. every heat meter of a zone), combined by `aggregate`.' }),
    aggregate: z.enum(['sum', 'mean']).optional().meta({ description: 'How readings of a devicePrefix binding combine (default sum).' }),
    metric: metricNameSchema,
    unit: z.string().optional().meta({ description: 'Canonical unit the readings arrive in (as stored by ingest).' }),
    default: z.number().meta({ description: 'Safe value (in `unit`) used when the input is missing or too old.' }),
    ttlS: z.number().positive().optional().meta({ description: 'Fresh for this long; after it the last good value is used (warning).' }),
    maxAgeS: z.number().positive().optional().meta({ description: 'After this the safe default is used (critical alarm).' }),
    min: z.number().optional().meta({ description: 'Readings below are rejected as physically impossible (in `unit`).' }),
    max: z.number().optional(),
    profile: z
      .array(z.number().nonnegative())
      .length(24)
      .optional()
      .meta({
        description:
          'Typical value (in `unit`) for each hour of the day (UTC), for the look-ahead plan: forecast = profile + (latest - profile now), the deviation decaying with a 4 h time constant. Without a profile the plan holds the latest value.',
      }),
  })
  .strict();
export type Binding = z.infer<typeof bindingSchema>;

const numberOrBinding = z.union([z.number(), bindingSchema]);
export type InputSpec = z.infer<typeof numberOrBinding>;

/** A time-varying field of the given quantity; the quantity is checked against the binding's unit. */
function input(quantity: InputQuantity) {
  return numberOrBinding
    .superRefine((v, ctx) => {
      if (typeof v === 'number') return;
      const unit = v.unit ?? defaultBindingUnit[quantity];
      const allowed = Object.keys(bindingUnits[quantity]);
      if (!allowed.includes(unit)) {
        ctx.addIssue({
          code: 'custom',
          path: ['unit'],
          message: `readings of this ${quantity} input arrive in ${allowed.join(' or ')} (canonical units from ingest), not "${unit}"`,
        });
      }
      if ((v.device === undefined) === (v.devicePrefix === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['device'], message: 'a binding needs exactly one of device or devicePrefix' });
      }
      if (v.aggregate !== undefined && v.devicePrefix === undefined) {
        ctx.addIssue({ code: 'custom', path: ['aggregate'], message: 'aggregate applies to devicePrefix bindings only' });
      }
      if (v.ttlS !== undefined && v.maxAgeS !== undefined && v.maxAgeS < v.ttlS) {
        ctx.addIssue({ code: 'custom', path: ['maxAgeS'], message: `maxAgeS (${v.maxAgeS}) must be at least ttlS (${v.ttlS})` });
      }
    })
    .meta({ inputQuantity: quantity });
}

const penaltyOverrides = {
  unmetPenaltyEurPerMWh: z.number().positive().optional(),
  dumpPenaltyEurPerMWh: z.number().min(0).optional(),
};

// ---------------------------------------------------------------- buses

export const heatBusSchema = z
  .object({
    id: componentIdSchema,
    kind: z.literal('heat'),
    name: z.string().optional(),
    demandMw: input('power'),
    supplyTempC: input('temperature').default(80),
    ...penaltyOverrides,
  })
  .strict();

export const electricityBusSchema = z
  .object({
    id: componentIdSchema,
    kind: z.literal('electricity'),
    name: z.string().optional(),
    demandMw: input('power').default(0),
    ...penaltyOverrides,
  })
  .strict();

export const gasBusSchema = z
  .object({
    id: componentIdSchema,
    kind: z.literal('gas'),
    name: z.string().optional(),
    priceEurPerMWh: input('price'),
    co2TPerMWh: z.number().min(0).default(0.202),
    capacityMw: z.number().positive().optional().meta({ description: 'Supply limit; default: what all gas units can burn.' }),
    ...penaltyOverrides,
  })
  .strict();

export const wasteBusSchema = z
  .object({
    id: componentIdSchema,
    kind: z.literal('waste'),
    name: z.string().optional(),
    availableTph: input('mass_flow'),
    gateFeeEurPerT: z.number().default(0).meta({ description: 'Earned per tonne taken from the stream.' }),
    mustDispose: z.boolean().default(false).meta({ description: 'All available waste must be burned or diverted.' }),
    divertCostEurPerT: z.number().min(0).default(200).meta({ description: 'Cost of waste not burned (diverted elsewhere).' }),
    unmetPenaltyEurPerMWh: z.number().positive().optional(),
  })
  .strict();

export const wasteHeatBusSchema = z
  .object({
    id: componentIdSchema,
    kind: z.literal('waste_heat'),
    name: z.string().optional(),
    temperatureC: input('temperature'),
    ...penaltyOverrides,
  })
  .strict();

export const busSchema = z.discriminatedUnion('kind', [heatBusSchema, electricityBusSchema, gasBusSchema, wasteBusSchema, wasteHeatBusSchema]);
export type Bus = z.infer<typeof busSchema>;
export type BusKind = Bus['kind'];

// ---------------------------------------------------------------- units

const common = {
  id: componentIdSchema,
  name: z.string().optional(),
  availability: input('fraction').default(1).meta({ description: '0..1 of the rated maximum; 0 takes the unit out.' }),
  mustRun: z.boolean().default(false).meta({ description: 'Runs at its available maximum (ramps permitting).' }),
};

export const gasBoilerSchema = z
  .object({
    ...common,
    kind: z.literal('gas_boiler'),
    zone: componentIdSchema,
    gasBus: componentIdSchema.optional(),
    heatMaxMw: z.number().positive(),
    heatMinMw: z.number().min(0).default(0),
    efficiency: z.number().gt(0).max(1.1).default(0.92),
    varCostEurPerMWh: z.number().default(1.1),
    rampMwPerMin: z.number().positive().optional(),
  })
  .strict();

export const electricBoilerSchema = z
  .object({
    ...common,
    kind: z.literal('electric_boiler'),
    zone: componentIdSchema,
    elBus: componentIdSchema.optional(),
    heatMaxMw: z.number().positive(),
    heatMinMw: z.number().min(0).default(0),
    efficiency: z.number().gt(0).max(1).default(0.99),
    varCostEurPerMWh: z.number().default(0.5),
    rampMwPerMin: z.number().positive().optional(),
  })
  .strict();

export const heatPumpSchema = z
  .object({
    ...common,
    kind: z.literal('heat_pump'),
    zone: componentIdSchema,
    elBus: componentIdSchema.optional(),
    sourceBus: componentIdSchema.optional().meta({ description: 'Waste-heat bus the heat pump draws from; its temperature is the source temperature.' }),
    sourceTempC: input('temperature').optional().meta({ description: 'Source temperature for ambient sources (air, river) without a bus.' }),
    sinkTempC: input('temperature').optional().meta({ description: "Default: the zone's supply temperature." }),
    heatMaxMw: z.number().positive(),
    heatMinMw: z.number().min(0).default(0),
    carnotEfficiency: z.number().gt(0).max(1).default(0.5),
    copMin: z.number().min(1).default(1),
    copMax: z.number().min(1).default(7),
    sinkApproachK: z.number().min(0).default(3),
    sourceApproachK: z.number().min(0).default(3),
    varCostEurPerMWh: z.number().default(1.2),
    rampMwPerMin: z.number().positive().optional(),
  })
  .strict();

export const wasteHeatSourceSchema = z
  .object({
    ...common,
    kind: z.literal('waste_heat_source'),
    bus: componentIdSchema,
    availableMw: input('power'),
    varCostEurPerMWh: z.number().default(0),
    directZone: componentIdSchema.optional().meta({ description: 'Zone fed directly through a heat exchanger when the source is hot enough.' }),
    directMaxMw: z.number().positive().optional(),
    directApproachK: z.number().min(0).default(2).meta({ description: 'Source must exceed the zone supply temperature by this much for direct use.' }),
  })
  .strict();

export const wteChpSchema = z
  .object({
    ...common,
    kind: z.literal('wte_chp'),
    zone: componentIdSchema,
    elBus: componentIdSchema.optional(),
    wasteBus: componentIdSchema.optional(),
    wasteMaxTph: z.number().positive(),
    wasteMinTph: z.number().min(0).default(0),
    lhvMWhPerT: z.number().positive().default(2.8),
    etaEl: z.number().min(0).max(1).default(0.2),
    etaTh: z.number().min(0).max(1).default(0.6),
    varCostEurPerT: z.number().default(15),
    co2TPerT: z.number().min(0).default(0.35).meta({ description: 'Fossil CO2 per tonne burned (priced at the CO2 price).' }),
    rampTphPerMin: z.number().positive().optional(),
  })
  .strict();

export const gasChpSchema = z
  .object({
    ...common,
    kind: z.literal('gas_chp'),
    mode: z.enum(['back_pressure', 'extraction']),
    zone: componentIdSchema,
    elBus: componentIdSchema.optional(),
    gasBus: componentIdSchema.optional(),
    elMaxMw: z.number().positive().meta({ description: 'Electrical maximum (extraction: in full condensing mode).' }),
    elMinMw: z.number().min(0).default(0),
    etaEl: z.number().gt(0).max(1).meta({ description: 'Electrical efficiency (extraction: in condensing mode).' }),
    etaTh: z.number().min(0).max(1).optional().meta({ description: 'Thermal efficiency (back-pressure).' }),
    powerToHeat: z.number().positive().optional().meta({ description: 'Extraction: P/Q on the back-pressure line.' }),
    beta: z.number().min(0).max(1).optional().meta({ description: 'Extraction: electricity lost per unit of heat extracted (iso-fuel slope).' }),
    heatMaxMw: z.number().positive().optional(),
    varCostEurPerMWhEl: z.number().default(4),
    rampMwPerMin: z.number().positive().optional().meta({ description: 'Electrical ramp.' }),
  })
  .strict()
  .superRefine((u, ctx) => {
    if (u.mode === 'back_pressure' && u.etaTh === undefined) ctx.addIssue({ code: 'custom', path: ['etaTh'], message: 'a back-pressure CHP needs etaTh' });
    if (u.mode === 'extraction') {
      if (u.powerToHeat === undefined) ctx.addIssue({ code: 'custom', path: ['powerToHeat'], message: 'an extraction CHP needs powerToHeat (back-pressure line)' });
      if (u.beta === undefined) ctx.addIssue({ code: 'custom', path: ['beta'], message: 'an extraction CHP needs beta (iso-fuel line slope)' });
    }
    if (u.elMinMw > u.elMaxMw) ctx.addIssue({ code: 'custom', path: ['elMinMw'], message: 'elMinMw exceeds elMaxMw' });
  });

const renewable = (kind: 'pv' | 'wind') =>
  z
    .object({
      ...common,
      kind: z.literal(kind),
      bus: componentIdSchema.optional(),
      capacityMw: z.number().positive(),
      availableMw: input('power'),
      curtailPenaltyEurPerMWh: z.number().min(0).optional(),
    })
    .strict();
export const pvSchema = renewable('pv');
export const windSchema = renewable('wind');

export const gridSchema = z
  .object({
    ...common,
    kind: z.literal('grid'),
    bus: componentIdSchema.optional(),
    importPriceEurPerMWh: input('price'),
    exportPriceEurPerMWh: input('price').optional().meta({ description: 'Default: the import price.' }),
    importFeeEurPerMWh: z.number().min(0).default(0).meta({ description: 'Network charges and levies on import.' }),
    exportFeeEurPerMWh: z.number().min(0).default(0),
    co2TPerMWh: input('co2_intensity'),
    importMaxMw: z.number().min(0),
    exportMaxMw: z.number().min(0),
  })
  .strict();

export const unitSchema = z.discriminatedUnion('kind', [
  gasBoilerSchema,
  electricBoilerSchema,
  heatPumpSchema,
  wasteHeatSourceSchema,
  wteChpSchema,
  gasChpSchema,
  pvSchema,
  windSchema,
  gridSchema,
]);
export type Unit = z.infer<typeof unitSchema>;
export type UnitKind = Unit['kind'];

// ---------------------------------------------------------------- storage and links

export const storageSchema = z
  .object({
    id: componentIdSchema,
    name: z.string().optional(),
    zone: componentIdSchema,
    capacityMWh: z.number().positive(),
    chargeMaxMw: z.number().positive(),
    dischargeMaxMw: z.number().positive(),
    etaCharge: z.number().gt(0).max(1).default(0.98),
    etaDischarge: z.number().gt(0).max(1).default(0.98),
    lossPerH: z.number().min(0).max(0.5).default(0.001).meta({ description: 'Standing loss, fraction of content per hour.' }),
    soc: input('soc').meta({ description: 'State of charge: a fraction 0..1 as constant; readings in % or kWh.' }),
    cycleCostEurPerMWh: z.number().min(0).default(0.1).meta({ description: 'Per MWh charged and per MWh discharged.' }),
    valueEurPerMWh: z.number().default(30).meta({ description: 'Value of stored heat until the look-ahead plan provides one.' }),
    availability: input('fraction').default(1),
  })
  .strict();
export type Storage = z.infer<typeof storageSchema>;

export const linkSchema = z
  .object({
    id: componentIdSchema,
    name: z.string().optional(),
    from: componentIdSchema,
    to: componentIdSchema,
    capacityMw: z.number().positive(),
    reverseCapacityMw: z.number().min(0).optional().meta({ description: 'Default: capacityMw.' }),
    lossFraction: z.number().min(0).max(0.5).default(0.02),
    varCostEurPerMWh: z.number().min(0).default(0.1).meta({ description: 'Pumping cost per MWh sent.' }),
    availability: input('fraction').default(1),
  })
  .strict();
export type Link = z.infer<typeof linkSchema>;

// ---------------------------------------------------------------- city

export const penaltiesSchema = z
  .object({
    unmetHeatEurPerMWh: z.number().positive().default(5000),
    dumpHeatEurPerMWh: z.number().min(0).default(500),
    unmetElectricityEurPerMWh: z.number().positive().default(5000),
    dumpElectricityEurPerMWh: z.number().min(0).default(500),
    unmetGasEurPerMWh: z.number().positive().default(5000),
    unmetWasteEurPerT: z.number().positive().default(5000),
    unmetWasteHeatEurPerMWh: z.number().positive().default(5000),
    curtailRenewableEurPerMWh: z.number().min(0).default(1),
  })
  .strict();

export const citySchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    tickS: z.number().positive().max(3600).default(10).meta({ description: 'Nominal tick interval; ramps and storage use the actual interval.' }),
    co2PriceEurPerT: z.number().min(0).default(80),
    inputDefaults: z
      .object({
        ttlS: z.number().positive().default(60),
        maxAgeS: z.number().positive().default(300),
      })
      .strict()
      .prefault({}),
    penalties: penaltiesSchema.prefault({}),
    planning: z
      .object({
        horizonH: z.number().int().min(2).max(168).default(24),
        replanS: z.number().positive().default(900),
        terminalShortfallEurPerMWh: z.number().min(0).default(1000).meta({ description: 'Penalty per MWh the plan ends below the starting content.' }),
      })
      .strict()
      .prefault({}),
    buses: z.array(busSchema).min(1),
    units: z.array(unitSchema).default([]),
    storages: z.array(storageSchema).default([]),
    links: z.array(linkSchema).default([]),
  })
  .strict()
  .superRefine(checkReferences);

export type City = z.infer<typeof citySchema>;
export type CityInput = z.input<typeof citySchema>;

type RefCtx = z.core.$RefinementCtx<City>;

function checkReferences(city: City, ctx: RefCtx): void {
  const kindOf = new Map<string, string>();
  const seen = new Map<string, string>();
  const claim = (id: string, path: (string | number)[]) => {
    const prev = seen.get(id);
    if (prev) ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate id "${id}" (also used at ${prev})` });
    else seen.set(id, path.join('.'));
  };
  city.buses.forEach((b, i) => {
    claim(b.id, ['buses', i]);
    kindOf.set(b.id, b.kind);
  });
  city.units.forEach((u, i) => claim(u.id, ['units', i]));
  city.storages.forEach((s, i) => claim(s.id, ['storages', i]));
  city.links.forEach((l, i) => claim(l.id, ['links', i]));

  const countKind = (k: BusKind) => city.buses.filter((b) => b.kind === k).length;
  const ref = (path: (string | number)[], id: string | undefined, kind: BusKind, required: boolean) => {
    if (id === undefined) {
      if (!required) return;
      const n = countKind(kind);
      if (n !== 1) ctx.addIssue({ code: 'custom', path, message: n === 0 ? `needs a ${kind} bus but the city has none` : `the city has ${n} ${kind} buses; name one` });
      return;
    }
    const k = kindOf.get(id);
    if (k === undefined) ctx.addIssue({ code: 'custom', path, message: `unknown bus "${id}"` });
    else if (k !== kind) ctx.addIssue({ code: 'custom', path, message: `"${id}" is a ${k} bus, expected a ${kind} bus` });
  };

  city.units.forEach((u, i) => {
    const p = (f: string) => ['units', i, f];
    switch (u.kind) {
      case 'gas_boiler':
        ref(p('zone'), u.zone, 'heat', true);
        ref(p('gasBus'), u.gasBus, 'gas', true);
        if (u.heatMinMw > u.heatMaxMw) ctx.addIssue({ code: 'custom', path: p('heatMinMw'), message: 'heatMinMw exceeds heatMaxMw' });
        break;
      case 'electric_boiler':
        ref(p('zone'), u.zone, 'heat', true);
        ref(p('elBus'), u.elBus, 'electricity', true);
        if (u.heatMinMw > u.heatMaxMw) ctx.addIssue({ code: 'custom', path: p('heatMinMw'), message: 'heatMinMw exceeds heatMaxMw' });
        break;
      case 'heat_pump':
        ref(p('zone'), u.zone, 'heat', true);
        ref(p('elBus'), u.elBus, 'electricity', true);
        if (u.sourceBus !== undefined) ref(p('sourceBus'), u.sourceBus, 'waste_heat', true);
        if ((u.sourceBus === undefined) === (u.sourceTempC === undefined)) {
          ctx.addIssue({ code: 'custom', path: p('sourceBus'), message: 'a heat pump needs exactly one of sourceBus (waste heat) or sourceTempC (ambient source)' });
        }
        if (u.copMin > u.copMax) ctx.addIssue({ code: 'custom', path: p('copMin'), message: 'copMin exceeds copMax' });
        if (u.heatMinMw > u.heatMaxMw) ctx.addIssue({ code: 'custom', path: p('heatMinMw'), message: 'heatMinMw exceeds heatMaxMw' });
        break;
      case 'waste_heat_source':
        ref(p('bus'), u.bus, 'waste_heat', true);
        if (u.directZone !== undefined) ref(p('directZone'), u.directZone, 'heat', true);
        break;
      case 'wte_chp':
        ref(p('zone'), u.zone, 'heat', true);
        ref(p('elBus'), u.elBus, 'electricity', true);
        ref(p('wasteBus'), u.wasteBus, 'waste', true);
        if (u.wasteMinTph > u.wasteMaxTph) ctx.addIssue({ code: 'custom', path: p('wasteMinTph'), message: 'wasteMinTph exceeds wasteMaxTph' });
        break;
      case 'gas_chp':
        ref(p('zone'), u.zone, 'heat', true);
        ref(p('elBus'), u.elBus, 'electricity', true);
        ref(p('gasBus'), u.gasBus, 'gas', true);
        break;
      case 'pv':
      case 'wind':
      case 'grid':
        ref(p('bus'), u.bus, 'electricity', true);
        break;
    }
  });
  city.storages.forEach((s, i) => ref(['storages', i, 'zone'], s.zone, 'heat', true));
  city.links.forEach((l, i) => {
    ref(['links', i, 'from'], l.from, 'heat', true);
    ref(['links', i, 'to'], l.to, 'heat', true);
    if (l.from === l.to) ctx.addIssue({ code: 'custom', path: ['links', i, 'to'], message: 'a link needs two different zones' });
  });
}

/** Resolves an optional bus reference to the one bus of that kind (validated above). */
export function busOf(city: City, id: string | undefined, kind: BusKind): string {
  if (id !== undefined) return id;
  const b = city.buses.find((x) => x.kind === kind);
  if (!b) throw new Error(`no ${kind} bus`);
  return b.id;
}

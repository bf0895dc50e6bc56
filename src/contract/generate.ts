/**
 * Generates the published gateway contract in firmware-specs/ from the zod schemas:
 * JSON Schemas, the AsyncAPI document, example payloads, and the generated tables inside
 * GATEWAY-SPEC.md. Everything except writeSpecs/checkSpecs is pure and deterministic, so a
 * test can regenerate in memory and compare with the files on disk.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema, type Config } from '../config/schema.ts';
import { dispatchAlarmsMessageSchema, dispatchKpiMessageSchema, dispatchResultSchema, dispatchUnitMessageSchema } from '../coupling/result.ts';
import { birthPayloadSchema, contractLimits, payloadSchemas, sampleSchema, type DeviceType } from './payloads.ts';
import {
  SERVER_TOPIC_IDS,
  TOPIC_ROOT,
  TOPIC_VERSION,
  dispatchPublishOptions,
  dispatchTopic,
  dispatchTopicSuffixes,
  messageKinds,
  type DispatchTopicSuffix,
  type MessageKind,
} from './topics.ts';
import { canonicalUnit, knownUnits, normalise, quantityOf, type Quantity } from './units.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export const defaultSpecsDir = fileURLToPath(new URL('../../firmware-specs/', import.meta.url));
export const gatewaySpecFile = 'GATEWAY-SPEC.md';
export const schemaBaseUrl = `https://querstrom.org/schemas/${TOPIC_VERSION}/`;
const jsonSchemaDialect = 'https://json-schema.org/draft/2020-12/schema';
/** Directories whose content the generator owns completely (stray files there are stale). */
const generatedDirs = ['schemas', 'examples'];

// ---------------------------------------------------------------------------------------
// Per-kind transport rules: the single source for the AsyncAPI document and the spec table.

export interface KindRule {
  direction: 'device-to-server' | 'server-to-device';
  qos: 0 | 1 | 2;
  retain: boolean;
  summary: string;
}

export const kindRules: Record<MessageKind, KindRule> = {
  data: { direction: 'device-to-server', qos: 1, retain: false, summary: 'Readings: one or many timestamped samples, each with one or many metrics.' },
  birth: { direction: 'device-to-server', qos: 1, retain: false, summary: 'Sent after every connect: device type, firmware, sample interval and the unit of every metric.' },
  state: { direction: 'device-to-server', qos: 1, retain: true, summary: 'online at connect; offline as the last will. Retained.' },
  cmd: { direction: 'server-to-device', qos: 1, retain: false, summary: 'Setpoints (automatic mode) and notices of rejected messages.' },
  ack: { direction: 'device-to-server', qos: 1, retain: false, summary: 'The result of a setpoint command, correlated by its id.' },
};

export function schemaId(kind: MessageKind): string {
  return `${schemaBaseUrl}${kind}.schema.json`;
}

// ---------------------------------------------------------------------------------------
// Server topics that integrations read (read-only API token login): the engine's results.

export interface DispatchTopicRule {
  /** Message name in the AsyncAPI document. */
  message: string;
  schema: z.ZodType;
  summary: string;
  /** The topic, with {tenant} (and {unit}) for its variable levels. */
  address: string;
  /** When the server publishes it. */
  when: string;
  /** What the server sends there, for the operation's summary. */
  sends: string;
}

const everyTick = 'after every tick';

export const dispatchTopicRules: Record<DispatchTopicSuffix, DispatchTopicRule> = {
  latest: {
    message: 'dispatchResult',
    schema: dispatchResultSchema,
    summary: 'The whole result of the last tick: setpoints, link flows, storage, bus balances, prices, KPIs, explanations, alarms and inputs. Also GET /api/v1/dispatch/latest.',
    address: dispatchTopic('{tenant}', 'latest'),
    when: everyTick,
    sends: 'the latest dispatch result',
  },
  kpis: {
    message: 'dispatchKpis',
    schema: dispatchKpiMessageSchema,
    summary: "The last tick's KPIs, prices and alarm counts: enough for a status light or a tile.",
    address: dispatchTopic('{tenant}', 'kpis'),
    when: everyTick,
    sends: 'the latest KPI summary',
  },
  alarms: {
    message: 'dispatchAlarms',
    schema: dispatchAlarmsMessageSchema,
    summary: "The last tick's alarms (stale, expired, missing or rejected inputs, unmet demand, solver trouble), for alerting. Also GET /api/v1/dispatch/alarms.",
    address: dispatchTopic('{tenant}', 'alarms'),
    when: 'when the set of alarms changed (their level, code and input, or the tick status; not the message texts, which carry ages)',
    sends: "the dispatch's alarms",
  },
  units: {
    message: 'dispatchUnit',
    schema: dispatchUnitMessageSchema,
    summary: `One unit's (or storage's) recommended setpoint with its mode and status, for SCADA and other integrations; ${dispatchTopic('{tenant}', 'units', '+')} subscribes to all of them.`,
    address: dispatchTopic('{tenant}', 'units', '{unit}'),
    when:
      "by exception: at the first tick, then when the unit's recommendation moved beyond its deadband " +
      '(the larger of coupling[].deadbandMw and deadbandFraction × its rated power), or its mode or status changed',
    sends: "a unit's recommended setpoint",
  },
};

export function dispatchSchemaId(suffix: DispatchTopicSuffix): string {
  return `${schemaBaseUrl}dispatch-${suffix}.schema.json`;
}

// ---------------------------------------------------------------------------------------
// Well-known metric names per device type. The engine and dashboards look for these names.

export interface WellKnownMetric {
  name: string;
  /** Recommended unit to declare in the birth message. */
  unit: string;
  description: string;
}

export const wellKnownMetrics: Partial<Record<DeviceType, readonly WellKnownMetric[]>> = {
  heat_meter: [
    { name: 'heat_power', unit: 'kW', description: 'thermal power delivered' },
    { name: 'supply_temp', unit: 'degC', description: 'supply (flow) temperature' },
    { name: 'return_temp', unit: 'degC', description: 'return temperature' },
    { name: 'flow', unit: 'm3/h', description: 'volume flow' },
    { name: 'energy', unit: 'kWh', description: 'meter register, cumulative heat energy' },
  ],
  waste_heat_source: [
    { name: 'heat_power', unit: 'kW', description: 'heat available at the source' },
    { name: 'source_temp', unit: 'degC', description: 'temperature the heat is available at' },
  ],
  gas_chp: [
    { name: 'el_power', unit: 'kW', description: 'electrical output' },
    { name: 'heat_power', unit: 'kW', description: 'thermal output' },
    { name: 'gas_power', unit: 'kW', description: 'fuel input (lower heating value)' },
  ],
  waste_to_energy: [
    { name: 'waste_feed', unit: 't/h', description: 'waste fed to the furnace' },
    { name: 'el_power', unit: 'kW', description: 'electrical output' },
    { name: 'heat_power', unit: 'kW', description: 'thermal output to the heat network' },
  ],
  heat_pump: [
    { name: 'heat_power', unit: 'kW', description: 'thermal output' },
    { name: 'el_power', unit: 'kW', description: 'electrical input' },
    { name: 'cop', unit: '1', description: 'coefficient of performance, dimensionless' },
    { name: 'source_temp', unit: 'degC', description: 'source-side temperature' },
    { name: 'sink_temp', unit: 'degC', description: 'sink-side (supply) temperature' },
  ],
  boiler: [
    { name: 'heat_power', unit: 'kW', description: 'thermal output' },
    { name: 'gas_power', unit: 'kW', description: 'fuel input of a gas boiler' },
    { name: 'el_power', unit: 'kW', description: 'electrical input of an electric boiler' },
    { name: 'supply_temp', unit: 'degC', description: 'supply temperature' },
  ],
  storage_tank: [
    { name: 'soc', unit: '%', description: 'state of charge' },
    { name: 'top_temp', unit: 'degC', description: 'temperature at the top of the tank' },
    { name: 'bottom_temp', unit: 'degC', description: 'temperature at the bottom of the tank' },
    { name: 'charge_power', unit: 'kW', description: 'positive while charging, negative while discharging' },
  ],
  pv: [{ name: 'el_power', unit: 'kW', description: 'electrical output' }],
  wind: [
    { name: 'el_power', unit: 'kW', description: 'electrical output' },
    { name: 'wind_speed', unit: 'm/s', description: 'wind speed at hub height' },
  ],
  weather_station: [
    { name: 'outdoor_temp', unit: 'degC', description: 'outdoor air temperature' },
    { name: 'irradiance', unit: 'W/m2', description: 'global horizontal irradiance' },
    { name: 'wind_speed', unit: 'm/s', description: 'wind speed' },
    { name: 'humidity', unit: '%', description: 'relative humidity' },
  ],
  grid_meter: [
    { name: 'import_power', unit: 'kW', description: 'power drawn from the grid' },
    { name: 'export_power', unit: 'kW', description: 'power fed into the grid' },
    { name: 'price', unit: 'EUR/MWh', description: 'current electricity price' },
    { name: 'co2_intensity', unit: 'g/kWh', description: 'CO2 intensity of grid electricity' },
  ],
};

// ---------------------------------------------------------------------------------------
// Example payloads. Valid ones are also the AsyncAPI message examples; invalid ones carry
// the fragment of the rejection reason a gateway engineer will see in the dead-letter store.

export interface PayloadExample {
  name: string;
  kind: MessageKind;
  summary: string;
  payload: Json;
}

export interface InvalidExample {
  name: string;
  kind: MessageKind;
  summary: string;
  /** Raw file content: these are deliberately wrong, sometimes not even JSON. */
  text: string;
  /** Substring of the rejection reason. */
  reason: string;
}

const t0 = Date.UTC(2026, 0, 15, 8, 0, 0); // 2026-01-15T08:00:00Z
const minute = 60_000;

export const validExamples: readonly PayloadExample[] = [
  {
    name: 'data-single',
    kind: 'data',
    summary: 'One sample of a heat meter, epoch-millisecond timestamp, units from the birth message.',
    payload: { seq: 42, samples: [{ ts: t0, metrics: { heat_power: 412.5, supply_temp: 88.2, return_temp: 54.9, flow: 10.8, energy: 1843210 } }] },
  },
  {
    name: 'data-batch',
    kind: 'data',
    summary: 'Five samples a minute apart in one message, as sent when catching up after an outage.',
    payload: {
      seq: 43,
      samples: [0, 1, 2, 3, 4].map((i) => ({
        ts: t0 + (i + 1) * minute,
        metrics: { heat_power: [410.1, 408.7, 415.3, 421.0, 419.6][i]!, supply_temp: [88.1, 88.0, 88.3, 88.6, 88.5][i]! },
      })),
    },
  },
  {
    name: 'data-units-override',
    kind: 'data',
    summary: 'Units for this message only: MW, kelvin and litres per second, stored as kW, degC and m3/h.',
    payload: {
      seq: 49,
      samples: [{ ts: t0 + 7 * minute, metrics: { heat_power: 0.4183, supply_temp: 361.4, flow: 3.01 } }],
      units: { heat_power: 'MW', supply_temp: 'K', flow: 'l/s' },
    },
  },
  {
    name: 'data-iso-timestamps',
    kind: 'data',
    summary: 'RFC 3339 timestamps: UTC, with a local offset, and with milliseconds.',
    payload: {
      seq: 50,
      samples: [
        { ts: '2026-01-15T08:08:00Z', metrics: { heat_power: 418.2 } },
        { ts: '2026-01-15T09:09:00+01:00', metrics: { heat_power: 417.9 } },
        { ts: '2026-01-15T08:10:00.250Z', metrics: { heat_power: 417.1 } },
      ],
    },
  },
  {
    name: 'data-storage-tank',
    kind: 'data',
    summary: 'A storage tank discharging: negative charge_power, state of charge in percent.',
    payload: { seq: 7, samples: [{ ts: t0, metrics: { soc: 63.5, top_temp: 91.2, bottom_temp: 48.7, charge_power: -850 } }] },
  },
  {
    name: 'birth-heat-meter',
    kind: 'birth',
    summary: 'Birth after a restart: the sequence counter starts again at 0, so seq is sent.',
    payload: {
      type: 'heat_meter',
      firmware: 'hm-gw 2.4.1',
      interval_s: 60,
      metrics: {
        heat_power: { unit: 'kW', min: 0, max: 5000 },
        supply_temp: { unit: 'degC' },
        return_temp: { unit: 'degC' },
        flow: { unit: 'm3/h' },
        energy: { unit: 'MWh', description: 'meter register' },
      },
      seq: 0,
      ts: t0 - minute,
    },
  },
  {
    name: 'birth-reconnect',
    kind: 'birth',
    summary: 'Birth after a reconnect without restart: no seq, so duplicate detection carries on.',
    payload: {
      type: 'heat_pump',
      firmware: 'hp-ctl 1.0.3',
      interval_s: 10,
      metrics: {
        heat_power: { unit: 'kW' },
        el_power: { unit: 'kW' },
        cop: { unit: 'count' },
        source_temp: { unit: 'degC' },
        sink_temp: { unit: 'degC' },
      },
    },
  },
  { name: 'state-online', kind: 'state', summary: 'Published (retained) right after connecting.', payload: { state: 'online', ts: t0 - minute } },
  { name: 'state-offline', kind: 'state', summary: 'The last will, set at connect (retained, QoS 1).', payload: { state: 'offline' } },
  {
    name: 'cmd-setpoint',
    kind: 'cmd',
    summary: 'Server asks for 350 kW heat output; answer on the ack topic with the same id.',
    payload: { id: 'c-7f3a9e', type: 'setpoint', ts: t0 + 15 * minute, metric: 'heat_power', value: 350, unit: 'kW' },
  },
  {
    name: 'cmd-reject',
    kind: 'cmd',
    summary: 'Notice that a message was rejected; it is also in the dead-letter store.',
    payload: {
      id: '4b1d0c52-93e4-4f55-8f0e-1f0f5f7b2d10',
      type: 'reject',
      ts: t0 + 16 * minute,
      topic: `${TOPIC_ROOT}/${TOPIC_VERSION}/demo/hm-0001/data`,
      reason: 'data schema violation: samples.0.metrics: a sample needs at least one metric',
    },
  },
  { name: 'ack-ok', kind: 'ack', summary: 'Setpoint applied.', payload: { id: 'c-7f3a9e', ok: true, ts: t0 + 15 * minute + 800 } },
  {
    name: 'ack-refused',
    kind: 'ack',
    summary: 'Setpoint refused by the device, with its reason.',
    payload: { id: 'c-7f3a9e', ok: false, reason: 'setpoint above local limit of 300 kW', ts: t0 + 15 * minute + 650 },
  },
];

const pretty = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
const oneSample = { ts: t0, metrics: { heat_power: 412.5 } };

export const invalidExamples: readonly InvalidExample[] = [
  { name: 'data-malformed-json', kind: 'data', summary: 'Truncated JSON.', text: '{"seq": 7, "samples": [{"ts": 1768464000000, "metrics": {"heat_power": 412.5}}\n', reason: 'malformed JSON' },
  { name: 'data-missing-seq', kind: 'data', summary: 'No seq.', text: pretty({ samples: [oneSample] }), reason: 'seq: Invalid input: expected number, received undefined' },
  { name: 'data-negative-seq', kind: 'data', summary: 'seq below 0.', text: pretty({ seq: -1, samples: [oneSample] }), reason: 'seq: Too small' },
  { name: 'data-seq-too-big', kind: 'data', summary: 'seq above 2^32-1: wrap to 0 instead.', text: pretty({ seq: 4294967296, samples: [oneSample] }), reason: 'seq: Too big' },
  { name: 'data-no-samples', kind: 'data', summary: 'Empty samples array.', text: pretty({ seq: 7, samples: [] }), reason: 'samples: Too small: expected array to have >=1 items' },
  {
    name: 'data-flat-reading',
    kind: 'data',
    summary: 'Metrics at the top level instead of inside samples.',
    text: pretty({ seq: 7, ts: t0, heat_power: 412.5 }),
    reason: 'samples: Invalid input: expected array, received undefined',
  },
  { name: 'data-empty-metrics', kind: 'data', summary: 'A sample without metrics.', text: pretty({ seq: 7, samples: [{ ts: t0, metrics: {} }] }), reason: 'samples.0.metrics: a sample needs at least one metric' },
  {
    name: 'data-string-value',
    kind: 'data',
    summary: 'Number sent as a string.',
    text: pretty({ seq: 7, samples: [{ ts: t0, metrics: { heat_power: '412.5' } }] }),
    reason: 'samples.0.metrics.heat_power: Invalid input: expected number, received string',
  },
  {
    name: 'data-infinite-value',
    kind: 'data',
    summary: 'A number literal too large for a double parses as Infinity.',
    text: '{"seq": 7, "samples": [{"ts": 1768464000000, "metrics": {"heat_power": 1e999}}]}\n',
    reason: 'samples.0.metrics.heat_power: Invalid input: expected number, received Infinity',
  },
  {
    name: 'data-null-value',
    kind: 'data',
    summary: 'null for a missing reading: leave the metric out instead.',
    text: pretty({ seq: 7, samples: [{ ts: t0, metrics: { heat_power: null } }] }),
    reason: 'samples.0.metrics.heat_power: Invalid input: expected number, received null',
  },
  {
    name: 'data-bad-metric-name',
    kind: 'data',
    summary: 'Metric names are snake_case.',
    text: pretty({ seq: 7, samples: [{ ts: t0, metrics: { HeatPower: 412.5 } }] }),
    reason: 'samples.0.metrics.HeatPower: Invalid key in record',
  },
  {
    name: 'data-ts-without-offset',
    kind: 'data',
    summary: 'RFC 3339 timestamps need Z or an offset.',
    text: pretty({ seq: 7, samples: [{ ts: '2026-01-15T08:00:00', metrics: { heat_power: 412.5 } }] }),
    reason: 'samples.0.ts: Invalid ISO datetime',
  },
  {
    name: 'data-ts-fractional-ms',
    kind: 'data',
    summary: 'Epoch milliseconds are integers.',
    text: pretty({ seq: 7, samples: [{ ts: t0 + 0.5, metrics: { heat_power: 412.5 } }] }),
    reason: 'samples.0.ts: Invalid input',
  },
  {
    name: 'data-unknown-unit',
    kind: 'data',
    summary: 'Unit not in the table.',
    text: pretty({ seq: 7, samples: [oneSample], units: { heat_power: 'kWatt' } }),
    reason: 'units.heat_power: Invalid option',
  },
  { name: 'data-unknown-field', kind: 'data', summary: 'Fields outside the schema are refused, not ignored.', text: pretty({ seq: 7, samples: [oneSample], device: 'hm-0001' }), reason: 'Unrecognized key: "device"' },
  {
    name: 'data-too-many-samples',
    kind: 'data',
    summary: `${contractLimits.maxSamplesPerMessage + 1} samples: split into several messages.`,
    text:
      '{"seq": 7, "samples": [\n' +
      Array.from({ length: contractLimits.maxSamplesPerMessage + 1 }, (_, i) => `  {"ts": ${t0 + i * 1000}, "metrics": {"heat_power": 412.5}}`).join(',\n') +
      '\n]}\n',
    reason: `samples: Too big: expected array to have <=${contractLimits.maxSamplesPerMessage} items`,
  },
  {
    name: 'data-too-many-metrics',
    kind: 'data',
    summary: `${contractLimits.maxMetricsPerSample + 1} metrics in one sample.`,
    text: pretty({ seq: 7, samples: [{ ts: t0, metrics: Object.fromEntries(Array.from({ length: contractLimits.maxMetricsPerSample + 1 }, (_, i) => [`ch_${i}`, i])) }] }),
    reason: `samples.0.metrics: at most ${contractLimits.maxMetricsPerSample} metrics per sample`,
  },
  { name: 'data-array-root', kind: 'data', summary: 'A bare array of samples.', text: pretty([oneSample]), reason: '(root): Invalid input: expected object, received array' },
  {
    name: 'birth-unknown-type',
    kind: 'birth',
    summary: 'Device type not in the list: use other.',
    text: pretty({ type: 'heat_counter', firmware: '1.0', interval_s: 60, metrics: { heat_power: { unit: 'kW' } } }),
    reason: 'type: Invalid option',
  },
  {
    name: 'birth-unit-as-string',
    kind: 'birth',
    summary: 'Metric declarations are objects with a unit field.',
    text: pretty({ type: 'heat_meter', firmware: '1.0', interval_s: 60, metrics: { heat_power: 'kW' } }),
    reason: 'metrics.heat_power: Invalid input: expected object, received string',
  },
  { name: 'birth-no-metrics', kind: 'birth', summary: 'Nothing declared.', text: pretty({ type: 'heat_meter', firmware: '1.0', interval_s: 60, metrics: {} }), reason: 'metrics: declare at least one metric' },
  {
    name: 'birth-zero-interval',
    kind: 'birth',
    summary: 'interval_s must be positive.',
    text: pretty({ type: 'pv', firmware: '1.0', interval_s: 0, metrics: { el_power: { unit: 'kW' } } }),
    reason: 'interval_s: Too small: expected number to be >0',
  },
  { name: 'state-plain-text', kind: 'state', summary: 'A last will of plain text instead of JSON.', text: 'offline\n', reason: 'malformed JSON' },
  { name: 'state-unknown-value', kind: 'state', summary: 'Only online and offline.', text: pretty({ state: 'sleeping' }), reason: 'state: Invalid option: expected one of "online"|"offline"' },
  { name: 'ack-missing-ok', kind: 'ack', summary: 'ok is required.', text: pretty({ id: 'c-7f3a9e' }), reason: 'ok: Invalid input: expected boolean, received undefined' },
  { name: 'cmd-unknown-type', kind: 'cmd', summary: 'Firmware should refuse command types it does not know.', text: pretty({ id: 'c-1', type: 'reboot', ts: t0 }), reason: 'type: Invalid discriminator value' },
];

/**
 * What the server checks at the contract level for a payload: JSON first, then the schema.
 * Returns null when valid, else the reason (same wording as the dead-letter store's, minus the prefix).
 */
export function contractReason(kind: MessageKind, text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `malformed JSON: ${(err as Error).message}`;
  }
  const result = payloadSchemas[kind].safeParse(value);
  return result.success ? null : describeIssues(result.error);
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

// ---------------------------------------------------------------------------------------
// JSON Schemas

/** Rules zod holds as refinements, which JSON Schema can still express as keywords. */
const refinementKeywords = new Map<unknown, JsonObject>([
  [sampleSchema.shape.metrics, { minProperties: 1, maxProperties: contractLimits.maxMetricsPerSample }],
  [birthPayloadSchema.shape.metrics, { minProperties: 1 }],
]);

function topicPattern(kind: MessageKind): string {
  return `${TOPIC_ROOT}/${TOPIC_VERSION}/{tenant}/{device}/${kind} (or ${TOPIC_ROOT}/${TOPIC_VERSION}/{tenant}/{gateway}/{subdevice}/${kind})`;
}

export function generateJsonSchemas(): Record<MessageKind, JsonObject> {
  const out = {} as Record<MessageKind, JsonObject>;
  for (const kind of messageKinds) {
    const schema = payloadSchemas[kind];
    const raw = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: 'input',
      unrepresentable: 'throw',
      override: (ctx) => {
        const extra = refinementKeywords.get(ctx.zodSchema);
        if (extra) Object.assign(ctx.jsonSchema, extra);
      },
    }) as JsonObject;
    const root = inlineDefinitions(raw);
    const rule = kindRules[kind];
    const zodDescription = typeof root.description === 'string' ? root.description : rule.summary;
    delete root.title;
    delete root.description;
    out[kind] = {
      $schema: jsonSchemaDialect,
      $id: schemaId(kind),
      title: `Querstrom ${TOPIC_VERSION} ${kind} payload`,
      description:
        `${zodDescription} Topic: ${topicPattern(kind)}; ` +
        `${rule.direction === 'device-to-server' ? 'published by the device' : 'published by the server'}, QoS ${rule.qos}, ` +
        `${rule.retain ? 'retained' : 'not retained'}. Generated from the zod schemas; see GATEWAY-SPEC.md.`,
      ...root,
    };
  }
  return out;
}

/** What the server publishes on each dispatch topic, as self-contained JSON Schemas (no $refs). */
export function generateDispatchJsonSchemas(): Record<DispatchTopicSuffix, JsonObject> {
  const out = {} as Record<DispatchTopicSuffix, JsonObject>;
  for (const suffix of dispatchTopicSuffixes) {
    const rule = dispatchTopicRules[suffix];
    const raw = z.toJSONSchema(rule.schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'throw' }) as JsonObject;
    const root = inlineDefinitions(raw);
    delete root.description;
    out[suffix] = {
      $schema: jsonSchemaDialect,
      $id: dispatchSchemaId(suffix),
      title: `Querstrom ${TOPIC_VERSION} dispatch ${suffix} message`,
      description:
        `${rule.summary} Topic: ${rule.address}. Published by the server ${rule.when}; ` +
        `QoS ${dispatchPublishOptions[suffix].qos}, retained. Powers in MW, prices in EUR/MWh, costs in EUR/h, CO2 in t/h. Generated from the zod schemas.`,
      ...root,
    };
  }
  return out;
}

/**
 * Replaces every reference to a definition by the definition itself (zod puts a schema with an id
 * under $defs and $refs it, the root too): the published schema stands alone, so any tool (an
 * AsyncAPI parser resolves $refs against its own document) reads it as is.
 */
function inlineDefinitions(raw: JsonObject): JsonObject {
  const { $schema: _dialect, $defs, ...rest } = raw;
  const defs = isObject($defs) ? $defs : {};
  const inline = (value: Json, depth: number): Json => {
    if (Array.isArray(value)) return value.map((v) => inline(v, depth));
    if (!isObject(value)) return value;
    const { $ref, ...siblings } = value;
    const out: JsonObject = {};
    if (typeof $ref === 'string') {
      const def = $ref.startsWith('#/$defs/') ? defs[$ref.slice('#/$defs/'.length)] : undefined;
      if (!isObject(def)) throw new Error(`zod JSON Schema refers to ${$ref}, which is not one of its definitions`);
      if (depth > 16) throw new Error(`zod JSON Schema definition ${$ref} is recursive; it cannot be inlined`);
      Object.assign(out, inline(def, depth + 1));
    }
    for (const [k, v] of Object.entries(siblings)) out[k] = inline(v, depth);
    return out;
  };
  return inline(rest, 0) as JsonObject;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------
// Settings the server applies; the spec quotes the defaults so they cannot drift from the config.

export function serverSettings(config: Config = configSchema.parse({})) {
  return {
    tcpPort: config.broker.tcp.port,
    wsPort: config.broker.ws.port,
    wsPath: config.broker.ws.path,
    tlsPort: config.broker.tls.port,
    wssPort: config.broker.wss.port,
    wssPath: config.broker.wss.path,
    keepAliveS: 60,
    limits: config.broker.limits,
    futureToleranceMs: config.ingest.futureToleranceMs,
    retentionDays: config.store.retentionDays,
    excerptBytes: config.ingest.excerptBytes,
    clientCerts: config.broker.tls.clientCerts,
  };
}

/**
 * A running server, for the AsyncAPI document it serves: its configuration, the ports its
 * listeners are bound to (undefined: that listener is off) and the host name clients reach it by.
 */
export interface LiveServer {
  config: Config;
  ports: { mqtt: number | undefined; ws: number | undefined; mqtts: number | undefined; wss: number | undefined };
  host: string;
}

// ---------------------------------------------------------------------------------------
// AsyncAPI 3.0

const payloadSchemaFormat = 'application/schema+json;version=draft-2020-12';
const capitalised = (word: string) => `${word[0]!.toUpperCase()}${word.slice(1)}`;

const idRule = 'an id of 1-64 characters A-Z a-z 0-9 _ . -, starting with a letter or digit';

/**
 * Without `live`: the published document (firmware-specs/asyncapi.json), every listener at its
 * default port. With it: the document a running server serves, naming only the listeners that are
 * on, at their bound ports, with that server's limits and client-certificate mode.
 */
export function generateAsyncApi(live?: LiveServer): JsonObject {
  const d = serverSettings(live?.config);
  const jsonSchemas = generateJsonSchemas();
  const mqttBinding = (extra: JsonObject): JsonObject => ({ ...extra, bindingVersion: '0.2.0' });
  const serverBinding = mqttBinding({
    clientId: '{tenant}/{device}',
    cleanSession: false,
    keepAlive: d.keepAliveS,
    lastWill: {
      topic: `${TOPIC_ROOT}/${TOPIC_VERSION}/{tenant}/{device}/state`,
      qos: 1,
      message: JSON.stringify({ state: 'offline' }),
      retain: true,
    },
  });
  const userPassword = { $ref: '#/components/securitySchemes/userPassword' };
  const apiToken = { $ref: '#/components/securitySchemes/apiToken' };
  const x509 = { $ref: '#/components/securitySchemes/x509' };
  // Alternatives, any one of which logs in; with required client certificates the TLS handshake needs one.
  const tlsSecurity = !live ? [userPassword, apiToken, x509] : d.clientCerts === 'off' ? [userPassword, apiToken] : d.clientCerts === 'optional' ? [userPassword, apiToken, x509] : [x509];
  type Listener = { key: string; title: string; port: number | undefined; protocol: string; pathname?: string; tls: boolean };
  const server = (o: Listener & { port: number }): JsonObject => ({
    host: `{host}:${o.port}`,
    protocol: o.protocol,
    protocolVersion: '3.1.1',
    ...(o.pathname ? { pathname: o.pathname } : {}),
    title: o.title,
    description: live
      ? `${o.title} on port ${o.port} of this server.`
      : `${o.title}. Default port ${o.port}, configurable on the server.` + (o.tls ? ' Off by default: enabled with broker.tls / broker.wss in the server config.' : ''),
    variables: { host: { default: live?.host ?? 'localhost', description: 'Host name of your Querstrom server.' } },
    security: o.tls ? tlsSecurity : [userPassword, apiToken],
    bindings: { mqtt: serverBinding },
  });
  const listeners: Listener[] = [
    { key: 'mqtt', title: 'MQTT over TCP', port: live ? live.ports.mqtt : d.tcpPort, protocol: 'mqtt', tls: false },
    { key: 'ws', title: 'MQTT over WebSocket', port: live ? live.ports.ws : d.wsPort, protocol: 'ws', pathname: d.wsPath, tls: false },
    { key: 'mqtts', title: 'MQTT over TLS', port: live ? live.ports.mqtts : d.tlsPort, protocol: 'secure-mqtt', tls: true },
    { key: 'wss', title: 'MQTT over secure WebSocket', port: live ? live.ports.wss : d.wssPort, protocol: 'wss', pathname: d.wssPath, tls: true },
  ];
  const servers: JsonObject = {};
  for (const l of listeners) if (l.port !== undefined) servers[l.key] = server({ ...l, port: l.port });

  const channels: JsonObject = {};
  const operations: JsonObject = {};
  const variants = [
    { prefix: 'device', ids: ['tenant', 'device'], address: (k: string) => `${TOPIC_ROOT}/${TOPIC_VERSION}/{tenant}/{device}/${k}`, who: 'a device' },
    {
      prefix: 'subdevice',
      ids: ['tenant', 'gateway', 'subdevice'],
      address: (k: string) => `${TOPIC_ROOT}/${TOPIC_VERSION}/{tenant}/{gateway}/{subdevice}/${k}`,
      who: 'a sub-device behind a gateway; the gateway (MQTT identity {tenant}/{gateway}) publishes and subscribes for it',
    },
  ] as const;
  for (const v of variants) {
    for (const kind of messageKinds) {
      const rule = kindRules[kind];
      const channelKey = `${v.prefix}${capitalised(kind)}`;
      channels[channelKey] = {
        address: v.address(kind),
        title: `${kind} (${v.prefix})`,
        summary: rule.summary,
        description: `${kind} messages of ${v.who}. QoS ${rule.qos}, ${rule.retain ? 'retained' : 'retain flag 0'}.`,
        parameters: Object.fromEntries(v.ids.map((id) => [id, { $ref: `#/components/parameters/${id}` }])),
        messages: { [kind]: { $ref: `#/components/messages/${kind}` } },
      };
      const receives = rule.direction === 'device-to-server';
      const operation: JsonObject = {
        action: receives ? 'receive' : 'send',
        channel: { $ref: `#/channels/${channelKey}` },
        title: `${receives ? 'Receive' : 'Send'} ${kind} (${v.prefix})`,
        summary: receives ? `The server receives ${kind} from ${v.prefix === 'device' ? 'a device' : 'a gateway for its sub-device'}.` : `The server sends ${kind} to ${v.prefix === 'device' ? 'a device' : 'a gateway for its sub-device'}.`,
        messages: [{ $ref: `#/channels/${channelKey}/messages/${kind}` }],
        bindings: { mqtt: mqttBinding({ qos: rule.qos, retain: rule.retain }) },
      };
      if (kind === 'cmd') {
        const ackKey = `${v.prefix}Ack`;
        operation.reply = {
          channel: { $ref: `#/channels/${ackKey}` },
          messages: [{ $ref: `#/channels/${ackKey}/messages/ack` }],
        };
        operation.description = 'Setpoint commands expect an ack with the same id on the ack channel; reject notices expect none.';
      }
      operations[`${receives ? 'receive' : 'send'}${capitalised(channelKey)}`] = operation;
    }
  }

  const dispatchSchemas = generateDispatchJsonSchemas();
  for (const suffix of dispatchTopicSuffixes) {
    const rule = dispatchTopicRules[suffix];
    const channelKey = `dispatch${capitalised(suffix)}`;
    const variables = [...rule.address.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    channels[channelKey] = {
      address: rule.address,
      title: `dispatch ${suffix}`,
      summary: rule.summary,
      description:
        `Published by the server ${rule.when}; QoS ${dispatchPublishOptions[suffix].qos}, retained (a new subscriber gets the last one at once). ` +
        'Integrations read it with the read-only API token login; devices cannot subscribe to it.',
      parameters: Object.fromEntries(variables.map((v) => [v, { $ref: `#/components/parameters/${v}` }])),
      messages: { [rule.message]: { $ref: `#/components/messages/${rule.message}` } },
    };
    operations[`send${capitalised(channelKey)}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${channelKey}` },
      title: `Send dispatch ${suffix}`,
      summary: `The server publishes ${rule.sends} to integrations.`,
      security: [apiToken],
      messages: [{ $ref: `#/channels/${channelKey}/messages/${rule.message}` }],
      bindings: { mqtt: mqttBinding({ ...dispatchPublishOptions[suffix] }) },
    };
  }

  const messages: JsonObject = {};
  const schemas: JsonObject = {};
  for (const suffix of dispatchTopicSuffixes) {
    const rule = dispatchTopicRules[suffix];
    schemas[`${rule.message}Payload`] = { schemaFormat: payloadSchemaFormat, schema: dispatchSchemas[suffix] };
    messages[rule.message] = {
      name: rule.message,
      title: `dispatch ${suffix} message`,
      summary: rule.summary,
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${rule.message}Payload` },
    };
  }
  for (const kind of messageKinds) {
    schemas[`${kind}Payload`] = { schemaFormat: payloadSchemaFormat, schema: jsonSchemas[kind] };
    messages[kind] = {
      name: kind,
      title: `${kind} message`,
      summary: kindRules[kind].summary,
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${kind}Payload` },
      examples: validExamples.filter((e) => e.kind === kind).map((e) => ({ name: e.name, summary: e.summary, payload: e.payload })),
    };
  }

  return {
    asyncapi: '3.0.0',
    id: `urn:org:querstrom:mqtt:${TOPIC_VERSION}`,
    info: {
      title: 'Querstrom MQTT contract',
      version: `${TOPIC_VERSION.slice(1)}.0.0`,
      description:
        'MQTT 3.1.1 contract of a Querstrom server: between sensor gateways and the server, and the dispatch ' +
        'results it publishes for integrations. Generated from the zod schemas in src/contract and src/coupling. ' +
        'Operations are described from the server\'s point of view. The prose specification for gateways is ' +
        'firmware-specs/GATEWAY-SPEC.md.' +
        (live && Object.keys(servers).length === 0
          ? " This process runs no MQTT listener (an ingest worker): gateways connect to the deployment's own broker, which shares the messages out to the workers."
          : ''),
      license: { name: 'AGPL-3.0-or-later', url: 'https://www.gnu.org/licenses/agpl-3.0.html' },
      tags: [{ name: 'sector-coupling' }, { name: 'district-heating' }],
    },
    defaultContentType: 'application/json',
    servers,
    channels,
    operations,
    components: {
      schemas,
      messages,
      parameters: {
        tenant: { description: `Tenant (municipality): ${idRule}.`, examples: ['demo'] },
        device: {
          description: `Device; the MQTT username is {tenant}/{device}: ${idRule}. The ids ${[...SERVER_TOPIC_IDS].map((id) => `"${id}"`).join(', ')} are reserved for the server's topics.`,
          examples: ['hm-0001'],
        },
        gateway: { description: `Gateway that authenticates (username {tenant}/{gateway}): ${idRule}.`, examples: ['gw-north'] },
        subdevice: { description: `Sub-device behind the gateway, stored as {gateway}/{subdevice}: ${idRule}.`, examples: ['meter-07'] },
        unit: { description: 'Unit or storage id of the tenant\'s city model (1-48 characters A-Z a-z 0-9 _, starting with a letter).', examples: ['hp_datacentre', 'tank_north'] },
      },
      securitySchemes: {
        userPassword: {
          type: 'userPassword',
          description: 'Username {tenant}/{device}; password as printed once by `querstrom device add`. Stored hashed; anonymous access is off by default.',
        },
        apiToken: {
          type: 'userPassword',
          description:
            'Read-only login for integrations: username {tenant}, password an API token of that tenant (`querstrom token add`). ' +
            'It may subscribe under qs/v1/{tenant}/dispatch/ and nowhere else, may not publish and may not leave a last will. ' +
            'The token is checked again on every delivery: revoking it closes the connection.',
        },
        x509: { type: 'X509', description: 'Client certificates on the TLS listeners (broker.tls.clientCerts optional or required): the subject CN is {tenant}/{device}, and the device must be registered and not revoked.' },
      },
    },
    'x-querstrom-limits': {
      maxPacketBytes: d.limits.maxPacketBytes,
      maxTopicDepth: d.limits.maxTopicDepth,
      messagesPerSecond: d.limits.ratePerDevice.messagesPerSecond,
      burst: d.limits.ratePerDevice.burst,
      maxSamplesPerMessage: contractLimits.maxSamplesPerMessage,
      maxMetricsPerSample: contractLimits.maxMetricsPerSample,
      futureToleranceMs: d.futureToleranceMs,
    },
    'x-querstrom-well-known-metrics': Object.fromEntries(
      Object.entries(wellKnownMetrics).map(([type, metrics]) => [type, Object.fromEntries(metrics.map((m) => [m.name, { unit: m.unit, description: m.description }]))]),
    ),
  };
}

// ---------------------------------------------------------------------------------------
// Stable serialisation

const leadingKeys = [
  '$schema', '$id', 'asyncapi', 'id', 'info', 'name', 'title', 'version', 'summary', 'description', 'type',
  'address', 'action', 'host', 'protocol', 'protocolVersion', 'pathname', 'defaultContentType', 'servers', 'channels', 'operations', 'components',
];
const keyRank = (k: string) => {
  const i = leadingKeys.indexOf(k);
  return i < 0 ? leadingKeys.length : i;
};

/**
 * Keys sorted (a few conventional ones first) so output only changes when content does.
 * Written by hand because JSON.stringify always puts integer-like keys (the unit "1") first.
 */
export function stableJson(value: Json): string {
  const write = (v: Json, indent: string): string => {
    const inner = indent + '  ';
    if (Array.isArray(v)) {
      return v.length ? `[\n${v.map((x) => inner + write(x, inner)).join(',\n')}\n${indent}]` : '[]';
    }
    if (isObject(v)) {
      const keys = Object.keys(v).sort((a, b) => keyRank(a) - keyRank(b) || (a < b ? -1 : a > b ? 1 : 0));
      return keys.length ? `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${write(v[k]!, inner)}`).join(',\n')}\n${indent}}` : '{}';
    }
    return JSON.stringify(v);
  };
  return write(value, '') + '\n';
}

// ---------------------------------------------------------------------------------------
// Generated tables inside GATEWAY-SPEC.md, between <!-- BEGIN GENERATED name --> markers.

const fmt = (x: number) => String(Number(x.toPrecision(6)));

/** The conversion a unit gets on ingest, derived from normalise() so it cannot drift. */
export function conversionOf(unit: string): string {
  const zero = normalise(0, unit);
  const one = normalise(1, unit);
  if (!zero.ok || !one.ok) throw new Error(`unit ${unit} does not normalise`);
  const factor = one.value - zero.value;
  const offset = zero.value;
  if (offset === 0 && Math.abs(factor - 1) < 1e-12) return 'unchanged';
  const scaled = Math.abs(factor - 1) < 1e-12 ? 'x' : `x × ${fmt(factor)}`;
  if (offset === 0) return scaled;
  return `${scaled} ${offset < 0 ? '−' : '+'} ${fmt(Math.abs(offset))}`;
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const code = (s: string | number) => `\`${s}\``;

function unitsTable(): string {
  const quantities = Object.keys(canonicalUnit) as Quantity[];
  const rows: string[][] = [];
  for (const q of quantities) {
    for (const unit of knownUnits.filter((u) => quantityOf(u) === q)) {
      rows.push([q.replace('_', ' '), code(unit), code(canonicalUnit[q]), conversionOf(unit)]);
    }
  }
  return table(['quantity', 'unit you send', 'stored as', 'conversion on ingest'], rows);
}

function metricsTable(): string {
  const rows: string[][] = [];
  for (const [type, metrics] of Object.entries(wellKnownMetrics)) {
    for (const m of metrics) {
      const q = quantityOf(m.unit);
      if (!q) throw new Error(`well-known metric ${type}.${m.name} uses unknown unit ${m.unit}`);
      rows.push([code(type), code(m.name), code(m.unit), code(canonicalUnit[q]), m.description]);
    }
  }
  return table(['device type', 'metric', 'declare unit', 'stored as', 'meaning'], rows);
}

function kindsTable(): string {
  return table(
    ['kind', 'published by', 'QoS', 'retain', 'purpose'],
    messageKinds.map((k) => {
      const r = kindRules[k];
      return [code(k), r.direction === 'device-to-server' ? 'device' : 'server', String(r.qos), r.retain ? '**1**' : '0', r.summary];
    }),
  );
}

function limitsTable(): string {
  const d = serverSettings();
  const l = d.limits;
  return table(
    ['limit', 'default', 'server setting'],
    [
      ['MQTT packet size (whole PUBLISH)', `${l.maxPacketBytes} bytes (${fmt(l.maxPacketBytes / 1024)} KiB)`, code('broker.limits.maxPacketBytes')],
      ['topic depth (levels)', String(l.maxTopicDepth), code('broker.limits.maxTopicDepth')],
      ['messages per device', `${fmt(l.ratePerDevice.messagesPerSecond)}/s sustained, burst ${l.ratePerDevice.burst}`, `${code('broker.limits.ratePerDevice.messagesPerSecond')}, ${code('.burst')}`],
      ['samples per data message', String(contractLimits.maxSamplesPerMessage), 'fixed by the contract'],
      ['metrics per sample', String(contractLimits.maxMetricsPerSample), 'fixed by the contract'],
      ['ids (tenant, device, sub-device) and metric names', '1-64 characters', 'fixed by the contract'],
      ['clock ahead of server before samples are flagged', `${fmt(d.futureToleranceMs / 1000)} s`, code('ingest.futureToleranceMs')],
      ['payload excerpt kept with a dead letter', `${d.excerptBytes} bytes`, code('ingest.excerptBytes')],
      ['retention of readings and dead letters', d.retentionDays ? `${d.retentionDays} days` : 'forever', code('store.retentionDays')],
    ],
  );
}

const generatedRegions: Record<string, () => string> = {
  kinds: kindsTable,
  limits: limitsTable,
  units: unitsTable,
  metrics: metricsTable,
};

const regionPattern = /(<!-- BEGIN GENERATED ([a-z-]+)[^>]*-->\n)[\s\S]*?(<!-- END GENERATED \2 -->)/g;

/** Refreshes every generated table; throws if the document lacks one of them. */
export function renderGatewaySpec(markdown: string): string {
  const seen = new Set<string>();
  const out = markdown.replace(regionPattern, (_all, begin: string, name: string, end: string) => {
    const render = generatedRegions[name];
    if (!render) throw new Error(`${gatewaySpecFile}: unknown generated region "${name}"`);
    seen.add(name);
    return `${begin}${render()}\n${end}`;
  });
  const missing = Object.keys(generatedRegions).filter((n) => !seen.has(n));
  if (missing.length) throw new Error(`${gatewaySpecFile}: missing generated region(s) ${missing.join(', ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------
// The file set, and the only I/O: write and check.

/** Every generated file except GATEWAY-SPEC.md: relative path (with /) → exact content. */
export function generatedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [kind, schema] of Object.entries(generateJsonSchemas())) files[`schemas/${kind}.schema.json`] = stableJson(schema);
  for (const [suffix, schema] of Object.entries(generateDispatchJsonSchemas())) files[`schemas/dispatch-${suffix}.schema.json`] = stableJson(schema);
  files['asyncapi.json'] = stableJson(generateAsyncApi());
  for (const e of validExamples) files[`examples/${e.name}.json`] = pretty(e.payload);
  for (const e of invalidExamples) files[`examples/invalid/${e.name}.json`] = e.text;
  files['examples/invalid/expected.json'] = pretty(Object.fromEntries(invalidExamples.map((e) => [`${e.name}.json`, e.reason])));
  return files;
}

function listFiles(root: string, sub: string): string[] {
  const dir = join(root, sub);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile())
    .map((f) => relative(root, join(f.parentPath, f.name)).split(sep).join('/'));
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** Files that are stale, missing, or left over in a generated directory (relative paths). */
export function checkSpecs(dir: string = defaultSpecsDir): string[] {
  const expected = generatedFiles();
  const problems: string[] = [];
  for (const [file, content] of Object.entries(expected)) {
    if (readIfExists(join(dir, file)) !== content) problems.push(file);
  }
  for (const file of generatedDirs.flatMap((d) => listFiles(dir, d))) {
    if (!(file in expected)) problems.push(file);
  }
  const spec = readIfExists(join(dir, gatewaySpecFile));
  if (spec === undefined) problems.push(gatewaySpecFile);
  else {
    try {
      if (renderGatewaySpec(spec) !== spec) problems.push(gatewaySpecFile);
    } catch {
      problems.push(gatewaySpecFile);
    }
  }
  return problems.sort();
}

/**
 * Writes the generated files and refreshes the tables in GATEWAY-SPEC.md (copied from the
 * package's firmware-specs when dir has none). Removes stray files in generated directories.
 * Returns the files it changed.
 */
export function writeSpecs(dir: string = defaultSpecsDir): string[] {
  const changed: string[] = [];
  const put = (file: string, content: string) => {
    const path = join(dir, file);
    if (readIfExists(path) === content) return;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    changed.push(file);
  };
  const expected = generatedFiles();
  for (const [file, content] of Object.entries(expected)) put(file, content);
  for (const file of generatedDirs.flatMap((d) => listFiles(dir, d))) {
    if (!(file in expected)) {
      unlinkSync(join(dir, file));
      changed.push(file);
    }
  }
  const source = readIfExists(join(dir, gatewaySpecFile)) ?? (resolve(dir) === resolve(defaultSpecsDir) ? undefined : readIfExists(join(defaultSpecsDir, gatewaySpecFile)));
  if (source === undefined) throw new Error(`${join(dir, gatewaySpecFile)} is missing; it is written by hand, the generator only fills its tables`);
  put(gatewaySpecFile, renderGatewaySpec(source));
  return changed.sort();
}

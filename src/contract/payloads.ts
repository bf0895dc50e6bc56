import { z } from 'zod';
import { knownUnits } from './units.ts';

/** Limits fixed by the v1 contract; broker limits (packet size, rate) are configured separately. */
export const contractLimits = {
  maxSamplesPerMessage: 1000,
  maxMetricsPerSample: 64,
} as const;

export const metricNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'metric names are 1-64 chars of a-z 0-9 _ and start with a letter')
  .meta({ description: 'Metric name, snake_case. See firmware-specs/GATEWAY-SPEC.md for the well-known names per device type.' });

export const unitSchema = z.enum(knownUnits as [string, ...string[]]).meta({ description: 'Unit of the value; normalised on ingest.' });

/** Epoch milliseconds or an RFC 3339 timestamp with offset. */
export const timestampSchema = z
  .union([
    z
      .number({ error: 'ts must be epoch milliseconds (an integer) or an RFC 3339 string' })
      .int('ts must be whole epoch milliseconds')
      .min(946_684_800_000, 'ts must be epoch milliseconds (>= year 2000); this looks like seconds')
      .max(8_640_000_000_000_000),
    z.iso.datetime({ offset: true }),
  ])
  .meta({ description: 'Sample time: epoch milliseconds (UTC) or RFC 3339 with offset, e.g. 2026-11-21T10:00:00Z' });

export const seqSchema = z
  .number()
  .int()
  .min(0)
  .max(4_294_967_295)
  .meta({ description: 'Per-device message sequence number, 0..2^32-1, +1 per data message; wraps to 0. Restarts are announced by a birth message.' });

export const sampleSchema = z
  .object({
    ts: timestampSchema,
    metrics: z
      .record(metricNameSchema, z.number().refine(Number.isFinite, 'must be a finite number'))
      .refine((m) => Object.keys(m).length > 0, 'a sample needs at least one metric')
      .refine((m) => Object.keys(m).length <= contractLimits.maxMetricsPerSample, `at most ${contractLimits.maxMetricsPerSample} metrics per sample`),
  })
  .strict();

export const dataPayloadSchema = z
  .object({
    seq: seqSchema,
    samples: z.array(sampleSchema).min(1).max(contractLimits.maxSamplesPerMessage),
    units: z
      .record(metricNameSchema, unitSchema)
      .optional()
      .meta({ description: 'Units per metric for this message. Overrides the units declared at birth.' }),
  })
  .strict()
  .meta({ id: 'DataPayload', title: 'data', description: 'One or many timestamped samples, each with one or many metrics.' });

export const deviceTypes = [
  'heat_meter',
  'waste_heat_source',
  'gas_chp',
  'waste_to_energy',
  'heat_pump',
  'boiler',
  'storage_tank',
  'pv',
  'wind',
  'weather_station',
  'grid_meter',
  'gateway',
  'other',
] as const;
export const deviceTypeSchema = z.enum(deviceTypes);
export type DeviceType = z.infer<typeof deviceTypeSchema>;

export const metricDeclarationSchema = z
  .object({
    unit: unitSchema,
    description: z.string().max(200).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .strict();

export const birthPayloadSchema = z
  .object({
    type: deviceTypeSchema,
    firmware: z.string().min(1).max(64),
    interval_s: z.number().positive().max(86_400).meta({ description: 'Nominal seconds between data messages (with batching: between batches); a device silent for 3 intervals is shown as stale.' }),
    metrics: z.record(metricNameSchema, metricDeclarationSchema).refine((m) => Object.keys(m).length > 0, 'declare at least one metric'),
    seq: seqSchema.optional().meta({ description: 'The first data seq after this birth; resets duplicate detection.' }),
    ts: timestampSchema.optional(),
  })
  .strict()
  .meta({ id: 'BirthPayload', title: 'birth', description: 'Sent once after every connect: what the device is and what it reports.' });

export const statePayloadSchema = z
  .object({
    state: z.enum(['online', 'offline']),
    ts: timestampSchema.optional(),
  })
  .strict()
  .meta({ id: 'StatePayload', title: 'state', description: 'Retained. Set as last will with state offline; online is published at connect.' });

export const setpointCommandSchema = z
  .object({
    id: z.string().min(1).max(64),
    type: z.literal('setpoint'),
    ts: z.number().int(),
    metric: metricNameSchema,
    value: z.number(),
    unit: unitSchema,
  })
  .strict();

export const rejectNoticeSchema = z
  .object({
    id: z.string().min(1).max(64),
    type: z.literal('reject'),
    ts: z.number().int(),
    topic: z.string(),
    seq: z.number().int().optional(),
    reason: z.string(),
  })
  .strict();

export const cmdPayloadSchema = z
  .discriminatedUnion('type', [setpointCommandSchema, rejectNoticeSchema])
  .meta({ id: 'CmdPayload', title: 'cmd', description: 'Server to device: setpoints in automatic mode, and notices of rejected messages.' });

export const ackPayloadSchema = z
  .object({
    id: z.string().min(1).max(64),
    ok: z.boolean(),
    reason: z.string().max(500).optional(),
    ts: timestampSchema.optional(),
  })
  .strict()
  .meta({ id: 'AckPayload', title: 'ack', description: 'Device to server: the result of a setpoint command.' });

export type DataPayload = z.infer<typeof dataPayloadSchema>;
export type BirthPayload = z.infer<typeof birthPayloadSchema>;
export type StatePayload = z.infer<typeof statePayloadSchema>;
export type CmdPayload = z.infer<typeof cmdPayloadSchema>;
export type AckPayload = z.infer<typeof ackPayloadSchema>;

export const payloadSchemas = {
  data: dataPayloadSchema,
  birth: birthPayloadSchema,
  state: statePayloadSchema,
  cmd: cmdPayloadSchema,
  ack: ackPayloadSchema,
} as const;

export function timestampToMs(ts: number | string): number {
  return typeof ts === 'number' ? ts : Date.parse(ts);
}

/** A zod error as one line a firmware engineer can act on: path and message per issue. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.length ? i.path.join('.') : '(root)';
      // Record-key and union failures carry the useful message one level down.
      const inner = 'issues' in i && Array.isArray(i.issues) ? (i.issues as Array<{ message?: string } | Array<{ message?: string }>>).flat()[0]?.message : undefined;
      return `${path}: ${inner && inner !== i.message ? `${i.message}: ${inner}` : i.message}`;
    })
    .join('; ');
}

/**
 * Shapes of the live dispatch API and its audit trail, defined once in zod: the routes validate
 * with them, the OpenAPI document is generated from them, and the audit lines are typed by them.
 * Powers in MW (the engine's unit), prices in EUR/MWh, times in epoch ms.
 */
import { z } from 'zod';
import { alarmSchema, unitModes } from '../coupling/index.ts';
import { apiSchemas } from '../api/index.ts';

export { unitModes };
export type UnitMode = (typeof unitModes)[number];
export const commandStates = ['pending', 'acked', 'refused', 'timed_out'] as const;
export type CommandState = (typeof commandStates)[number];

const epochMs = (description: string) => z.number().int().meta({ description: `${description} (epoch ms, UTC)` });

/** An alarm as the audit keeps it: the message is cut to 300 characters. */
const auditAlarmSchema = alarmSchema.omit({ message: true }).extend({ message: z.string() });

export const recommendationEntrySchema = z
  .object({
    type: z.literal('recommendation'),
    ts: epochMs('Tick time'),
    tick: z.number().int(),
    reason: z.enum(['interval', 'input']).meta({ description: 'What started the tick: the interval or a changed input' }),
    ticksSince: z.number().int().meta({ description: 'Ticks since the previous recorded recommendation (recommendations that changed nothing beyond the deadband are summarised)' }),
    status: z.enum(['optimal', 'failed']),
    objective: z.number().nullable().meta({ description: 'LP objective, EUR/h' }),
    costEurPerH: z.number().nullable(),
    co2TPerH: z.number().nullable(),
    unmetMw: z.number().nullable(),
    setpointsMw: z.record(z.string(), z.number()).meta({ description: 'Per unit and storage: the value a command would carry (heat, electricity or net charge), MW' }),
    prices: z.object({ heat: z.record(z.string(), z.number()), electricity: z.number().nullable() }),
    alarms: z.array(auditAlarmSchema).meta({ description: 'Alarms of this tick and of the ticks it summarises' }),
  })
  .meta({ id: 'AuditRecommendation' });

export const modeEntrySchema = z
  .object({
    type: z.literal('mode'),
    ts: epochMs('When the mode changed'),
    unit: z.string(),
    from: z.enum(unitModes),
    to: z.enum(unitModes),
    by: z.string().meta({ description: 'Token id of the operator who switched it' }),
  })
  .meta({ id: 'AuditModeChange' });

export const commandEntrySchema = z
  .object({
    type: z.literal('command'),
    ts: epochMs('When the command was published'),
    unit: z.string(),
    id: z.string(),
    tick: z.number().int(),
    device: z.string(),
    metric: z.string(),
    value: z.number().meta({ description: 'In valueUnit' }),
    valueUnit: z.string(),
    valueMw: z.number(),
  })
  .meta({ id: 'AuditCommand' });

export const ackEntrySchema = z
  .object({
    type: z.literal('ack'),
    ts: epochMs('When the ack arrived'),
    unit: z.string(),
    id: z.string(),
    device: z.string(),
    ok: z.boolean(),
    reason: z.string().optional(),
    latencyMs: z.number(),
  })
  .meta({ id: 'AuditAck' });

export const ackTimeoutEntrySchema = z
  .object({
    type: z.literal('ack_timeout'),
    ts: epochMs('When the wait ended'),
    unit: z.string(),
    id: z.string(),
    device: z.string(),
    afterMs: z.number(),
  })
  .meta({ id: 'AuditAckTimeout' });

export const auditEntrySchema = z.discriminatedUnion('type', [recommendationEntrySchema, modeEntrySchema, commandEntrySchema, ackEntrySchema, ackTimeoutEntrySchema]).meta({ id: 'AuditEntry' });
export type AuditEntry = z.infer<typeof auditEntrySchema>;
export type AuditEntryType = AuditEntry['type'];
export const auditEntryTypes = ['recommendation', 'mode', 'command', 'ack', 'ack_timeout'] as const satisfies readonly AuditEntryType[];

export const auditLimits = { max: 1000, default: 100 } as const;

export const streamQuerySchema = z
  .object({
    minIntervalMs: z.coerce
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(0)
      .meta({ description: 'At most one event per this many ms: the latest tick of each interval, sent at its end (0, the default: every tick)' }),
  })
  .strict();

export const auditQuerySchema = z
  .object({
    since: z
      .string()
      .transform((text, ctx) => {
        const ms = apiSchemas.parseTime(text);
        if (ms === undefined) {
          ctx.addIssue({ code: 'custom', message: `must be epoch milliseconds or an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got "${text.slice(0, 40)}"` });
          return z.NEVER;
        }
        return ms;
      })
      .optional()
      .meta({ description: 'Only entries at or after this time: epoch milliseconds or RFC 3339' }),
    limit: z.coerce.number().int().min(1).max(auditLimits.max).default(auditLimits.default).meta({ description: `Most entries to return (1-${auditLimits.max}, default ${auditLimits.default})` }),
    type: z.enum(auditEntryTypes).optional().meta({ description: 'Only entries of this type' }),
  })
  .strict();

export const auditListSchema = z.object({ entries: z.array(auditEntrySchema).meta({ description: 'Newest first' }) }).meta({ id: 'AuditList' });

export const alarmListSchema = z
  .object({
    ts: epochMs('Time of the last tick').nullable(),
    tick: z.number().int().nullable(),
    status: z.enum(['optimal', 'failed']).nullable(),
    alarms: z.array(alarmSchema),
  })
  .meta({ id: 'DispatchAlarms' });

export const commandViewSchema = z
  .object({
    id: z.string(),
    ts: epochMs('When it was sent'),
    tick: z.number().int(),
    value: z.number().meta({ description: 'In unit' }),
    unit: z.string(),
    valueMw: z.number(),
    state: z.enum(commandStates),
    reason: z.string().optional().meta({ description: 'Why the device refused it' }),
    settledAt: epochMs('When the ack arrived or the wait ended').optional(),
  })
  .meta({ id: 'UnitCommand' });

export const unitViewSchema = z
  .object({
    unit: z.string(),
    kind: z.string().meta({ description: 'Unit kind (gas_boiler, heat_pump, ...) or storage' }),
    zone: z.string().optional(),
    mode: z.enum(unitModes),
    controllable: z.boolean().meta({ description: 'Has a control mapping (coupling[].controls), so it can be switched to automatic' }),
    control: z.object({ device: z.string(), metric: z.string(), unit: z.string(), field: z.string() }).optional(),
    setpointMw: z.number().nullable().meta({ description: 'Latest recommendation (the value a command carries), MW; null before the first tick' }),
    setpointTs: epochMs('Tick of that recommendation').nullable(),
    lastCommand: commandViewSchema.nullable(),
  })
  .meta({ id: 'DispatchUnit' });

export const unitListSchema = z.object({ units: z.array(unitViewSchema) }).meta({ id: 'DispatchUnitList' });
export const unitParamsSchema = z.object({ unit: z.string().min(1).max(64) }).strict();
export const modeBodySchema = z.object({ mode: z.enum(unitModes) }).strict();

export type UnitView = z.infer<typeof unitViewSchema>;
export type CommandView = z.infer<typeof commandViewSchema>;

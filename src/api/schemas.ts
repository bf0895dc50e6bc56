/**
 * Every request and response shape of the HTTP API, defined once in zod. Request
 * validation parses with these schemas and the OpenAPI document is generated from them,
 * so the two cannot drift apart.
 */
import { z } from 'zod';
import { deviceTypeSchema, idSchema, metricNameSchema, tokenLoginLabelPattern } from '../contract/index.ts';
import { aggregateFunctions, type AggregateFunction } from '../store/types.ts';
import { deviceFilters, deviceOrders, deviceStates } from '../devices/query.ts';

/** Named schemas that become `components.schemas` in the OpenAPI document. */
export const apiComponents = z.registry<{ id: string }>();

function component<T extends z.ZodType>(id: string, schema: T): T {
  apiComponents.add(schema, { id });
  return schema;
}

// ---------------------------------------------------------------- limits

export const apiLimits = {
  /** Raw range queries return at most this many readings per request; page on with `from`. */
  maxSeriesLimit: 50_000,
  defaultSeriesLimit: 1000,
  /** An aggregate query may produce at most this many buckets. */
  maxBuckets: 10_000,
  defaultRangeMs: 24 * 3600_000,
  maxDeadLetterLimit: 1000,
  defaultDeadLetterLimit: 100,
  /** Gateways registered by one batch request. */
  maxDevicesPerBatch: 10_000,
} as const;

// ---------------------------------------------------------------- parsing helpers (pure)

const EPOCH_MS = /^\d{1,16}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const MAX_TIME_MS = 8_640_000_000_000_000; // the range of a JS Date

/** Epoch milliseconds or an RFC 3339 timestamp with offset; undefined when neither. */
export function parseTime(text: string): number | undefined {
  const ms = EPOCH_MS.test(text) ? Number(text) : RFC3339.test(text) ? Date.parse(text) : NaN;
  return Number.isSafeInteger(ms) && Math.abs(ms) <= MAX_TIME_MS ? ms : undefined;
}

const DURATION = /^(\d{1,12})(ms|s|m|h|d)?$/;
const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 } as const;

/** `30s`, `5m`, `1h`, `1d`, `250ms` or plain milliseconds; undefined when malformed or zero. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * unitMs[(m[2] ?? 'ms') as keyof typeof unitMs];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

// ---------------------------------------------------------------- request fields

/**
 * The id rule comes from the contract's idSchema; a device key is `gateway` or
 * `gateway/subdevice`. Derived from the contract's pattern so the two never disagree.
 */
const idPattern = (z.toJSONSchema(idSchema) as { pattern: string }).pattern.replace(/^\^|\$$/g, '');
export const deviceKeySchema = z
  .string()
  .regex(new RegExp(`^${idPattern}(/${idPattern})?$`), 'device ids are `gateway` or `gateway/subdevice`, each part 1-64 chars of A-Z a-z 0-9 _ . - starting with a letter or digit')
  .meta({ description: 'Device id: `gateway` or `gateway/subdevice`. In a path, encode the `/` as `%2F`.' });

const timeParam = (what: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const ms = parseTime(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be epoch milliseconds or an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got "${text.slice(0, 40)}"` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: `${what}: epoch milliseconds (UTC) or RFC 3339 with offset, e.g. 2026-01-31T12:00:00Z` });

const bucketParam = z
  .string()
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be a duration such as 30s, 5m, 1h, 1d or a positive number of milliseconds, got "${text.slice(0, 40)}"` });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'Bucket width: 30s, 5m, 1h, 1d, or milliseconds. Buckets start at multiples of the width since the epoch.' });

const fnPattern = `(${aggregateFunctions.join('|')})`;
const fnParam = z
  .string()
  .regex(new RegExp(`^${fnPattern}(,${fnPattern})*$`), `must be a comma-separated list of ${aggregateFunctions.join(', ')}`)
  .transform((text) => [...new Set(text.split(','))] as AggregateFunction[])
  .meta({ description: `Aggregate functions, comma-separated: ${aggregateFunctions.join(', ')}` });

const limitParam = (max: number, dflt: number) =>
  z.coerce.number().int().min(1).max(max).default(dflt).meta({ description: `Most rows to return (1-${max}, default ${dflt})` });

/** Fills the time window defaults and checks its order; shared by both series queries. */
function withWindow<T extends { from?: number | undefined; to?: number | undefined }>(q: T, ctx: z.RefinementCtx) {
  const to = q.to ?? Date.now();
  const from = q.from ?? to - apiLimits.defaultRangeMs;
  if (from > to) ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be after to (${from} > ${to})` });
  return { ...q, from, to };
}

// ---------------------------------------------------------------- request schemas

export const deviceParamsSchema = z.object({ device: deviceKeySchema }).strict();
/** The unencoded `gateway/subdevice` path alias: fastify names the wildcard `*`. */
export const deviceWildcardParamsSchema = z.preprocess((p) => ({ device: (p as Record<string, unknown>)['*'] }), deviceParamsSchema);

export const seriesQuerySchema = z
  .object({
    device: deviceKeySchema.optional(),
    metric: metricNameSchema.optional(),
    from: timeParam('Start of the range, inclusive; default 24 h before `to`').optional(),
    to: timeParam('End of the range, exclusive; default now').optional(),
    limit: limitParam(apiLimits.maxSeriesLimit, apiLimits.defaultSeriesLimit),
  })
  .strict()
  .transform(withWindow);

export const aggregateQuerySchema = z
  .object({
    device: deviceKeySchema,
    metric: metricNameSchema,
    from: timeParam('Start of the range, inclusive; default 24 h before `to`').optional(),
    to: timeParam('End of the range, exclusive; default now').optional(),
    bucket: bucketParam.default(300_000),
    fn: fnParam.default(['avg']),
  })
  .strict()
  .transform((q, ctx) => {
    const w = withWindow(q, ctx);
    const buckets = Math.ceil((w.to - w.from) / q.bucket);
    if (buckets > apiLimits.maxBuckets) {
      ctx.addIssue({ code: 'custom', path: ['bucket'], message: `the range spans ${buckets} buckets, at most ${apiLimits.maxBuckets}: widen the bucket or narrow the range` });
    }
    return w;
  });

export const latestQuerySchema = z
  .object({ device: deviceKeySchema.optional(), metric: metricNameSchema.optional() })
  .strict();

export const deadLetterQuerySchema = z
  .object({
    device: deviceKeySchema
      .or(z.string().regex(tokenLoginLabelPattern).meta({ description: 'A read-only API token login: `api-token:{token id}`, or `api-token` for a token that was not recognised.' }))
      .optional(),
    since: timeParam('Only dead letters received at or after this time').optional(),
    limit: limitParam(apiLimits.maxDeadLetterLimit, apiLimits.defaultDeadLetterLimit),
  })
  .strict();

export const addDeviceBodySchema = z
  .object({
    device: idSchema.meta({ description: 'Gateway id; sub-devices report through their gateway and need no credentials.' }),
    type: deviceTypeSchema.optional(),
  })
  .strict();

export const addDevicesBodySchema = z
  .object({
    devices: z
      .array(addDeviceBodySchema)
      .min(1)
      .max(apiLimits.maxDevicesPerBatch)
      .meta({ description: `1 to ${apiLimits.maxDevicesPerBatch} gateways, registered all or none` }),
  })
  .strict();

// ---------------------------------------------------------------- response schemas

export const errorSchema = component(
  'Error',
  z
    .object({
      error: z.string().meta({ description: 'Machine-readable code, e.g. bad_request, unauthorized, forbidden, not_found, internal' }),
      message: z.string().meta({ description: 'What went wrong, for humans' }),
      field: z.string().optional().meta({ description: 'The request field at fault (validation errors)' }),
      issues: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
      requestId: z.string().optional().meta({ description: 'Quote this when reporting a server error' }),
    })
    .meta({ description: 'Every error response has this shape' }),
);

export const healthSchema = component('Health', z.object({ status: z.literal('ok'), uptime_s: z.number() }));

export const readinessSchema = component(
  'Readiness',
  z.object({ ready: z.boolean(), checks: z.record(z.string(), z.boolean()) }).meta({ description: '200 when ready, 503 when any check fails' }),
);

const epochMs = (description: string) => z.number().int().meta({ description: `${description} (epoch ms, UTC)` });

export const deviceSchema = component(
  'Device',
  z
    .object({
      device: z.string().meta({ description: '`gateway` or `gateway/subdevice`' }),
      status: z
        .enum(deviceStates)
        .meta({
          description:
            'online: connected, or between connections of a device that connects only to send (clean DISCONNECT without an offline state) and keeps its interval; offline: announced offline, lost its connection, or left and stayed silent for more than 3 intervals; stale: online but silent for more than 3 intervals; never_connected: registered, but no connection or message yet (not yet commissioned)',
        }),
      type: deviceTypeSchema.optional(),
      firmware: z.string().optional(),
      intervalS: z.number().optional().meta({ description: 'Nominal sample interval declared at birth, seconds' }),
      online: z.boolean().meta({ description: 'status is online or stale' }),
      connected: z.boolean().meta({ description: 'A live MQTT connection to this server now (a sub-device has none of its own)' }),
      stale: z.boolean(),
      lastSeen: epochMs('Last accepted or rejected message').optional(),
      connectedAt: epochMs('Start of the current or last connection').optional(),
      lastDisconnect: z
        .object({ at: epochMs('When'), reason: z.string().meta({ description: '`disconnect` (clean DISCONNECT), `connection lost`, `revoked`, `server shutdown`, `server restart`, or the error that closed it' }) })
        .optional()
        .meta({ description: 'How the last connection ended' }),
      messages: z.number().int(),
      readings: z.number().int(),
      rejects: z.number().int(),
      duplicates: z.number().int(),
      lastReject: z.object({ at: epochMs('When'), reason: z.string() }).optional(),
      flagged: z.number().int().meta({ description: 'Accepted messages with a warning, e.g. timestamps far in the future' }),
      lastWarning: z.object({ at: epochMs('When'), warning: z.string() }).optional(),
    })
    .meta({ description: 'Live status of one device' }),
);

export const deviceListQuerySchema = z
  .object({
    q: z.string().max(200).optional().meta({ description: 'Only devices whose id or type contains this text (any case)' }),
    status: z
      .enum(deviceFilters)
      .optional()
      .meta({ description: 'Only these devices (default all). problems: refused a message in the last 10 minutes, offline, or stale; rejecting: ever refused a message' }),
    order: z.enum(deviceOrders).optional().meta({ description: 'device (default): by id; severity: problems first (rejecting now, offline, stale, never connected, online), then by id' }),
    limit: z.coerce.number().int().min(1).max(100_000).optional().meta({ description: 'Most devices to return (default all); total says how many matched' }),
  })
  .strict();

export const deviceListSchema = component(
  'DeviceList',
  z.object({
    devices: z.array(deviceSchema),
    total: z.number().int().meta({ description: 'Devices that match the query, before limit' }),
    counts: z
      .object({ online: z.number().int(), stale: z.number().int(), offline: z.number().int(), never_connected: z.number().int(), rejecting: z.number().int() })
      .meta({ description: 'All devices of the tenant by status (whatever the query), and how many ever refused a message' }),
  }),
);

export const readingSchema = component(
  'Reading',
  z.object({
    device: z.string(),
    metric: z.string(),
    ts: epochMs('Sample time'),
    value: z.number(),
    unit: z.string().meta({ description: 'Canonical unit, e.g. kW, degC' }),
  }),
);

export const seriesSchema = component(
  'Series',
  z.object({
    from: epochMs('Range start'),
    to: epochMs('Range end'),
    limit: z.number().int(),
    truncated: z.boolean().meta({ description: 'More readings match than `limit`; page on with `from` after the last ts' }),
    readings: z.array(readingSchema),
  }),
);

export const bucketSchema = component(
  'AggregateBucket',
  z.object({
    ts: epochMs('Bucket start'),
    count: z.number().int(),
    avg: z.number().optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    last: z.number().optional(),
  }),
);

export const aggregateSchema = component(
  'Aggregate',
  z.object({
    device: z.string(),
    metric: z.string(),
    from: epochMs('Range start'),
    to: epochMs('Range end'),
    bucketMs: z.number().int(),
    fns: z.array(z.enum(aggregateFunctions)),
    buckets: z.array(bucketSchema).meta({ description: 'Only buckets that hold readings, oldest first' }),
  }),
);

export const latestSchema = component('Latest', z.object({ readings: z.array(readingSchema).meta({ description: 'Newest reading per device and metric' }) }));

export const deadLetterSchema = component(
  'DeadLetter',
  z.object({
    device: z.string(),
    topic: z.string(),
    reason: z.string().meta({ description: 'Why the message was rejected (field path and rule)' }),
    excerpt: z.string().meta({ description: 'First bytes of the payload, non-printables escaped' }),
    receivedAt: epochMs('When the broker received it'),
  }),
);

export const deadLetterListSchema = component('DeadLetterList', z.object({ deadLetters: z.array(deadLetterSchema).meta({ description: 'Newest first' }) }));

export const deviceCredentialsSchema = component(
  'DeviceCredentials',
  z
    .object({
      device: z.string(),
      username: z.string().meta({ description: 'MQTT username, `{tenant}/{device}`' }),
      password: z.string().meta({ description: 'Shown once; only a hash is stored' }),
    })
    .meta({ description: 'Credentials for a new gateway' }),
);

export const deviceCredentialsListSchema = component('DeviceCredentialsList', z.object({ devices: z.array(deviceCredentialsSchema) }));

export const deviceRevokedSchema = component('DeviceRevoked', z.object({ device: z.string(), revoked: z.literal(true) }));

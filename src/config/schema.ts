import { z } from 'zod';
import { setpointFields } from '../coupling/result.ts';

const listener = (port: number) =>
  z.object({
    enabled: z.boolean().default(true),
    host: z.string().default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(port),
  });

export const brokerLimitsSchema = z.object({
  /** Enforced by the MQTT parser before a packet body is buffered. */
  maxPacketBytes: z.number().int().min(128).default(256 * 1024),
  maxTopicDepth: z.number().int().min(5).max(64).default(8),
  /** How long a slow client may block writes before it is disconnected. */
  drainTimeoutMs: z.number().int().min(100).default(30_000),
  ratePerDevice: z
    .object({
      messagesPerSecond: z.number().positive().default(200),
      burst: z.number().int().positive().default(1000),
    })
    .prefault({}),
});

/**
 * MQTT over TLS. The certificate settings here also serve the secure WebSocket listener (`wss`).
 * Client certificates (`clientCerts` optional/required, `caFile` = the CA that signs them) log a
 * device in from the certificate subject: CN = `{tenant}/{device}`, exactly the MQTT username.
 */
export const brokerTlsSchema = z.object({
  enabled: z.boolean().default(false),
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(8883),
  /** PEM server certificate (chain), and its private key. */
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  /** PEM CA bundle that client certificates must chain to. */
  caFile: z.string().min(1).optional(),
  /** off: none asked for; optional: a valid one logs in, none falls back to password; required: refused at the TLS handshake without one. */
  clientCerts: z.enum(['off', 'optional', 'required']).default('off'),
});

export const brokerPersistenceSchema = z.object({
  /** memory: sessions, queued QoS 1 messages and retained messages end with the process; disk: they survive a restart. */
  kind: z.enum(['memory', 'disk']).default('disk'),
  /** Default `${dataDir}/broker`. */
  dir: z.string().min(1).optional(),
});

/** Which device and metric take a unit's (or storage's) setpoint in automatic mode. */
export const controlTargetSchema = z
  .object({
    device: z.string().min(1).meta({ description: 'Device (gateway) id whose cmd topic receives the setpoint' }),
    metric: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'metric names are 1-64 chars of a-z 0-9 _').meta({ description: 'Controllable metric, e.g. heat_power' }),
    /** Power unit of the command value (kW is canonical). */
    unit: z.string().default('kW'),
    /** Setpoint field sent: default heat for heat units, el for el_power, net charge for storages. */
    field: z.enum(setpointFields).optional(),
  })
  .strict();

/** One live coupling engine: a tenant's city model, how often it solves, and what it may control. */
export const couplingEntrySchema = z
  .object({
    tenant: z.string().min(1),
    city: z.string().min(1).meta({ description: 'Path of the city model YAML, e.g. config/demo-city.yaml' }),
    /** Solve at least this often (default: the city's tickS); inputs changing trigger a tick sooner. */
    tickMs: z.number().int().min(10).optional(),
    /** Input-triggered ticks run at most once per this on average (bursts of 4 pass at once), so a reading storm costs bounded CPU. */
    minTickGapMs: z.number().int().min(0).default(20),
    /** The first tick waits until every bound input has a reading, at most this long (ramps start from it). */
    warmupMs: z.number().int().min(0).default(10_000),
    /** Unit or storage id → the device metric that takes its setpoint in automatic mode. */
    controls: z.record(z.string(), controlTargetSchema).default({}),
    /** A new setpoint is sent when it moved by more than max(deadbandMw, deadbandFraction × unit maximum). */
    deadbandMw: z.number().min(0).default(0.1),
    deadbandFraction: z.number().min(0).max(1).default(0.01),
    /** A command without an ack after this is timed_out (and re-sent on a later tick). */
    ackTimeoutMs: z.number().int().min(100).default(10_000),
    /** A changed recommendation is recorded in the audit trail at most this often (default: the tick interval; 0: every one); commands, acks and status changes always. */
    auditMinGapMs: z.number().int().min(0).optional(),
    /** Whole UTC days of audit trail kept; older day files are deleted. 0 (the default) keeps it forever, as regulators often ask for years. */
    auditRetentionDays: z.number().int().min(0).default(0),
    /** Dispatch series (KPIs, prices, setpoints) are stored at most this often. */
    seriesIntervalMs: z.number().int().min(1000).default(10_000),
  })
  .strict();

export const apiTlsSchema = z.object({
  enabled: z.boolean().default(false),
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
});

type Issue = { path: string[]; message: string };

function requireFiles(tls: { certFile?: string | undefined; keyFile?: string | undefined }, at: string[], because: string): Issue[] {
  const issues: Issue[] = [];
  if (tls.certFile === undefined) issues.push({ path: [...at, 'certFile'], message: `required when ${because} (PEM server certificate)` });
  if (tls.keyFile === undefined) issues.push({ path: [...at, 'keyFile'], message: `required when ${because} (PEM private key)` });
  return issues;
}

const brokerSchema = z
  .object({
    /** Embedded aedes broker; `external` connects ingest workers to another broker (scale-out). */
    tcp: listener(1883).prefault({}),
    ws: listener(8083).extend({ path: z.string().default('/mqtt') }).prefault({}),
    tls: brokerTlsSchema.prefault({}),
    /** Secure WebSocket; uses the certificate settings of `tls`. */
    wss: listener(8084).extend({ enabled: z.boolean().default(false), path: z.string().default('/mqtt') }).prefault({}),
    allowAnonymous: z.boolean().default(false),
    limits: brokerLimitsSchema.prefault({}),
    persistence: brokerPersistenceSchema.prefault({}),
  })
  .superRefine((broker, ctx) => {
    const issues: Issue[] = [];
    const secure = [broker.tls.enabled && 'tls.enabled', broker.wss.enabled && 'wss.enabled'].filter(Boolean).join(' or ');
    if (secure !== '') issues.push(...requireFiles(broker.tls, ['tls'], `${secure} is true`));
    if (broker.tls.clientCerts !== 'off' && broker.tls.caFile === undefined) {
      issues.push({ path: ['tls', 'caFile'], message: `required when tls.clientCerts is '${broker.tls.clientCerts}' (PEM CA that signs the device certificates)` });
    }
    for (const issue of issues) ctx.addIssue({ code: 'custom', input: broker, ...issue });
  });

export const configSchema = z.object({
  dataDir: z.string().default('./data'),
  broker: brokerSchema.prefault({}),
  ingest: z
    .object({
      /** Longest a QoS 1 PUBACK waits for the group commit (fsync) it belongs to. */
      groupCommitMaxDelayMs: z.number().min(0).max(1000).default(2),
      /** Samples further than this in the future are stored but flagged. */
      futureToleranceMs: z.number().int().min(0).default(5 * 60_000),
      excerptBytes: z.number().int().min(16).max(4096).default(256),
    })
    .prefault({}),
  store: z
    .object({
      kind: z.enum(['duckdb', 'influx']).default('duckdb'),
      /** Days readings and dead letters are kept; 0 keeps them forever. */
      retentionDays: z.number().min(0).default(400),
    })
    .prefault({}),
  api: z
    .object({
      enabled: z.boolean().default(true),
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** HTTPS for the API (see src/server/tls.ts). */
      tls: apiTlsSchema.prefault({}),
    })
    .superRefine((api, ctx) => {
      if (!api.tls.enabled) return;
      for (const issue of requireFiles(api.tls, ['tls'], 'tls.enabled is true')) ctx.addIssue({ code: 'custom', input: api, ...issue });
    })
    .prefault({}),
  /** Live coupling engines: one city model per tenant, fed from that tenant's readings. */
  coupling: z.array(couplingEntrySchema).default([]),
  log: z
    .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type BrokerLimits = z.infer<typeof brokerLimitsSchema>;
export type BrokerTls = z.infer<typeof brokerTlsSchema>;
export type BrokerPersistence = z.infer<typeof brokerPersistenceSchema>;
export type ApiTls = z.infer<typeof apiTlsSchema>;
export type CouplingEntry = z.infer<typeof couplingEntrySchema>;
export type CouplingEntryInput = z.input<typeof couplingEntrySchema>;
export type ControlTarget = z.infer<typeof controlTargetSchema>;

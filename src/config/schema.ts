import { z } from 'zod';

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

export const configSchema = z.object({
  dataDir: z.string().default('./data'),
  broker: z
    .object({
      /** Embedded aedes broker; `external` connects ingest workers to another broker (scale-out). */
      tcp: listener(1883).prefault({}),
      ws: listener(8083).extend({ path: z.string().default('/mqtt') }).prefault({}),
      allowAnonymous: z.boolean().default(false),
      limits: brokerLimitsSchema.prefault({}),
    })
    .prefault({}),
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
    })
    .prefault({}),
  log: z
    .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type BrokerLimits = z.infer<typeof brokerLimitsSchema>;

/**
 * Options of an ingest worker behind an external broker (`querstrom serve --broker <url>`).
 * Pure: flags and environment in, validated options out, one error naming every problem.
 */
import { hostname } from 'node:os';
import { idSchema } from '../contract/topics.ts';

export const WORKER_ENV = {
  username: 'QS_BROKER_USERNAME',
  password: 'QS_BROKER_PASSWORD',
} as const;

export const DEFAULT_SHARE_GROUP = 'querstrom';
/** MQTT 5 session expiry meaning "never": a worker's queued share waits for it to come back. */
export const SESSION_NEVER_EXPIRES = 0xffff_ffff;

export interface WorkerOptions {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the external broker (no credentials in it). */
  brokerUrl: string;
  /** Stable across restarts: the broker keeps this worker's persistent session under it. */
  workerId: string;
  shareGroup: string;
  /** The MQTT client id, derived from group and worker id. */
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  protocolVersion: 4 | 5;
  /** QoS 1 messages the broker may have unacknowledged at this worker (MQTT 5 receive maximum). */
  inflight: number;
  /** MQTT 5 session expiry after a disconnect, seconds; SESSION_NEVER_EXPIRES keeps it forever. */
  sessionExpirySeconds: number;
  /** Delay between reconnect attempts, ms. */
  reconnectPeriodMs: number;
}

export interface WorkerFlags {
  broker: string;
  workerId?: string | undefined;
  shareGroup?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  protocolVersion?: string | number | undefined;
  inflight?: string | number | undefined;
  sessionExpirySeconds?: string | number | undefined;
  reconnectPeriodMs?: string | number | undefined;
}

const BROKER_PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:']);

/** The two subscriptions a worker holds: device topics with and without a sub-device level. */
export function sharedFilters(group: string): string[] {
  return [`$share/${group}/qs/v1/+/+/+`, `$share/${group}/qs/v1/+/+/+/+`];
}

export function workerClientId(group: string, workerId: string): string {
  return `querstrom-${group}-${workerId}`;
}

function intIn(name: string, raw: string | number | undefined, dflt: number, min: number, max: number, problems: string[]): number {
  if (raw === undefined || raw === '') return dflt;
  const v = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got "${String(raw)}"`);
    return dflt;
  }
  return v;
}

/** Flags win over the environment for credentials; a worker id defaults to the host name. */
export function resolveWorkerOptions(flags: WorkerFlags, env: NodeJS.ProcessEnv = process.env): WorkerOptions {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(flags.broker);
  } catch {
    problems.push(`--broker must be a URL such as mqtt://broker:1883, got "${flags.broker}"`);
  }
  if (url && !BROKER_PROTOCOLS.has(url.protocol)) problems.push(`--broker must use mqtt://, mqtts://, ws:// or wss://, got "${url.protocol}//"`);
  if (url && (url.username || url.password)) problems.push(`--broker must not carry credentials; use --broker-username and ${WORKER_ENV.password}`);

  const workerId = flags.workerId ?? hostname();
  if (!idSchema.safeParse(workerId).success) problems.push(`--worker-id "${workerId}": ids are 1-64 chars of A-Z a-z 0-9 _ . - and start with a letter or digit`);
  const shareGroup = flags.shareGroup ?? DEFAULT_SHARE_GROUP;
  if (!idSchema.safeParse(shareGroup).success) problems.push(`--share-group "${shareGroup}": 1-64 chars of A-Z a-z 0-9 _ . - (no / + #)`);

  const protocolVersion = intIn('--broker-mqtt-version', flags.protocolVersion, 5, 4, 5, problems) as 4 | 5;
  const inflight = intIn('--broker-inflight', flags.inflight, 500, 1, 65_535, problems);
  const sessionExpirySeconds = intIn('--session-expiry', flags.sessionExpirySeconds, SESSION_NEVER_EXPIRES, 1, SESSION_NEVER_EXPIRES, problems);
  const reconnectPeriodMs = intIn('reconnect period', flags.reconnectPeriodMs, 1000, 10, 600_000, problems);

  const username = flags.username ?? (env[WORKER_ENV.username] || undefined);
  const password = flags.password ?? (env[WORKER_ENV.password] || undefined);
  if (password !== undefined && username === undefined) problems.push(`a broker password is set but no username (--broker-username or ${WORKER_ENV.username})`);

  if (problems.length > 0) throw new Error(`invalid worker options:\n  - ${problems.join('\n  - ')}`);
  return {
    brokerUrl: url!.toString().replace(/\/$/, ''),
    workerId,
    shareGroup,
    clientId: workerClientId(shareGroup, workerId),
    username,
    password,
    protocolVersion,
    inflight,
    sessionExpirySeconds,
    reconnectPeriodMs,
  };
}

/**
 * Environment variables for the influx store (containers, docker-compose). Read together with
 * QS_STORE=influx and QS_DATA_DIR by the server.
 */
import { join } from 'node:path';
import type { InfluxStoreOptions } from './influx-store.ts';

export const INFLUX_ENV = {
  url: 'QS_INFLUX_URL',
  token: 'QS_INFLUX_TOKEN',
  org: 'QS_INFLUX_ORG',
  bucket: 'QS_INFLUX_BUCKET',
} as const;

/** Every variable the influx store reads. */
export const influxEnvNames: readonly string[] = Object.values(INFLUX_ENV);

/** The spool lives inside the data directory, next to the WAL. */
export const INFLUX_SPOOL_SUBDIR = 'influx-spool';

/**
 * The connection part of InfluxStoreOptions from the environment, with the spool under
 * `dataDir`. Throws one error naming every missing variable.
 */
export function influxOptionsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): Pick<InfluxStoreOptions, 'url' | 'token' | 'org' | 'bucket' | 'spoolDir'> {
  const missing = influxEnvNames.filter((name) => name !== INFLUX_ENV.token && !env[name]);
  if (env[INFLUX_ENV.token] === undefined) missing.push(INFLUX_ENV.token);
  if (missing.length > 0) throw new Error(`store.kind is influx but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  return {
    url: env[INFLUX_ENV.url]!,
    token: env[INFLUX_ENV.token]!,
    org: env[INFLUX_ENV.org]!,
    bucket: env[INFLUX_ENV.bucket]!,
    spoolDir: join(dataDir, INFLUX_SPOOL_SUBDIR),
  };
}

export {
  openInfluxStore,
  QueryNotSupportedError,
  type InfluxStore,
  type InfluxStoreOptions,
  type InfluxStoreStats,
  type StoreLog,
} from './influx-store.ts';
export { INFLUX_ENV, INFLUX_SPOOL_SUBDIR, influxEnvNames, influxOptionsFromEnv } from './env.ts';
export { readingToLine, MEASUREMENT } from './line-protocol.ts';

export * from './types.ts';
export { openDuckDbStore, type DuckDbStoreOptions } from './duckdb-store.ts';

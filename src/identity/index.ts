export * from './types.ts';
export { IdentityRegistry, type DeviceCredentials, type DeviceRecord, type TokenRecord } from './registry.ts';

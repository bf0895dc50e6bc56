export * from './types.ts';
export { IdentityRegistry, RESERVED_DEVICE_IDS, type DeviceCredentials, type DeviceRecord, type TokenRecord } from './registry.ts';

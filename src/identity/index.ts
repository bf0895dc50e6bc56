export * from './types.ts';
export { IdentityRegistry, RegistryError, type DeviceCredentials, type DeviceRecord, type NewDevice, type TokenRecord } from './registry.ts';
export { parseDeviceList, type DeviceList } from './device-list.ts';

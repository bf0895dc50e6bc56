export * from './types.ts';
export { IdentityRegistry, RegistryError, RESERVED_DEVICE_IDS, type DeviceCredentials, type DeviceRecord, type NewDevice, type TokenRecord } from './registry.ts';
export { parseDeviceList, type DeviceList } from './device-list.ts';

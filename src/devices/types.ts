import type { DeviceType } from '../contract/index.ts';

/** What operators and gateway engineers see about one device. */
export interface DeviceStatus {
  tenant: string;
  /** `gateway` or `gateway/subdevice`. */
  device: string;
  type?: DeviceType;
  firmware?: string;
  intervalS?: number;
  online: boolean;
  /** Epoch ms of the last accepted or rejected message. */
  lastSeen?: number;
  connectedAt?: number;
  messages: number;
  readings: number;
  rejects: number;
  duplicates: number;
  lastReject?: { at: number; reason: string };
  /** Accepted messages with a warning, such as timestamps far in the future. */
  flagged: number;
  lastWarning?: { at: number; warning: string };
  /** No message for more than 3 nominal intervals (or 5 minutes without a birth). */
  stale: boolean;
}

export interface DeviceDirectory {
  list(tenant: string): DeviceStatus[];
  get(tenant: string, device: string): DeviceStatus | undefined;
}

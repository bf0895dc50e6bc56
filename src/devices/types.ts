import type { DeviceType } from '../contract/index.ts';
import type { DeviceState } from './query.ts';

/** What operators and gateway engineers see about one device. */
export interface DeviceStatus {
  tenant: string;
  /** `gateway` or `gateway/subdevice`. */
  device: string;
  type?: DeviceType;
  firmware?: string;
  intervalS?: number;
  /**
   * Reachable: connected now; or, after a clean DISCONNECT without an offline `state`, still
   * sending within its interval (a device that connects only to send); or, with no connection of
   * its own (a gateway's sub-device, a device behind an external broker), announced online or
   * sending within its interval.
   */
  online: boolean;
  /** online or stale (as `online`, and silent for 3 intervals); offline; never_connected: registered, no connection or message yet. */
  status: DeviceState;
  /** A live MQTT connection of this device to this server now. */
  connected: boolean;
  /** Epoch ms of the last accepted or rejected message. */
  lastSeen?: number;
  connectedAt?: number;
  /** How the last connection ended: `disconnect` (clean DISCONNECT), `connection lost`, `revoked`, `server shutdown`, `server restart`, or the error that closed it. */
  lastDisconnect?: { at: number; reason: string };
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

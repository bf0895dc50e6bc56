/**
 * Filtering, ordering and counting a tenant's device list: one implementation for the API (which
 * answers the dashboard's queries, so a fleet of 10,000 is not sent every few seconds) and the
 * dashboard (row colours, alarms). Pure, and free of imports, so the dashboard bundles it.
 */

export const deviceStates = ['online', 'stale', 'offline', 'never_connected'] as const;
export type DeviceState = (typeof deviceStates)[number];

/** A gateway registered ahead of a roll-out is not commissioned yet, which is no outage. */
export function deviceStateOf(online: boolean, stale: boolean, everSeen: boolean): DeviceState {
  if (!online) return everSeen ? 'offline' : 'never_connected';
  return stale ? 'stale' : 'online';
}

/** `problems`: rejecting recently, offline or stale; `rejecting`: ever refused a message. */
export const deviceFilters = ['all', 'problems', ...deviceStates, 'rejecting'] as const;
export type DeviceFilter = (typeof deviceFilters)[number];

export const deviceOrders = ['device', 'severity'] as const;
export type DeviceOrder = (typeof deviceOrders)[number];

/** A device that refused a message this recently counts as rejecting now: an alarm, listed first. */
export const REJECT_WINDOW_MS = 10 * 60_000;

/** What the queries read of a device, in the API's shape. */
export interface ListedDevice {
  device: string;
  type?: string | undefined;
  status: DeviceState;
  rejects: number;
  lastReject?: { at: number } | undefined;
}

export type DeviceCounts = Record<DeviceState | 'rejecting', number>;

/** Refused a message within REJECT_WINDOW_MS. */
export function rejectingNow(d: Pick<ListedDevice, 'lastReject'>, now: number): boolean {
  return d.lastReject !== undefined && now - d.lastReject.at < REJECT_WINDOW_MS;
}

/** 0..2 are problems (rejecting now, offline, stale); a gateway not yet commissioned (3) is not one, but comes before those online (4). */
export function deviceSeverity(d: ListedDevice, now: number): number {
  if (rejectingNow(d, now)) return 0;
  return d.status === 'offline' ? 1 : d.status === 'stale' ? 2 : d.status === 'never_connected' ? 3 : 4;
}

export function matchesDeviceFilter(d: ListedDevice, filter: DeviceFilter, now: number): boolean {
  if (filter === 'all') return true;
  if (filter === 'problems') return deviceSeverity(d, now) < 3;
  if (filter === 'rejecting') return d.rejects > 0;
  return d.status === filter;
}

export interface DeviceQuery {
  /** Part of the device id or type, any case. */
  q?: string | undefined;
  status?: DeviceFilter | undefined;
  order?: DeviceOrder | undefined;
  limit?: number | undefined;
}

const byId = (a: ListedDevice, b: ListedDevice) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0);

/** The matching devices (at most `limit`), how many matched, and the counts over all of them. */
export function queryDevices<T extends ListedDevice>(all: readonly T[], query: DeviceQuery, now: number): { devices: T[]; total: number; counts: DeviceCounts } {
  const counts: DeviceCounts = { online: 0, stale: 0, offline: 0, never_connected: 0, rejecting: 0 };
  const q = query.q?.trim().toLowerCase() ?? '';
  const filter = query.status ?? 'all';
  const matched: T[] = [];
  for (const d of all) {
    counts[d.status]++;
    if (d.rejects > 0) counts.rejecting++;
    if (q && !d.device.toLowerCase().includes(q) && !(d.type ?? '').includes(q)) continue;
    if (matchesDeviceFilter(d, filter, now)) matched.push(d);
  }
  if (query.order === 'severity') matched.sort((a, b) => deviceSeverity(a, now) - deviceSeverity(b, now) || byId(a, b));
  else matched.sort(byId);
  return { devices: query.limit !== undefined ? matched.slice(0, query.limit) : matched, total: matched.length, counts };
}

/**
 * One list of what needs an operator's attention, from the engine's alarms, device status and
 * the installation's health. Pure: the page and the navigation badge both use it.
 */
import { rejectingNow, type DeviceCounts } from '../../devices/query.ts';
import type { Health } from './live.ts';
import type { Device, DispatchAlarm, DispatchResult } from './types.ts';

export type Severity = 'critical' | 'warning';
export type AlarmCategory = 'input' | 'demand' | 'engine' | 'device' | 'store';

export interface Alarm {
  key: string;
  severity: Severity;
  category: AlarmCategory;
  /** Dictionary key of the title, with its parameters. */
  title: string;
  params: Record<string, string | number>;
  subject: string;
  /** Original server text (English), shown as detail. */
  detail?: string;
  since?: number;
  /** Where the subject links to, when not to the subject itself (a group of devices: the device list). */
  href?: string;
}

/** The problem devices the alarms are made from: possibly cut (problems first), with exact counts. */
export interface ProblemDevices {
  list: Device[];
  /** How many problem devices there are; more than listed when the list was cut. */
  total: number;
  /** All of the tenant's devices by status. */
  counts: DeviceCounts;
}

/**
 * More devices than this with the same problem make one alarm that says how many: a district's
 * network failing takes thousands of gateways offline, and a flood of alarms hides the other
 * ones (alarm flood, ISA-18.2).
 */
export const DEVICE_ALARM_GROUP_AT = 10;
/** A group alarm names this many of its devices. */
const NAMED_IN_GROUP = 3;


const inputCodes = new Set(['stale', 'expired', 'missing', 'rejected']);

function engineAlarm(a: DispatchAlarm, ts: number): Alarm {
  const category: AlarmCategory = inputCodes.has(a.code) ? 'input' : a.code === 'unmet_demand' ? 'demand' : 'engine';
  return {
    key: `engine:${a.code}:${a.input ?? ''}`,
    severity: a.level,
    category,
    title: `alarm.${a.code}`,
    params: { input: a.input ?? '' },
    subject: a.input ?? '',
    detail: a.message,
    since: ts,
  };
}

/** When this tab first saw each engine alarm: a tick's alarms carry only the tick's time. */
const firstSeen = new Map<string, number>();

type DeviceProblem = 'offline' | 'stale' | 'rejects';

function deviceAlarm(kind: DeviceProblem, d: Device): Alarm {
  const since = kind === 'rejects' ? d.lastReject?.at : d.lastSeen;
  const base = { key: `device:${kind}:${d.device}`, category: 'device' as const, subject: d.device, ...(since ? { since } : {}) };
  if (kind === 'offline') return { ...base, severity: 'critical', title: 'alarm.deviceOffline', params: { device: d.device } };
  if (kind === 'stale') return { ...base, severity: 'warning', title: 'alarm.deviceStale', params: { device: d.device } };
  return { ...base, severity: 'warning', title: 'alarm.deviceRejects', params: { device: d.device, n: d.rejects }, detail: d.lastReject!.reason };
}

/** One alarm per device, or one for all of them when they are many (or not all were sent: `atLeast`). */
function deviceAlarms(kind: DeviceProblem, listed: Device[], count: number, out: Alarm[], atLeast = false): void {
  if (count === 0) return;
  if (!atLeast && count <= DEVICE_ALARM_GROUP_AT && listed.length === count) {
    for (const d of listed) out.push(deviceAlarm(kind, d));
    return;
  }
  const first = listed.slice(0, NAMED_IN_GROUP).map((d) => d.device);
  const sinces = listed.map((d) => (kind === 'rejects' ? d.lastReject?.at : d.lastSeen)).filter((x): x is number => x !== undefined);
  out.push({
    key: `device:${kind}:*`,
    severity: kind === 'offline' ? 'critical' : 'warning',
    category: 'device',
    title: kind === 'offline' ? 'alarm.devicesOffline' : kind === 'stale' ? 'alarm.devicesStale' : 'alarm.devicesRejecting',
    params: { n: atLeast ? `${count}+` : count },
    subject: count > first.length ? `${first.join(', ')}, …` : first.join(', '),
    href: '#/devices',
    ...(sinces.length ? { since: Math.min(...sinces) } : {}),
  });
}

export function collectAlarms(r: DispatchResult | null, devices: ProblemDevices | null, health: Health, now = Date.now()): Alarm[] {
  const out: Alarm[] = [];
  if (r) {
    const keys = new Set<string>();
    for (const a of r.alarms) {
      const alarm = engineAlarm(a, r.ts);
      keys.add(alarm.key);
      if (!firstSeen.has(alarm.key)) firstSeen.set(alarm.key, r.ts);
      out.push({ ...alarm, since: firstSeen.get(alarm.key)! });
    }
    // A cleared alarm starts afresh when it returns.
    for (const k of firstSeen.keys()) if (!keys.has(k)) firstSeen.delete(k);
  }
  if (devices) {
    const offline = devices.list.filter((d) => d.status === 'offline');
    const stale = devices.list.filter((d) => d.status === 'stale');
    const rejecting = devices.list.filter((d) => rejectingNow(d, now));
    // Problems come first in the list, those rejecting now before all others: a cut list holds
    // every one of them, unless it holds nothing else.
    const cutInRejecting = devices.list.length < devices.total && rejecting.length === devices.list.length;
    deviceAlarms('rejects', rejecting, rejecting.length, out, cutInRejecting);
    deviceAlarms('offline', offline, devices.counts.offline, out);
    deviceAlarms('stale', stale, devices.counts.stale, out);
  }
  if (health.ready === false) {
    const failed = Object.entries(health.checks).filter(([, ok]) => !ok).map(([k]) => k);
    out.push({ key: 'store:notready', severity: 'critical', category: 'store', title: 'alarm.notReady', params: { checks: failed.join(', ') || '?' }, subject: failed.join(', '), since: health.at });
  }
  if (health.influxUp === 0) out.push({ key: 'store:influx', severity: 'critical', category: 'store', title: 'alarm.storeDown', params: {}, subject: 'InfluxDB', since: health.at });
  if (health.spoolBytes !== null && health.spoolBytes > 0)
    out.push({ key: 'store:spool', severity: 'warning', category: 'store', title: 'alarm.spooling', params: { kib: Math.ceil(health.spoolBytes / 1024) }, subject: 'spool', since: health.at });
  const rank = { critical: 0, warning: 1 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity] || (b.since ?? 0) - (a.since ?? 0));
}

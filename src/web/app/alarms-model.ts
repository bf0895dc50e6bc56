/**
 * One list of what needs an operator's attention, from the engine's alarms, device status and
 * the installation's health. Pure: the page and the navigation badge both use it.
 */
import { REJECT_WINDOW_MS } from '../../devices/query.ts';
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
}


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

export function collectAlarms(r: DispatchResult | null, devices: Device[] | null, health: Health, now = Date.now()): Alarm[] {
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
  for (const d of devices ?? []) {
    if (d.status === 'offline') out.push({ key: `device:offline:${d.device}`, severity: 'critical', category: 'device', title: 'alarm.deviceOffline', params: { device: d.device }, subject: d.device, ...(d.lastSeen ? { since: d.lastSeen } : {}) });
    else if (d.status === 'stale') out.push({ key: `device:stale:${d.device}`, severity: 'warning', category: 'device', title: 'alarm.deviceStale', params: { device: d.device }, subject: d.device, ...(d.lastSeen ? { since: d.lastSeen } : {}) });
    if (d.lastReject && now - d.lastReject.at < REJECT_WINDOW_MS)
      out.push({ key: `device:rejects:${d.device}`, severity: 'warning', category: 'device', title: 'alarm.deviceRejects', params: { device: d.device, n: d.rejects }, subject: d.device, detail: d.lastReject.reason, since: d.lastReject.at });
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

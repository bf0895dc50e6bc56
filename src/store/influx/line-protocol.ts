/**
 * Readings as InfluxDB line protocol: measurement `reading`, tags tenant/device/metric/unit,
 * one float field `value`, millisecond timestamp. Pure, so the format is tested on its own.
 */
import { escape } from '@influxdata/influxdb-client';
import type { Reading } from '../types.ts';

export const MEASUREMENT = 'reading';

/** Line protocol cannot carry an empty tag value, so an empty unit is left out. */
function tag(key: string, value: string): string {
  return value === '' ? '' : `,${key}=${escape.tag(value)}`;
}

/** Throws a TypeError naming the field when a reading cannot be written as line protocol. */
export function readingToLine(r: Reading): string {
  if (typeof r.tenant !== 'string' || r.tenant === '') throw new TypeError('reading.tenant must be a non-empty string');
  if (typeof r.device !== 'string' || r.device === '') throw new TypeError(`reading.device must be a non-empty string (tenant ${r.tenant})`);
  if (typeof r.metric !== 'string' || r.metric === '') throw new TypeError(`reading.metric must be a non-empty string (${r.tenant}/${r.device})`);
  if (typeof r.unit !== 'string') throw new TypeError(`reading.unit must be a string (${r.tenant}/${r.device}/${r.metric})`);
  if (typeof r.value !== 'number' || !Number.isFinite(r.value)) throw new TypeError(`reading.value must be a finite number, got ${String(r.value)} (${r.tenant}/${r.device}/${r.metric})`);
  if (typeof r.ts !== 'number' || !Number.isFinite(r.ts)) throw new TypeError(`reading.ts must be epoch milliseconds, got ${String(r.ts)} (${r.tenant}/${r.device}/${r.metric})`);
  return `${MEASUREMENT},tenant=${escape.tag(r.tenant)},device=${escape.tag(r.device)},metric=${escape.tag(r.metric)}${tag('unit', r.unit)} value=${floatField(r.value)} ${Math.floor(r.ts)}`;
}

/** JS prints 1e21 and 1e-7 style for extremes; line protocol floats accept that exponent form. */
function floatField(v: number): string {
  return Object.is(v, -0) ? '0' : String(v);
}

export function readingsToLines(readings: readonly Reading[]): string[] {
  const out = new Array<string>(readings.length);
  for (let i = 0; i < readings.length; i++) out[i] = readingToLine(readings[i]!);
  return out;
}

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

function isWritable(r: Reading): boolean {
  return (
    typeof r.tenant === 'string' && r.tenant !== '' && typeof r.device === 'string' && r.device !== '' &&
    typeof r.metric === 'string' && r.metric !== '' && typeof r.unit === 'string' &&
    typeof r.value === 'number' && Number.isFinite(r.value) && typeof r.ts === 'number' && Number.isFinite(r.ts)
  );
}

/**
 * Formats readings into request bodies, caching the escaped `measurement,tags value=` prefix
 * per series: escaping dominates the cost otherwise, and a store sees the same series over and
 * over. Bodies are built as one string, never as an array of lines (less garbage per reading).
 */
export class LineFormatter {
  private readonly prefixes = new Map<string, string>();

  constructor(private readonly maxSeries = 200_000) {}

  /** Throws a TypeError naming the first reading that cannot be written. */
  validate(readings: readonly Reading[]): void {
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      if (!r || typeof r !== 'object') throw new TypeError(`readings[${i}] is not a reading`);
      if (!isWritable(r)) readingToLine(r); // throws the precise error
    }
  }

  /** readings[start, end) as line protocol, one line each, '\n'-separated; call validate() first. */
  body(readings: readonly Reading[], start: number, end: number): string {
    let out = '';
    for (let i = start; i < end; i++) {
      const r = readings[i]!;
      const key = `${r.tenant}\u0000${r.device}\u0000${r.metric}\u0000${r.unit}`;
      let prefix = this.prefixes.get(key);
      if (prefix === undefined) {
        const line = readingToLine(r);
        prefix = line.slice(0, line.lastIndexOf(' value=') + 7);
        if (this.prefixes.size >= this.maxSeries) this.prefixes.clear();
        this.prefixes.set(key, prefix);
      }
      out += (i === start ? '' : '\n') + prefix + floatField(r.value) + ' ' + Math.floor(r.ts);
    }
    return out;
  }
}

/** Number of lines in a body built by LineFormatter. */
export function countLines(body: string): number {
  if (body === '') return 0;
  let n = 1;
  for (let i = body.indexOf('\n'); i !== -1; i = body.indexOf('\n', i + 1)) n++;
  return n;
}

/// <reference lib="dom" />
/** Numbers, times and durations in the current language. */
import { getLang, t } from './i18n.ts';

const cache = new Map<string, Intl.NumberFormat>();
function nf(digits: number): Intl.NumberFormat {
  const key = `${getLang()}:${digits}`;
  let f = cache.get(key);
  if (!f) cache.set(key, (f = new Intl.NumberFormat(getLang() === 'de' ? 'de-DE' : 'en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits })));
  return f;
}

/** A number with fixed decimals; an en dash for missing values. */
export function num(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  // Avoid "-0.0".
  const rounded = Math.abs(v) < 0.5 * 10 ** -digits ? 0 : v;
  return nf(digits).format(rounded);
}

export const mw = (v: number | null | undefined, digits = 1) => `${num(v, digits)} MW`;
export const pct = (share: number | null | undefined, digits = 0) => (share === null || share === undefined ? '–' : `${num(share * 100, digits)} %`);
export const eurPerMWh = (v: number | null | undefined) => `${num(v, 2)} €/MWh`;
export const int = (v: number | null | undefined) => num(v, 0);

export function dateTime(ms: number | null | undefined): string {
  if (!ms) return '–';
  return new Date(ms).toLocaleString(getLang() === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' });
}

export function time(ms: number | null | undefined): string {
  if (!ms) return '–';
  return new Date(ms).toLocaleTimeString(getLang() === 'de' ? 'de-DE' : 'en-GB');
}

/** "12 s ago", "3 min ago" … */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return t('never');
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return t('agoSeconds', { n: s });
  if (s < 3600) return t('agoMinutes', { n: Math.round(s / 60) });
  if (s < 86400) return t('agoHours', { n: Math.round(s / 3600) });
  return t('agoDays', { n: Math.round(s / 86400) });
}

/** Component ids such as zone_north read better with spaces. */
export const pretty = (id: string) => id.replace(/_/g, ' ');
/** A zone or bus id as a name: zone_north → Zone north. */
export const zoneName = (id: string) => {
  const p = pretty(id);
  return p.charAt(0).toUpperCase() + p.slice(1);
};

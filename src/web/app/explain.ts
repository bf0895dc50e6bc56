/** The engine's structured explanation, in the reader's language. */
import { eurPerMWh, pretty } from './format.ts';
import { t, type Key } from './i18n.ts';
import type { UnitExplanation } from './types.ts';

export function kindLabel(kind: string): string {
  if (!kind) return '';
  const key = `kind.${kind}` as Key;
  const text = t(key);
  return text === key ? pretty(kind) : text;
}

export function explain(e: UnitExplanation): string {
  const parts = [t(`why.${e.status}` as Key)];
  if (e.status !== 'unavailable') {
    parts.push(t('why.cost', { cost: eurPerMWh(e.marginalCostEurPerMWh), price: eurPerMWh(e.priceEurPerMWh), bus: pretty(e.priceBus) }));
    if (e.meritOf > 0) parts.push(t('why.merit', { rank: e.meritRank, of: e.meritOf }));
  }
  if (e.binding && e.binding !== 'none') parts.push(t('why.binding', { limit: t(`limit.${e.binding}` as Key) }));
  return parts.join(' · ');
}

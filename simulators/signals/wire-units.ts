import { normalise, quantityOf } from '../../src/contract/index.ts';

/**
 * Converter from the unit a model computes in to the unit a device declares on the wire,
 * derived from the contract's own normalisation so the two can never disagree.
 * All contract units are affine (v -> a*v + b) in their canonical unit.
 */
export function unitConverter(from: string, to: string): (value: number) => number {
  if (from === to) return (v) => v;
  const qFrom = quantityOf(from);
  const qTo = quantityOf(to);
  if (!qFrom || !qTo) throw new Error(`unknown unit "${!qFrom ? from : to}"`);
  if (qFrom !== qTo) throw new Error(`cannot convert ${from} (${qFrom}) to ${to} (${qTo})`);
  const affine = (unit: string): [number, number] => {
    const zero = normalise(0, unit);
    const one = normalise(1, unit);
    if (!zero.ok || !one.ok) throw new Error(`unknown unit "${unit}"`);
    return [one.value - zero.value, zero.value];
  };
  const [aFrom, bFrom] = affine(from);
  const [aTo, bTo] = affine(to);
  return (v) => (aFrom * v + bFrom - bTo) / aTo;
}

/** Rounds to significant digits; monotone, so counters stay non-decreasing. */
export function roundSignificant(value: number, digits: number): number {
  if (value === 0 || !Number.isFinite(value)) return value === 0 ? 0 : value;
  return Number(value.toPrecision(digits));
}

/** Rounds to significant digits away from the inside of a bound. */
export function roundOutward(value: number, digits: number, direction: 'up' | 'down'): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  const step = Math.pow(10, Math.floor(Math.log10(Math.abs(value))) - digits + 1);
  const steps = direction === 'up' ? Math.ceil(value / step) : Math.floor(value / step);
  return Number((steps * step).toPrecision(digits + 1));
}

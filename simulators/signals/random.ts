/**
 * The simulators' only source of randomness. Two flavours:
 * - counter-based (hash of seed, key and an index): random access by time, so a signal
 *   is a pure function of (seed, t) and thousands of devices need no per-device state;
 * - a sequential generator (mulberry32) for decisions that happen in order (faults, jitter).
 */

import { seededRandom } from '../../src/common/random.ts';

/** 32-bit finaliser of MurmurHash3: good avalanche for cheap. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of a list of integers to an unsigned 32-bit integer. */
export function hashInts(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    // Split so integers beyond 32 bits (time slots, epoch ms) still contribute fully.
    const lo = v | 0;
    const hi = Math.floor(v / 4294967296) | 0;
    h = fmix32(h ^ lo) + 0x6d2b79f5;
    h = fmix32(h ^ hi);
  }
  return h >>> 0;
}

/** FNV-1a of a string: stable per-device keys from ids. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h >>> 0);
}

/** Uniform in [0, 1) for (seed, key, index). */
export function uniformAt(seed: number, key: number, index: number): number {
  return hashInts(seed, key, index) / 4294967296;
}

/** Standard normal for (seed, key, index), by Box-Muller on two hashed uniforms. */
export function gaussianAt(seed: number, key: number, index: number): number {
  const u1 = (hashInts(seed, key, index, 1) + 1) / 4294967297; // (0, 1): log stays finite
  const u2 = hashInts(seed, key, index, 2) / 4294967296;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * Smooth, autocorrelated noise with unit variance at every t: Gaussian knots every
 * `periodMs`, blended with smoothstep weights and renormalised so the variance does not
 * dip between knots. The correlation time is about one period.
 */
export function smoothNoise(seed: number, key: number, tMs: number, periodMs: number): number {
  const x = tMs / periodMs;
  const i = Math.floor(x);
  const f = x - i;
  const w1 = f * f * (3 - 2 * f);
  const w0 = 1 - w1;
  const g0 = gaussianAt(seed, key, i);
  const g1 = gaussianAt(seed, key, i + 1);
  return (w0 * g0 + w1 * g1) / Math.sqrt(w0 * w0 + w1 * w1);
}

/** Sum of smooth noise at several time scales, normalised to unit variance. */
export function layeredNoise(seed: number, key: number, tMs: number, layers: ReadonlyArray<{ periodMs: number; weight: number }>): number {
  let sum = 0;
  let variance = 0;
  for (let l = 0; l < layers.length; l++) {
    const layer = layers[l]!;
    sum += layer.weight * smoothNoise(seed, hashInts(key, l), tMs, layer.periodMs);
    variance += layer.weight * layer.weight;
  }
  return variance > 0 ? sum / Math.sqrt(variance) : 0;
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Sequential generator for ordered decisions. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [min, max). */
  range(min: number, max: number): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: tiny, fast, fine for simulation (not for secrets). */
export function createRng(seed: number): Rng {
  const next = seededRandom(hashInts(seed));
  return {
    next,
    range: (min, max) => min + (max - min) * next(),
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
  };
}

/**
 * Synthetic heat demand from outdoor temperature with the German gas/heat standard load profile
 * method (SigLinDe, BDEW/VKU/GEODE "Leitfaden Abwicklung von Standardlastprofilen Gas"):
 *
 *   h(T) = A / (1 + (B / (T - T0))^C) + D  [+ max(mH T + bH, mW T + bW) with the linear part]
 *
 * with T0 = 40 degC and T the allocation temperature of the day: the geometric series
 * (T_d + 0.5 T_d-1 + 0.25 T_d-2 + 0.125 T_d-3) / 1.875 of daily mean temperatures.
 * Daily energy = KW · h(T) · F(weekday), with the customer value KW chosen so one calendar year
 * sums to the given annual demand.
 *
 * Coefficients (as published, 7 decimals where the source gives them): BDEW Leitfaden
 * (2016-06-30, Anhang: SigLinDe-Profile), profiles HEF (EFH,
 * single-family houses), HMF (MFH, multi-family houses) and GHD (commerce and services sum
 * profile), variants ("Ausprägungen") 33 and 34; GHD weekday factors from the same appendix.
 *
 * Daily to hourly: the BDEW guideline distributes a day with hour factors per temperature class
 * (large tables, not reproduced here). This module uses one 24-hour shape per day instead (a
 * residential space-heating shape with a night setback and morning and evening peaks, or the
 * scenario's `hourShape`), which keeps every daily total exact.
 */

export interface SigLinDeCoefficients {
  A: number;
  B: number;
  C: number;
  D: number;
  mH: number;
  bH: number;
  mW: number;
  bW: number;
}

export const SIGLINDE_T0 = 40;

export const sigLinDeCoefficients: Record<'33' | '34', Record<'EFH' | 'MFH' | 'GHD', SigLinDeCoefficients>> = {
  '33': {
    EFH: { A: 1.6209544, B: -37.1833141, C: 5.6727847, D: 0.0716431, mH: -0.04957, bH: 0.8401015, mW: -0.002209, bW: 0.1074468 },
    MFH: { A: 1.2328655, B: -34.7213605, C: 5.8164304, D: 0.0873352, mH: -0.0409284, bH: 0.767292, mW: -0.002232, bW: 0.1199207 },
    GHD: { A: 1.3010623, B: -35.68161, C: 6.685798, D: 0.1409267, mH: -0.0473428, bH: 0.8141691, mW: -0.0010601, bW: 0.1325092 },
  },
  '34': {
    EFH: { A: 1.3819663, B: -37.41242, C: 6.172318, D: 0.0396284, mH: -0.0672159, bH: 1.1167138, mW: -0.0019982, bW: 0.135507 },
    MFH: { A: 1.0443538, B: -35.0333754, C: 6.2240634, D: 0.0502917, mH: -0.053583, bH: 0.9995901, mW: -0.0021758, bW: 0.1633299 },
    GHD: { A: 1.25696, B: -36.6078453, C: 7.321187, D: 0.077696, mH: -0.0696826, bH: 1.1379702, mW: -0.0008522, bW: 0.1921068 },
  },
};

/** Weekday factors, Monday first. Residential profiles have none. */
export const sigLinDeWeekdayFactors: Record<'EFH' | 'MFH' | 'GHD', readonly number[]> = {
  EFH: [1, 1, 1, 1, 1, 1, 1],
  MFH: [1, 1, 1, 1, 1, 1, 1],
  GHD: [1.03, 1.03, 1.02, 1.03, 1.01, 0.93, 0.95],
};

/** Residential space heating by hour of day (relative; normalised when used). */
export const defaultHourShape: readonly number[] = [
  0.72, 0.7, 0.7, 0.72, 0.78, 0.95, 1.2, 1.3, 1.25, 1.15, 1.08, 1.04, 1.0, 0.98, 0.98, 1.0, 1.05, 1.12, 1.18, 1.18, 1.12, 1.02, 0.9, 0.8,
];

/** The h-value for an allocation temperature (degC). */
export function sigLinDe(c: SigLinDeCoefficients, t: number, linearPart = true): number {
  // The sigmoid has its pole at T0; real allocation temperatures stay far below it.
  const tt = Math.min(t, SIGLINDE_T0 - 1);
  const sig = c.A / (1 + (c.B / (tt - SIGLINDE_T0)) ** c.C) + c.D;
  return linearPart ? sig + Math.max(c.mH * tt + c.bH, c.mW * tt + c.bW) : sig;
}

/** Geometric-series allocation temperature per day from daily means (earlier days clamp to day 0). */
export function allocationTemperatures(dailyMean: ArrayLike<number>): Float64Array {
  const out = new Float64Array(dailyMean.length);
  for (let d = 0; d < dailyMean.length; d++) {
    const at = (k: number) => dailyMean[Math.max(0, d - k)]!;
    out[d] = (at(0) + 0.5 * at(1) + 0.25 * at(2) + 0.125 * at(3)) / 1.875;
  }
  return out;
}

export interface SigLinDeOptions {
  type: 'EFH' | 'MFH' | 'GHD';
  variant: '33' | '34';
  annualMWh: number;
  linearPart: boolean;
  hourShape?: readonly number[] | undefined;
}

/**
 * Heat demand in MW for every hour of a calendar year from its hourly temperatures (degC).
 * `year` fixes the weekdays; the hours sum to annualMWh.
 */
export function sigLinDeHourly(year: number, hourlyTempC: Float64Array, o: SigLinDeOptions): Float64Array {
  const days = Math.floor(hourlyTempC.length / 24);
  const daily = new Float64Array(days);
  for (let d = 0; d < days; d++) {
    let s = 0;
    for (let h = 0; h < 24; h++) s += hourlyTempC[d * 24 + h]!;
    daily[d] = s / 24;
  }
  const alloc = allocationTemperatures(daily);
  const coef = sigLinDeCoefficients[o.variant][o.type];
  const weekday = sigLinDeWeekdayFactors[o.type];
  const rel = new Float64Array(days);
  let sum = 0;
  for (let d = 0; d < days; d++) {
    const dow = (new Date(Date.UTC(year, 0, 1 + d)).getUTCDay() + 6) % 7; // Monday = 0
    rel[d] = sigLinDe(coef, alloc[d]!, o.linearPart) * weekday[dow]!;
    sum += rel[d]!;
  }
  const kw = o.annualMWh / sum;
  const shape = o.hourShape ?? defaultHourShape;
  const shapeSum = shape.reduce((a, b) => a + b, 0);
  const out = new Float64Array(hourlyTempC.length);
  for (let d = 0; d < days; d++) {
    const e = kw * rel[d]!;
    for (let h = 0; h < 24; h++) out[d * 24 + h] = (e * shape[h]!) / shapeSum;
  }
  return out;
}

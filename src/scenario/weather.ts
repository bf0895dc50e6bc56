/**
 * A synthetic outdoor temperature year for scenarios without measured weather: an annual
 * cosine, a diurnal cosine (warmest at 15:00 UTC) and a day-to-day AR(1) anomaly from a seeded
 * generator. Not measured weather; it only gives the SigLinDe method a plausible input. The
 * seed is recorded with every run, so the same seed gives the same temperatures.
 */

import { seededRandom } from '../common/random.ts';

function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export interface SyntheticWeather {
  seed: number;
  meanC: number;
  annualAmplitudeK: number;
  coldestDayOfYear: number;
  diurnalAmplitudeK: number;
  dailyNoiseK: number;
}

/** Hourly temperatures (degC) of one calendar year. The year is mixed into the seed. */
export function syntheticTemperatureYear(year: number, w: SyntheticWeather): Float64Array {
  const days = Math.round((Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1)) / 86_400_000);
  const normal = gaussian(seededRandom((w.seed * 7919 + year) >>> 0));
  const rho = 0.75;
  const anomaly = new Float64Array(days + 1);
  let a = normal() * w.dailyNoiseK;
  for (let d = 0; d <= days; d++) {
    anomaly[d] = a;
    a = rho * a + Math.sqrt(1 - rho * rho) * w.dailyNoiseK * normal();
  }
  const out = new Float64Array(days * 24);
  for (let h = 0; h < out.length; h++) {
    const day = h / 24;
    const d0 = Math.floor(day);
    const f = day - d0;
    const anom = anomaly[d0]! * (1 - f) + anomaly[d0 + 1]! * f;
    const seasonal = -w.annualAmplitudeK * Math.cos((2 * Math.PI * (day - w.coldestDayOfYear)) / 365.25);
    const diurnal = w.diurnalAmplitudeK * Math.cos((2 * Math.PI * ((h % 24) - 15)) / 24);
    out[h] = w.meanC + seasonal + diurnal + anom;
  }
  return out;
}

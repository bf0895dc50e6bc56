/** The horizon as periods (1 h or 15 min, UTC), split into calendar years: one LP per year. */

export const HOUR_MS = 3_600_000;

export interface YearSegment {
  year: number;
  /** Global index of the first period of this year in the horizon. */
  offset: number;
  periods: number;
  startMs: number;
  /** Periods in the whole calendar year (for prorating annual costs). */
  periodsInYear: number;
}

export interface Timeline {
  fromMs: number;
  toMs: number;
  dtH: number;
  periodMs: number;
  periods: number;
  years: YearSegment[];
  /** Year of each period (by segment). */
  yearOf(g: number): number;
  segmentOf(g: number): YearSegment;
  timeOf(g: number): number;
}

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

export function buildTimeline(fromMs: number, toMs: number, resolution: '1h' | '15min'): Timeline {
  const dtH = resolution === '1h' ? 1 : 0.25;
  const periodMs = dtH * HOUR_MS;
  if (!(toMs > fromMs)) throw new Error('horizon.to must be after horizon.from');
  if ((fromMs % periodMs) !== 0 || (toMs % periodMs) !== 0) throw new Error(`horizon.from and horizon.to must fall on whole ${resolution} steps`);
  const periods = Math.round((toMs - fromMs) / periodMs);
  const years: YearSegment[] = [];
  let t = fromMs;
  while (t < toMs) {
    const year = new Date(t).getUTCFullYear();
    const next = Math.min(Date.UTC(year + 1, 0, 1), toMs);
    years.push({
      year,
      offset: Math.round((t - fromMs) / periodMs),
      periods: Math.round((next - t) / periodMs),
      startMs: t,
      periodsInYear: Math.round((Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1)) / periodMs),
    });
    t = next;
  }
  const segIdx = new Int32Array(periods);
  years.forEach((s, i) => segIdx.fill(i, s.offset, s.offset + s.periods));
  return {
    fromMs,
    toMs,
    dtH,
    periodMs,
    periods,
    years,
    yearOf: (g) => years[segIdx[Math.min(g, periods - 1)]!]!.year,
    segmentOf: (g) => years[segIdx[Math.min(g, periods - 1)]!]!,
    timeOf: (g) => fromMs + g * periodMs,
  };
}

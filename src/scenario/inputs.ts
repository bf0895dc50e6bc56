/**
 * Input values per period: what the live engine reads from sensors, a scenario reads from
 * profiles. Per input (registry order): the config constant or the binding's safe default,
 * replaced by its series where one is given (CSV column, SigLinDe demand, temperature), then
 * scaled and shifted by the year paths, then masked by phase-in and phase-out dates.
 */
import type { ResolvedScenario } from './load.ts';
import { pathValue, type SeriesSpec } from './schema.ts';
import { sigLinDeHourly } from './siglinde.ts';
import { syntheticTemperatureYear } from './weather.ts';

export interface PhaseWindow {
  /** Availability input index masked by this window. */
  availIdx: number;
  from: number;
  to: number;
}

/** Maps a typical-year profile onto the periods of one calendar year at `dtH` (leap days copy 28 February). */
export function typicalYear(col: Float64Array, year: number, dtH: number): Float64Array {
  const perDayIn = col.length >= 35040 ? 96 : 24;
  const daysIn = col.length / perDayIn;
  const days = Math.round((Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1)) / 86_400_000);
  const perDayOut = Math.round(24 / dtH);
  const out = new Float64Array(days * perDayOut);
  for (let d = 0; d < days; d++) {
    let src = d;
    if (days === 366 && daysIn === 365 && d >= 59) src = d - 1;
    else if (days === 365 && daysIn === 366 && d >= 59) src = d + 1;
    src = Math.min(src, daysIn - 1);
    for (let s = 0; s < perDayOut; s++) {
      let v: number;
      if (perDayIn === perDayOut) v = col[src * perDayIn + s]!;
      else if (perDayIn > perDayOut) {
        const k = perDayIn / perDayOut;
        v = 0;
        for (let q = 0; q < k; q++) v += col[src * perDayIn + s * k + q]!;
        v /= k;
      } else v = col[src * perDayIn + Math.floor((s * perDayIn) / perDayOut)]!;
      out[d * perDayOut + s] = v;
    }
  }
  return out;
}

export class InputTimeline {
  readonly base: Float64Array;
  readonly phases: PhaseWindow[] = [];
  /** Storage index → [from, to) in service (for content bounds). */
  readonly storageService: { from: number; to: number }[];
  private readonly series: { idx: number; spec: SeriesSpec }[] = [];
  private readonly scale: { idx: number; path: Parameters<typeof pathValue>[0] }[] = [];
  private readonly add: { idx: number; path: Parameters<typeof pathValue>[0] }[] = [];
  private readonly yearCache = new Map<string, Float64Array>();
  private readonly tempCache = new Map<number, Float64Array>();
  /** Per-year capacity multipliers on availability inputs (rolling runs after sizing). */
  readonly availabilityScale = new Map<number, Map<number, number>>();

  constructor(readonly scn: ResolvedScenario) {
    const { registry, spec, city } = scn;
    this.base = new Float64Array(registry.defs.length);
    for (const d of registry.defs) this.base[d.index] = d.constant ?? d.binding?.defaultValue ?? 0;
    for (const [name, s] of Object.entries(spec.profiles.series)) this.series.push({ idx: registry.byName.get(name)!, spec: s });
    for (const [name, p] of Object.entries(spec.paths.scale)) this.scale.push({ idx: registry.byName.get(name)!, path: p });
    for (const [name, p] of Object.entries(spec.paths.add)) this.add.push({ idx: registry.byName.get(name)!, path: p });
    for (const p of spec.units) {
      if (p.phaseIn === undefined && p.phaseOut === undefined) continue;
      this.phases.push({ availIdx: registry.byName.get(`${p.id}.availability`)!, from: p.phaseIn ?? -Infinity, to: p.phaseOut ?? Infinity });
    }
    this.storageService = city.storages.map((s) => {
      const p = spec.storages.find((x) => x.id === s.id);
      return { from: p?.phaseIn ?? -Infinity, to: p?.phaseOut ?? Infinity };
    });
    for (const p of spec.storages) {
      if (p.phaseIn === undefined && p.phaseOut === undefined) continue;
      this.phases.push({ availIdx: registry.byName.get(`${p.id}.availability`)!, from: p.phaseIn ?? -Infinity, to: p.phaseOut ?? Infinity });
    }
  }

  co2Price(year: number): number {
    const p = this.scn.spec.co2PriceEurPerT;
    return p === undefined ? this.scn.city.co2PriceEurPerT : pathValue(p, year);
  }

  /** Hourly outdoor temperature (degC) of a calendar year. */
  temperatureYear(year: number): Float64Array {
    const hit = this.tempCache.get(year);
    if (hit) return hit;
    const t = this.scn.spec.profiles.weather.temperatureC;
    let out: Float64Array;
    if (t && 'source' in t) {
      const col = this.scn.sources.get(t.source)!.column(t.column) as Float64Array;
      out = typicalYear(col, year, 1).map((v) => v * t.scale + t.offset);
    } else {
      const w = t && 'synthetic' in t ? t.synthetic : { meanC: 9.5, annualAmplitudeK: 9, coldestDayOfYear: 20, diurnalAmplitudeK: 3, dailyNoiseK: 3, seed: undefined };
      out = syntheticTemperatureYear(year, { ...w, seed: w.seed ?? this.scn.spec.run.seed });
    }
    this.tempCache.set(year, out);
    return out;
  }

  /** A series over the periods of one calendar year (typical-year series) — cached. */
  private seriesYear(k: number, year: number): Float64Array {
    const key = `${k}:${year}`;
    const hit = this.yearCache.get(key);
    if (hit) return hit;
    const { spec } = this.series[k]!;
    const dt = this.scn.timeline.dtH;
    let out: Float64Array;
    if ('source' in spec) {
      const col = this.scn.sources.get(spec.source)!.column(spec.column) as Float64Array;
      out = typicalYear(col, year, dt).map((v) => v * spec.scale + spec.offset);
    } else {
      const hourly =
        'siglinde' in spec
          ? sigLinDeHourly(year, this.temperatureYear(year), { ...spec.siglinde, hourShape: spec.siglinde.hourShape })
          : this.temperatureYear(year).map((v) => v + spec.offset);
      out = dt === 1 ? hourly : typicalYear(hourly, year, dt);
    }
    this.yearCache.set(key, out);
    return out;
  }

  /** Writes the input values of global period g into `out`. */
  periodValues(g: number, out: Float64Array): Float64Array {
    const tl = this.scn.timeline;
    const gg = Math.min(g, tl.periods - 1);
    const seg = tl.segmentOf(gg);
    const year = seg.year;
    out.set(this.base);
    const inYear = Math.round((tl.timeOf(gg) - Date.UTC(year, 0, 1)) / tl.periodMs);
    for (let k = 0; k < this.series.length; k++) {
      const { idx, spec } = this.series[k]!;
      if ('source' in spec) {
        const col = this.scn.sources.get(spec.source)!.column(spec.column) as Float64Array;
        if (col.length === tl.periods && ![8760, 8784, 35040, 35136].includes(col.length)) {
          out[idx] = col[gg]! * spec.scale + spec.offset;
          continue;
        }
      }
      out[idx] = this.seriesYear(k, year)[inYear]!;
    }
    for (const s of this.scale) out[s.idx]! *= pathValue(s.path, year);
    for (const a of this.add) out[a.idx]! += pathValue(a.path, year);
    const t = tl.timeOf(g);
    for (const p of this.phases) if (!(t >= p.from && t < p.to)) out[p.availIdx] = 0;
    const capScale = this.availabilityScale.get(year);
    if (capScale) for (const [idx, f] of capScale) out[idx]! *= f;
    return out;
  }

  storageInService(si: number, g: number): boolean {
    const t = this.scn.timeline.timeOf(g);
    const w = this.storageService[si]!;
    return t >= w.from && t < w.to;
  }
}

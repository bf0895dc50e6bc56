/**
 * What every device in the city shares at one instant: weather, the electricity market,
 * local clock time and the heat demand it implies. Pure functions of (seed, t), plus a
 * small cache so thousands of devices sampling in the same second compute it once.
 */
import { smoothNoise } from './random.ts';
import { defaultSite, weatherAt, type Site, type Weather } from './weather.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const KEY = { price: 21, sewage: 22, load: 23 } as const;

export interface LocalTime {
  /** Hours since local midnight (CET/CEST), fractional. */
  hour: number;
  /** 0 Sunday .. 6 Saturday. */
  weekday: number;
  isWorkday: boolean;
}

export interface Market {
  /** Day-ahead-like spot price; negative when wind and sun flood the grid. */
  priceEurMWh: number;
  /** Grid-average CO2 intensity. */
  co2GPerKWh: number;
  /** Normalised electricity demand, ~0.5 (night) .. ~1.2 (winter evening). */
  loadFactor: number;
  /** Capacity factor of the regional wind fleet, 0..1. */
  windCf: number;
  /** Capacity factor of regional PV, 0..1. */
  solarCf: number;
}

export interface EnvSnapshot {
  tMs: number;
  weather: Weather;
  market: Market;
  local: LocalTime;
  /** Space-heating load fraction: 0 at >= 15 °C, 1 at the -12 °C design day, up to 1.2. */
  heatFactor: number;
  /** Temperature of municipal sewage (a waste-heat source). */
  sewageTempC: number;
}

function lastSundayUtc(year: number, month: number): number {
  const lastDay = new Date(Date.UTC(year, month + 1, 0));
  return Date.UTC(year, month, lastDay.getUTCDate() - lastDay.getUTCDay(), 1);
}

/** Central European time with EU summer time rules. */
export function localTime(tMs: number): LocalTime {
  const year = new Date(tMs).getUTCFullYear();
  const summer = tMs >= lastSundayUtc(year, 2) && tMs < lastSundayUtc(year, 9);
  const local = new Date(tMs + (summer ? 2 : 1) * HOUR);
  const hour = local.getUTCHours() + local.getUTCMinutes() / 60 + local.getUTCSeconds() / 3600;
  const weekday = local.getUTCDay();
  return { hour, weekday, isWorkday: weekday >= 1 && weekday <= 5 };
}

/** Bell curve around `center` hours (wrapping at midnight). */
export function hourBump(hour: number, center: number, width: number): number {
  let d = Math.abs(hour - center);
  if (d > 12) d = 24 - d;
  return Math.exp(-0.5 * (d / width) ** 2);
}

/** Power curve of a generic 3 MW-class turbine, as a capacity factor for a hub wind speed. */
export function windPowerCurve(hubSpeedMs: number): number {
  const cutIn = 3;
  const rated = 12;
  const cutOut = 25;
  if (hubSpeedMs < cutIn || hubSpeedMs >= cutOut) return 0;
  if (hubSpeedMs >= rated) return 1;
  return (hubSpeedMs ** 3 - cutIn ** 3) / (rated ** 3 - cutIn ** 3);
}

/** Wind at hub height from 10 m by the power law (open terrain). */
export function hubWindSpeed(speed10mMs: number, hubHeightM: number): number {
  return speed10mMs * Math.pow(hubHeightM / 10, 0.14);
}

export const HEAT_LIMIT_C = 15;
export const DESIGN_TEMP_C = -12;

export function heatFactorFor(buildingTempC: number): number {
  return Math.max(0, Math.min(1.2, (HEAT_LIMIT_C - buildingTempC) / (HEAT_LIMIT_C - DESIGN_TEMP_C)));
}

export function marketAt(tMs: number, weather: Weather, local: LocalTime, seed: number): Market {
  const winter = Math.max(0, Math.min(1, (HEAT_LIMIT_C - weather.buildingTempC) / 20));
  const loadFactor =
    0.5 +
    0.22 * hourBump(local.hour, 8.5, 2.5) +
    0.3 * hourBump(local.hour, 18.5, 2.2) +
    0.2 * hourBump(local.hour, 13, 3.5) +
    (local.isWorkday ? 0.08 : 0) +
    0.12 * winter +
    0.03 * smoothNoise(seed, KEY.load, tMs, 2 * HOUR);
  const windCf = windPowerCurve(hubWindSpeed(weather.windSpeedMs, 110));
  const solarCf = Math.min(1, weather.irradianceWm2 / 1000);
  // Merit order in one line: price follows the load left after wind and sun.
  const residual = loadFactor - 0.6 * windCf - 0.45 * solarCf;
  const priceEurMWh = -5 + 150 * residual + 9 * smoothNoise(seed, KEY.price, tMs, 3 * HOUR);
  const co2GPerKWh = Math.max(60, 110 + 420 * Math.max(0, residual));
  return { priceEurMWh, co2GPerKWh, loadFactor, windCf, solarCf };
}

/** Sewage: ~11 °C in late winter, ~20 °C in late summer, warmer in the afternoon. */
export function sewageTempAt(tMs: number, seed: number): number {
  const doy = (tMs - Date.UTC(new Date(tMs).getUTCFullYear(), 0, 1)) / DAY;
  const seasonal = 15.5 - 4.5 * Math.cos((2 * Math.PI * (doy - 45)) / 365.25);
  const daily = 0.8 * Math.sin((2 * Math.PI * ((tMs / HOUR) % 24 - 9)) / 24);
  return seasonal + daily + 0.4 * smoothNoise(seed, KEY.sewage, tMs, 12 * HOUR);
}

export function envAt(tMs: number, seed: number, site: Site = defaultSite): EnvSnapshot {
  const weather = weatherAt(tMs, seed, site);
  const local = localTime(tMs);
  return {
    tMs,
    weather,
    local,
    market: marketAt(tMs, weather, local, seed),
    heatFactor: heatFactorFor(weather.buildingTempC),
    sewageTempC: sewageTempAt(tMs, seed),
  };
}

/**
 * The city's environment with a per-second cache: all devices sampling within the same
 * second share one snapshot, so cost does not grow with fleet size.
 */
export class Environment {
  private cacheKey = Number.NaN;
  private cached: EnvSnapshot | undefined;

  constructor(
    readonly seed: number,
    readonly site: Site = defaultSite,
    private readonly resolutionMs = 1000,
  ) {}

  at(tMs: number): EnvSnapshot {
    const key = Math.floor(tMs / this.resolutionMs);
    if (key !== this.cacheKey || !this.cached) {
      this.cached = envAt(key * this.resolutionMs, this.seed, this.site);
      this.cacheKey = key;
    }
    return this.cached;
  }
}

/**
 * Shared weather for one simulated city: outdoor temperature, solar irradiance, wind and
 * humidity as pure functions of (seed, time). Tuned to a central-European climate
 * (~51°N): January mean ~1.5 °C, July mean ~18.5 °C, cloudier and windier in winter.
 */
import { layeredNoise, normalCdf, smoothNoise } from './random.ts';

export interface Site {
  latitudeDeg: number;
  longitudeDeg: number;
}

/** Roughly the Ruhr area: the sort of place with district heating and waste heat. */
export const defaultSite: Site = { latitudeDeg: 51.4, longitudeDeg: 7.2 };

export interface Weather {
  outdoorTempC: number;
  /** Outdoor temperature without most of the daily swing: what buildings respond to. */
  buildingTempC: number;
  /** Global horizontal irradiance. */
  irradianceWm2: number;
  clearSkyWm2: number;
  /** 0 clear .. 1 overcast. */
  cloudCover: number;
  /** At 10 m. */
  windSpeedMs: number;
  humidityPct: number;
  sunElevationDeg: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DEG = Math.PI / 180;

/** Noise keys: one per weather process so they are independent. */
const KEY = { temp: 11, cloud: 12, wind: 13, humidity: 14, gust: 15 } as const;

function dayOfYear(tMs: number): number {
  const d = new Date(tMs);
  return (tMs - Date.UTC(d.getUTCFullYear(), 0, 1)) / DAY;
}

/** Sun elevation above the horizon (degrees) at the site. */
export function sunElevationDeg(tMs: number, site: Site = defaultSite): number {
  const doy = dayOfYear(tMs);
  const n = Math.floor(doy) + 1;
  const declination = 23.44 * DEG * Math.sin((2 * Math.PI * (284 + n)) / 365);
  const b = (2 * Math.PI * (n - 81)) / 364;
  const equationOfTimeMin = 9.87 * Math.sin(2 * b) - 7.53 * Math.cos(b) - 1.5 * Math.sin(b);
  const utcHours = (doy - Math.floor(doy)) * 24;
  const solarHours = utcHours + site.longitudeDeg / 15 + equationOfTimeMin / 60;
  const hourAngle = 15 * DEG * (solarHours - 12);
  const lat = site.latitudeDeg * DEG;
  const sinElevation = Math.sin(lat) * Math.sin(declination) + Math.cos(lat) * Math.cos(declination) * Math.cos(hourAngle);
  return Math.asin(Math.max(-1, Math.min(1, sinElevation))) / DEG;
}

/** Clear-sky global horizontal irradiance (Haurwitz model), 0 when the sun is down. */
export function clearSkyIrradiance(elevationDeg: number): number {
  const cosZenith = Math.sin(elevationDeg * DEG);
  if (cosZenith <= 0) return 0;
  return 1098 * cosZenith * Math.exp(-0.059 / cosZenith);
}

/** Seasonal position: 1 in late January (coldest), -1 in late July. */
function winterness(tMs: number): number {
  return Math.cos((2 * Math.PI * (dayOfYear(tMs) - 20)) / 365.25);
}

/** Hours since local (solar) midnight at the site, 0..24. */
function solarHour(tMs: number, site: Site): number {
  const h = (((tMs / HOUR + site.longitudeDeg / 15) % 24) + 24) % 24;
  return h;
}

export function weatherAt(tMs: number, seed: number, site: Site = defaultSite): Weather {
  const winter = winterness(tMs);
  const elevation = sunElevationDeg(tMs, site);
  const clearSky = clearSkyIrradiance(elevation);

  // Clouds: multi-day weather systems plus hourly variation, more overcast in winter.
  const cloudZ = layeredNoise(seed, KEY.cloud, tMs, [
    { periodMs: 2.5 * DAY, weight: 1 },
    { periodMs: 5 * HOUR, weight: 0.6 },
  ]);
  const cloudCover = normalCdf(cloudZ + 0.35 * winter);
  // Kasten-Czeplak cloud attenuation.
  const irradiance = clearSky * (1 - 0.75 * Math.pow(cloudCover, 3.4));

  // Temperature: season + synoptic anomaly + daily swing (damped by clouds).
  const seasonal = 10 - 8.5 * winter;
  const synoptic = 3.2 * smoothNoise(seed, KEY.temp, tMs, 3 * DAY) + 1.0 * smoothNoise(seed, KEY.temp + 100, tMs, 8 * HOUR);
  const dailyAmplitude = (3 + 2.5 * (1 - winter) / 2) * (1 - 0.6 * cloudCover);
  const hour = solarHour(tMs, site);
  const dailyShape = Math.cos((2 * Math.PI * (hour - 15)) / 24); // max 15h, min 3h
  const outdoorTempC = seasonal + synoptic + dailyAmplitude * dailyShape;
  const buildingTempC = seasonal + synoptic + 0.3 * dailyAmplitude * dailyShape;

  // Wind: Weibull (k=2) marginal from an autocorrelated Gaussian, windier in winter and by day.
  const windZ = layeredNoise(seed, KEY.wind, tMs, [
    { periodMs: 1.5 * DAY, weight: 1 },
    { periodMs: 3 * HOUR, weight: 0.5 },
    { periodMs: 10 * 60_000, weight: 0.25 },
  ]);
  const u = Math.min(1 - 1e-9, Math.max(1e-9, normalCdf(windZ)));
  const scale = (5.0 + 1.2 * winter) * (1 + 0.12 * Math.max(0, Math.sin((elevation * Math.PI) / 180)));
  const windSpeedMs = scale * Math.sqrt(-Math.log(1 - u));

  // Relative humidity: high at night and in winter, lower on warm afternoons.
  const humidity = 76 + 7 * winter - 13 * dailyShape * (1 - 0.5 * cloudCover) + 8 * (cloudCover - 0.5) + 4 * smoothNoise(seed, KEY.humidity, tMs, 6 * HOUR);
  const humidityPct = Math.max(20, Math.min(100, humidity));

  return {
    outdoorTempC,
    buildingTempC,
    irradianceWm2: irradiance,
    clearSkyWm2: clearSky,
    cloudCover,
    windSpeedMs,
    humidityPct,
    sunElevationDeg: elevation,
  };
}

/**
 * Unit normalisation on ingest. Every quantity has one canonical unit; readings are
 * stored in it so queries and the coupling engine never convert.
 */
export type Quantity =
  | 'power' | 'energy' | 'temperature' | 'volume_flow' | 'volume' | 'mass' | 'mass_flow'
  | 'pressure' | 'ratio' | 'price' | 'co2_intensity' | 'irradiance' | 'speed' | 'count';

interface UnitDef { quantity: Quantity; toCanonical: (v: number) => number }

const linear = (quantity: Quantity, factor: number): UnitDef => ({ quantity, toCanonical: (v) => v * factor });

export const canonicalUnit: Record<Quantity, string> = {
  power: 'kW',
  energy: 'kWh',
  temperature: 'degC',
  volume_flow: 'm3/h',
  volume: 'm3',
  mass: 't',
  mass_flow: 't/h',
  pressure: 'bar',
  ratio: '%',
  price: 'EUR/MWh',
  co2_intensity: 'g/kWh',
  irradiance: 'W/m2',
  speed: 'm/s',
  count: '1',
};

const units: Record<string, UnitDef> = {
  W: linear('power', 1e-3), kW: linear('power', 1), MW: linear('power', 1e3), GW: linear('power', 1e6),
  Wh: linear('energy', 1e-3), kWh: linear('energy', 1), MWh: linear('energy', 1e3), GWh: linear('energy', 1e6),
  MJ: linear('energy', 1 / 3.6), GJ: linear('energy', 1000 / 3.6),
  degC: linear('temperature', 1), '°C': linear('temperature', 1), C: linear('temperature', 1),
  K: { quantity: 'temperature', toCanonical: (v) => v - 273.15 },
  degF: { quantity: 'temperature', toCanonical: (v) => ((v - 32) * 5) / 9 },
  '°F': { quantity: 'temperature', toCanonical: (v) => ((v - 32) * 5) / 9 },
  'm3/h': linear('volume_flow', 1), 'm³/h': linear('volume_flow', 1),
  'l/s': linear('volume_flow', 3.6), 'L/s': linear('volume_flow', 3.6),
  'l/min': linear('volume_flow', 0.06), 'L/min': linear('volume_flow', 0.06), 'l/h': linear('volume_flow', 1e-3), 'L/h': linear('volume_flow', 1e-3),
  m3: linear('volume', 1), 'm³': linear('volume', 1), l: linear('volume', 1e-3), L: linear('volume', 1e-3),
  kg: linear('mass', 1e-3), t: linear('mass', 1),
  'kg/s': linear('mass_flow', 3.6), 'kg/h': linear('mass_flow', 1e-3), 't/h': linear('mass_flow', 1),
  Pa: linear('pressure', 1e-5), kPa: linear('pressure', 1e-2), bar: linear('pressure', 1), mbar: linear('pressure', 1e-3),
  '%': linear('ratio', 1), fraction: linear('ratio', 100),
  'EUR/MWh': linear('price', 1), 'EUR/kWh': linear('price', 1000), 'ct/kWh': linear('price', 10),
  'g/kWh': linear('co2_intensity', 1), 'kg/MWh': linear('co2_intensity', 1), 't/MWh': linear('co2_intensity', 1000), 'kg/kWh': linear('co2_intensity', 1000),
  'W/m2': linear('irradiance', 1), 'W/m²': linear('irradiance', 1), 'kW/m2': linear('irradiance', 1000),
  'm/s': linear('speed', 1), 'km/h': linear('speed', 1 / 3.6),
  count: linear('count', 1), '1': linear('count', 1),
};

export const knownUnits: readonly string[] = Object.keys(units);

export type NormaliseResult = { ok: true; value: number; unit: string } | { ok: false; reason: string };

export function normalise(value: number, unit: string): NormaliseResult {
  const def = units[unit];
  if (!def) return { ok: false, reason: `unknown unit "${unit}"; known units: ${knownUnits.join(', ')}` };
  return { ok: true, value: def.toCanonical(value), unit: canonicalUnit[def.quantity] };
}

export function quantityOf(unit: string): Quantity | undefined {
  return units[unit]?.quantity;
}

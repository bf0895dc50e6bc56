/**
 * A plausible device mix for a city of n devices: mostly heat meters in district-heating
 * zones and rooftop PV, a handful of plants, one or two weather stations and grid meters.
 */
import { idSchema } from '../src/contract/index.ts';
import type { SimulatedDeviceType } from './signals/models.ts';
import { createRng } from './signals/random.ts';

export interface FleetDevice {
  device: string;
  type: SimulatedDeviceType;
  variant?: string;
  /** District-heating zone of a heat meter, e.g. `zone03`. */
  zone?: string;
}

/** Relative shares, tuned so small fleets still get one of everything. */
const shares: ReadonlyArray<{ type: SimulatedDeviceType; weight: number }> = [
  { type: 'heat_meter', weight: 55 },
  { type: 'pv', weight: 12 },
  { type: 'heat_pump', weight: 6 },
  { type: 'boiler', weight: 4 },
  { type: 'waste_heat_source', weight: 4 },
  { type: 'storage_tank', weight: 3 },
  { type: 'wind', weight: 3 },
  { type: 'weather_station', weight: 2.5 },
  { type: 'gas_chp', weight: 2 },
  { type: 'grid_meter', weight: 1.5 },
  { type: 'waste_to_energy', weight: 1 },
];

/** Who comes first when n is smaller than the number of types. */
const priority: readonly SimulatedDeviceType[] = [
  'heat_meter',
  'weather_station',
  'grid_meter',
  'gas_chp',
  'waste_heat_source',
  'heat_pump',
  'storage_tank',
  'pv',
  'waste_to_energy',
  'boiler',
  'wind',
];

const variants: Partial<Record<SimulatedDeviceType, readonly string[]>> = {
  waste_heat_source: ['datacentre', 'industry', 'sewage'],
  heat_pump: ['sewage', 'datacentre', 'air'],
  pv: ['roof', 'roof', 'roof', 'roof', 'park'],
};

const prefix: Record<SimulatedDeviceType, string> = {
  heat_meter: 'hm',
  waste_heat_source: 'whs',
  gas_chp: 'chp',
  waste_to_energy: 'wte',
  heat_pump: 'hp',
  boiler: 'blr',
  storage_tank: 'tes',
  pv: 'pv',
  wind: 'wind',
  weather_station: 'ws',
  grid_meter: 'grid',
};

const METERS_PER_ZONE = 40;

/** Largest-remainder apportionment of n over the shares, one of each type first. */
function typeCounts(n: number): Map<SimulatedDeviceType, number> {
  const counts = new Map<SimulatedDeviceType, number>();
  const base = Math.min(n, priority.length);
  for (let i = 0; i < base; i++) counts.set(priority[i]!, 1);
  const rest = n - base;
  if (rest > 0) {
    const total = shares.reduce((s, x) => s + x.weight, 0);
    const exact = shares.map((x) => ({ type: x.type, value: (rest * x.weight) / total }));
    let given = 0;
    for (const e of exact) {
      const whole = Math.floor(e.value);
      counts.set(e.type, (counts.get(e.type) ?? 0) + whole);
      given += whole;
    }
    const byRemainder = [...exact].sort((a, b) => b.value - Math.floor(b.value) - (a.value - Math.floor(a.value)));
    for (let i = 0; given < rest; i++, given++) {
      const t = byRemainder[i % byRemainder.length]!.type;
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
  }
  return counts;
}

const pad = (i: number, width: number) => String(i).padStart(width, '0');

/** Deterministic for (n, seed); ids are unique and valid contract ids. */
export function planFleet(n: number, seed = 1): FleetDevice[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`fleet size must be a positive integer, got ${n}`);
  const rng = createRng(seed);
  const fleet: FleetDevice[] = [];
  for (const [type, count] of typeCounts(n)) {
    if (count === 0) continue;
    if (type === 'heat_meter') {
      const zones = Math.max(1, Math.ceil(count / METERS_PER_ZONE));
      const zoneWidth = Math.max(2, String(zones).length);
      const perZone = new Array<number>(zones).fill(0);
      const meterWidth = Math.max(3, String(Math.ceil(count / zones)).length);
      for (let i = 0; i < count; i++) {
        const z = i % zones;
        perZone[z]!++;
        const zone = `zone${pad(z + 1, zoneWidth)}`;
        fleet.push({ device: `hm-${zone}-${pad(perZone[z]!, meterWidth)}`, type, zone });
      }
      continue;
    }
    const options = variants[type];
    const perVariant = new Map<string, number>();
    const width = count >= 10 ? Math.max(2, String(count).length) : 1;
    for (let i = 0; i < count; i++) {
      // The first devices cycle through the variants so small fleets see each of them.
      const variant = options ? (i < new Set(options).size ? [...new Set(options)][i]! : rng.pick(options)) : undefined;
      if (variant) {
        const k = (perVariant.get(variant) ?? 0) + 1;
        perVariant.set(variant, k);
        const label = type === 'pv' ? (variant === 'park' ? 'park' : 'roof') : variant;
        fleet.push({ device: `${prefix[type]}-${label}-${pad(k, width)}`, type, variant });
      } else {
        fleet.push({ device: `${prefix[type]}-${pad(i + 1, width)}`, type });
      }
    }
  }
  for (const d of fleet) {
    if (!idSchema.safeParse(d.device).success) throw new Error(`planned an invalid device id "${d.device}"`);
  }
  return fleet;
}

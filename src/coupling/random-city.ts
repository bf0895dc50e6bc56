/**
 * Seeded random cities and readings, for randomised checks of the engine against independent
 * solvers: every component kind, tight and loose capacities (so unmet demand and curtailment
 * occur), negative power prices, must-run, minimum outputs, ramps and congested links.
 */
import type { CityInput } from './model/schema.ts';
import { seededRandom } from '../common/random.ts';

export { seededRandom };

export interface RandomReading {
  device: string;
  metric: string;
  value: number;
}

/** A random city and a generator of random readings for its bindings. */
export function randomCity(seed: number): { city: CityInput; readings: (rand: () => number) => RandomReading[] } {
  const rand = seededRandom(seed);
  const between = (a: number, b: number) => a + (b - a) * rand();
  const chance = (p: number) => rand() < p;
  const r2 = (v: number) => Math.round(v * 1000) / 1000;
  const nz = 2 + Math.floor(rand() * 4);
  const zones = Array.from({ length: nz }, (_, i) => `z${i + 1}`);
  const feeds: ((rand: () => number) => RandomReading)[] = [];
  const bindPower = (device: string, metric: string, lo: number, hi: number) => {
    feeds.push((r) => ({ device, metric, value: r2((lo + (hi - lo) * r()) * 1000) }));
    return { device, metric, unit: 'kW', default: r2(((lo + hi) / 2) * 1000) };
  };
  const bindTemp = (device: string, metric: string, lo: number, hi: number) => {
    feeds.push((r) => ({ device, metric, value: r2(lo + (hi - lo) * r()) }));
    return { device, metric, unit: 'degC', default: r2((lo + hi) / 2) };
  };

  const buses: CityInput['buses'] = zones.map((z) => ({
    id: z,
    kind: 'heat' as const,
    demandMw: chance(0.7) ? bindPower(`hm-${z}`, 'heat_power', 1, 12) : r2(between(1, 12)),
    supplyTempC: chance(0.5) ? bindTemp(`hm-${z}`, 'supply_temp', 60, 110) : r2(between(60, 110)),
  }));
  buses.push({ id: 'el', kind: 'electricity', demandMw: chance(0.5) ? r2(between(0, 5)) : 0 });
  buses.push({ id: 'gas', kind: 'gas', priceEurPerMWh: r2(between(15, 80)), co2TPerMWh: 0.202, ...(chance(0.3) ? { capacityMw: r2(between(5, 30)) } : {}) });
  const units: NonNullable<CityInput['units']> = [];
  const zoneOf = () => zones[Math.floor(rand() * nz)]!;
  const ramp = () => (chance(0.4) ? { rampMwPerMin: r2(between(0.1, 3)) } : {});
  let k = 0;
  for (const z of zones) {
    const nb = Math.floor(rand() * 3);
    for (let i = 0; i < nb; i++) {
      const max = r2(between(1, 10));
      units.push({
        id: `boiler${++k}`,
        kind: 'gas_boiler',
        zone: z,
        heatMaxMw: max,
        heatMinMw: chance(0.2) ? r2(max * between(0.05, 0.3)) : 0,
        efficiency: r2(between(0.8, 0.97)),
        varCostEurPerMWh: r2(between(0, 5)),
        mustRun: chance(0.05),
        availability: chance(0.1) ? 0 : chance(0.2) ? r2(between(0.3, 1)) : 1,
        ...ramp(),
      });
    }
  }
  const nchp = Math.floor(rand() * 3);
  for (let i = 0; i < nchp; i++) {
    const elMax = r2(between(1, 8));
    if (chance(0.5)) {
      units.push({ id: `chp${i + 1}`, kind: 'gas_chp', mode: 'back_pressure', zone: zoneOf(), elMaxMw: elMax, elMinMw: chance(0.3) ? r2(elMax * 0.3) : 0, etaEl: r2(between(0.3, 0.42)), etaTh: r2(between(0.4, 0.55)), varCostEurPerMWhEl: r2(between(2, 8)), ...ramp() });
    } else {
      units.push({
        id: `chp${i + 1}`,
        kind: 'gas_chp',
        mode: 'extraction',
        zone: zoneOf(),
        elMaxMw: elMax,
        etaEl: r2(between(0.35, 0.45)),
        powerToHeat: r2(between(0.5, 1.2)),
        beta: r2(between(0.1, 0.2)),
        varCostEurPerMWhEl: r2(between(2, 8)),
        ...(chance(0.4) ? { heatMaxMw: r2(between(1, 6)) } : {}),
        ...ramp(),
      });
    }
  }
  if (chance(0.7)) {
    buses.push({ id: 'wh', kind: 'waste_heat', temperatureC: bindTemp('whs-1', 'source_temp', 10, 95) });
    units.push({ id: 'whs1', kind: 'waste_heat_source', bus: 'wh', availableMw: bindPower('whs-1', 'heat_power', 0, 6), varCostEurPerMWh: r2(between(0, 3)), ...(chance(0.6) ? { directZone: zoneOf() } : {}), mustRun: chance(0.1) });
    units.push({ id: 'hp1', kind: 'heat_pump', zone: zoneOf(), sourceBus: 'wh', heatMaxMw: r2(between(1, 6)), heatMinMw: chance(0.2) ? 0.5 : 0, carnotEfficiency: r2(between(0.4, 0.6)), varCostEurPerMWh: r2(between(0, 3)), ...ramp() });
  }
  if (chance(0.5)) {
    units.push({ id: 'hp2', kind: 'heat_pump', zone: zoneOf(), sourceTempC: bindTemp('weather-1', 'outdoor_temp', -10, 20), heatMaxMw: r2(between(1, 4)), carnotEfficiency: r2(between(0.35, 0.5)), copMax: 5 });
  }
  if (chance(0.6)) {
    const must = chance(0.5);
    buses.push({ id: 'waste', kind: 'waste', availableTph: { device: 'wte-1', metric: 'waste_feed', unit: 't/h', default: 5 }, gateFeeEurPerT: r2(between(0, 120)), mustDispose: must, divertCostEurPerT: r2(between(50, 300)) });
    feeds.push((r) => ({ device: 'wte-1', metric: 'waste_feed', value: r2(1 + 10 * r()) }));
    units.push({ id: 'wte1', kind: 'wte_chp', zone: zoneOf(), wasteMaxTph: r2(between(3, 10)), wasteMinTph: chance(0.5) ? 1 : 0, varCostEurPerT: r2(between(5, 25)), co2TPerT: 0.35, ...(chance(0.4) ? { rampTphPerMin: 0.2 } : {}) });
  }
  if (chance(0.5)) units.push({ id: 'eb1', kind: 'electric_boiler', zone: zoneOf(), heatMaxMw: r2(between(1, 8)), efficiency: 0.99 });
  const npv = Math.floor(rand() * 3);
  for (let i = 0; i < npv; i++) {
    const cap = r2(between(1, 10));
    units.push({ id: `pv${i + 1}`, kind: 'pv', capacityMw: cap, availableMw: bindPower(`pv-${i + 1}`, 'el_power', 0, cap) });
  }
  if (chance(0.5)) units.push({ id: 'wind1', kind: 'wind', capacityMw: 6, availableMw: bindPower('wind-1', 'el_power', 0, 6), curtailPenaltyEurPerMWh: r2(between(0, 10)) });
  if (chance(0.9)) {
    feeds.push((r) => ({ device: 'grid-1', metric: 'price', value: r2(-50 + 250 * r()) }));
    feeds.push((r) => ({ device: 'grid-1', metric: 'co2_intensity', value: r2(100 + 500 * r()) }));
    units.push({
      id: 'grid1',
      kind: 'grid',
      importPriceEurPerMWh: { device: 'grid-1', metric: 'price', unit: 'EUR/MWh', default: 80 },
      co2TPerMWh: { device: 'grid-1', metric: 'co2_intensity', unit: 'g/kWh', default: 350 },
      importFeeEurPerMWh: r2(between(0, 30)),
      exportFeeEurPerMWh: r2(between(0, 5)),
      importMaxMw: r2(between(0, 20)),
      exportMaxMw: r2(between(0, 20)),
    });
  }
  const storages: NonNullable<CityInput['storages']> = [];
  const ns = Math.floor(rand() * 3);
  for (let i = 0; i < ns; i++) {
    const cap = r2(between(5, 60));
    feeds.push((r) => ({ device: `tank-${i + 1}`, metric: 'soc', value: r2(100 * r()) }));
    storages.push({
      id: `tank${i + 1}`,
      zone: zoneOf(),
      capacityMWh: cap,
      chargeMaxMw: r2(between(1, 10)),
      dischargeMaxMw: r2(between(1, 10)),
      etaCharge: r2(between(0.9, 1)),
      etaDischarge: r2(between(0.9, 1)),
      lossPerH: r2(between(0, 0.01)),
      soc: { device: `tank-${i + 1}`, metric: 'soc', unit: '%', default: 50 },
      valueEurPerMWh: r2(between(10, 90)),
    });
  }
  const links: NonNullable<CityInput['links']> = [];
  for (let i = 1; i < nz; i++) links.push({ id: `l${i}`, from: zones[i - 1]!, to: zones[i]!, capacityMw: r2(between(0.5, 8)), lossFraction: r2(between(0, 0.05)) });
  if (nz > 2 && chance(0.5)) links.push({ id: 'lx', from: zones[nz - 1]!, to: zones[0]!, capacityMw: r2(between(0.5, 5)), reverseCapacityMw: r2(between(0, 3)), lossFraction: 0.03 });

  const city: CityInput = {
    name: `random-${seed}`,
    tickS: 10,
    co2PriceEurPerT: r2(between(0, 150)),
    buses,
    units,
    storages,
    links,
  };
  return { city, readings: (r) => feeds.map((f) => f(r)) };
}

/**
 * Generator of config/reference-city.yaml, the benchmark city: 32 heat zones on a ring with
 * cross links, 8 waste-heat buses, 155 units (gas boilers, gas CHPs of both kinds, heat pumps on
 * waste heat and ambient sources, waste-heat sources, two waste-to-energy CHPs, electric
 * boilers, PV, wind, the grid), 8 storages and 44 links. Deterministic (seeded).
 *
 *   npx tsx src/coupling/reference-city.ts > config/reference-city.yaml
 */
import { pathToFileURL } from 'node:url';
import { Document, isSeq, visit } from 'yaml';
import type { CityInput } from './model/schema.ts';
import { seededRandom } from './random-city.ts';

export const REFERENCE_SIZES = { zones: 32, wasteHeatBuses: 8, storages: 8, ringLinks: 32, crossLinks: 12 } as const;

const pad2 = (i: number) => String(i).padStart(2, '0');
const r2 = (v: number) => Math.round(v * 100) / 100;

/** Typical winter-day heat demand shape (morning and evening peaks). */
function demandShape(h: number): number {
  const bump = (c: number, w: number) => {
    const d = Math.min(Math.abs(h - c), 24 - Math.abs(h - c));
    return Math.exp(-0.5 * (d / w) ** 2);
  };
  return 0.86 + 0.34 * bump(6.8, 1.3) + 0.22 * bump(19, 2) - 0.16 * bump(2.5, 2.2);
}

const PRICE_PROFILE = [70, 65, 62, 60, 62, 70, 90, 110, 105, 90, 75, 60, 50, 45, 50, 65, 85, 110, 125, 115, 100, 90, 80, 75];
const PV_SHAPE = [0, 0, 0, 0, 0, 0, 0.03, 0.14, 0.34, 0.57, 0.8, 0.94, 1, 0.94, 0.8, 0.57, 0.34, 0.14, 0.03, 0, 0, 0, 0, 0];

export function generateReferenceCity(seed = 20261121): CityInput {
  const rand = seededRandom(seed);
  const between = (a: number, b: number) => a + (b - a) * rand();
  const Z = REFERENCE_SIZES.zones;
  const zone = (i: number) => `zone${pad2(i)}`;
  const zonePeak: number[] = [];

  const buses: CityInput['buses'] = [];
  for (let i = 1; i <= Z; i++) {
    // The zone's design peak: its heat demand on the coldest hour of the year, what its units and
    // links are sized against. It is also the safe default (a zone whose meter falls silent is
    // supplied as on that hour).
    const peakMw = r2(between(4, 16));
    zonePeak[i] = peakMw;
    buses.push({
      id: zone(i),
      kind: 'heat',
      demandMw: {
        device: `hm-zone${pad2(i)}`,
        metric: 'heat_power',
        unit: 'kW',
        default: Math.round(peakMw * 1000),
        profile: Array.from({ length: 24 }, (_, h) => Math.round(peakMw * 700 * demandShape(h + 0.5))),
      },
      supplyTempC: { device: `hm-zone${pad2(i)}`, metric: 'supply_temp', unit: 'degC', default: 95 },
    });
  }
  buses.push({ id: 'power', kind: 'electricity', demandMw: 0 });
  buses.push({ id: 'gas', kind: 'gas', priceEurPerMWh: { device: 'market-1', metric: 'gas_price', unit: 'EUR/MWh', default: 35 }, co2TPerMWh: 0.202 });
  buses.push({
    id: 'waste',
    kind: 'waste',
    availableTph: { device: 'wte-1', metric: 'waste_feed', unit: 't/h', default: 20 },
    gateFeeEurPerT: 90,
    mustDispose: true,
    divertCostEurPerT: 150,
  });
  const whSources: { bus: string; device: string; kind: 'datacentre' | 'industry' | 'sewage'; zone: number }[] = [];
  const whKinds: ('datacentre' | 'industry' | 'sewage')[] = ['datacentre', 'datacentre', 'datacentre', 'datacentre', 'industry', 'industry', 'sewage', 'sewage'];
  const kindCount: Record<string, number> = {};
  whKinds.forEach((k, i) => {
    kindCount[k] = (kindCount[k] ?? 0) + 1;
    const device = `whs-${k}-${kindCount[k]}`;
    const bus = `wh_${k}${kindCount[k]}`;
    buses.push({ id: bus, kind: 'waste_heat', temperatureC: { device, metric: 'source_temp', unit: 'degC', default: k === 'industry' ? 70 : k === 'sewage' ? 14 : 35 } });
    whSources.push({ bus, device, kind: k, zone: 2 + i * 4 });
  });

  const units: CityInput['units'] = [];
  // Gas boilers: one in every zone, a second peak boiler in eight of them.
  let boiler = 0;
  for (let i = 1; i <= Z; i++) {
    const n = i % 4 === 0 ? 2 : 1;
    for (let k = 0; k < n; k++) {
      boiler++;
      units.push({
        id: `boiler${boiler}`,
        kind: 'gas_boiler',
        zone: zone(i),
        heatMaxMw: r2(zonePeak[i]! * between(0.6, 1.1)),
        efficiency: r2(between(0.88, 0.95)),
        varCostEurPerMWh: r2(between(0.8, 2)),
        rampMwPerMin: r2(between(1, 4)),
      });
    }
  }
  // Gas CHPs: eight extraction, eight back-pressure.
  for (let c = 1; c <= 16; c++) {
    const z = ((c * 7) % Z) + 1;
    const extraction = c <= 8;
    units.push(
      extraction
        ? {
            id: `chp${c}`,
            kind: 'gas_chp',
            mode: 'extraction',
            zone: zone(z),
            elMaxMw: r2(between(4, 14)),
            elMinMw: 0,
            etaEl: r2(between(0.38, 0.45)),
            powerToHeat: r2(between(0.6, 1)),
            beta: r2(between(0.12, 0.18)),
            varCostEurPerMWhEl: r2(between(3, 6)),
            rampMwPerMin: r2(between(0.5, 2)),
          }
        : {
            id: `chp${c}`,
            kind: 'gas_chp',
            mode: 'back_pressure',
            zone: zone(z),
            elMaxMw: r2(between(1, 5)),
            etaEl: r2(between(0.33, 0.4)),
            etaTh: r2(between(0.45, 0.52)),
            varCostEurPerMWhEl: r2(between(5, 9)),
            rampMwPerMin: r2(between(0.3, 1)),
          },
    );
  }
  // Waste-heat sources: industry is hot enough for direct use.
  whSources.forEach((w, i) => {
    const cap = w.kind === 'industry' ? between(3, 8) : w.kind === 'sewage' ? between(1, 3) : between(2, 6);
    units.push({
      id: `whs${i + 1}`,
      kind: 'waste_heat_source',
      bus: w.bus,
      availableMw: { device: w.device, metric: 'heat_power', unit: 'kW', default: Math.round(cap * 700) },
      directZone: zone(w.zone),
      varCostEurPerMWh: w.kind === 'industry' ? 5 : 0,
    });
  });
  // Heat pumps: one (two for data centres) per waste-heat bus, eight on ambient sources.
  let hp = 0;
  whSources.forEach((w) => {
    const n = w.kind === 'datacentre' ? 2 : 1;
    for (let k = 0; k < n; k++) {
      hp++;
      units.push({
        id: `hp${hp}`,
        kind: 'heat_pump',
        zone: zone(((w.zone + k - 1) % Z) + 1),
        sourceBus: w.bus,
        heatMaxMw: r2(between(1.5, 5)),
        carnotEfficiency: r2(between(0.45, 0.55)),
        copMax: 6,
        varCostEurPerMWh: r2(between(1, 2)),
        rampMwPerMin: r2(between(0.5, 2)),
      });
    }
  });
  for (let k = 0; k < 8; k++) {
    hp++;
    units.push({
      id: `hp${hp}`,
      kind: 'heat_pump',
      zone: zone(4 * k + 3),
      sourceTempC: { device: 'weather-1', metric: 'outdoor_temp', unit: 'degC', default: 5 },
      heatMaxMw: r2(between(1, 4)),
      carnotEfficiency: r2(between(0.4, 0.5)),
      copMax: 5,
      varCostEurPerMWh: r2(between(1, 2)),
      rampMwPerMin: r2(between(0.5, 2)),
    });
  }
  // Waste-to-energy on the shared waste stream.
  for (let k = 1; k <= 2; k++) {
    units.push({
      id: `wte${k}`,
      kind: 'wte_chp',
      zone: zone(k === 1 ? 9 : 25),
      wasteMaxTph: r2(between(10, 16)),
      wasteMinTph: 4,
      lhvMWhPerT: 2.8,
      etaEl: 0.2,
      etaTh: 0.55,
      varCostEurPerT: r2(between(12, 20)),
      co2TPerT: 0.35,
      rampTphPerMin: 0.3,
    });
  }
  // Electric boilers (power-to-heat).
  for (let k = 1; k <= 12; k++) {
    units.push({
      id: `eboiler${k}`,
      kind: 'electric_boiler',
      zone: zone(((k * 5) % Z) + 1),
      heatMaxMw: r2(between(2, 10)),
      efficiency: 0.99,
      varCostEurPerMWh: 0.5,
      rampMwPerMin: r2(between(2, 10)),
    });
  }
  for (let k = 1; k <= 40; k++) {
    const cap = r2(between(0.5, 6));
    units.push({
      id: `pv${k}`,
      kind: 'pv',
      capacityMw: cap,
      availableMw: { device: `pv-${k}`, metric: 'el_power', unit: 'kW', default: 0, profile: PV_SHAPE.map((s) => Math.round(s * cap * 800)) },
    });
  }
  for (let k = 1; k <= 20; k++) {
    const cap = r2(between(2, 6));
    units.push({ id: `wind${k}`, kind: 'wind', capacityMw: cap, availableMw: { device: `wind-${k}`, metric: 'el_power', unit: 'kW', default: Math.round(cap * 300) } });
  }
  units.push({
    id: 'grid1',
    kind: 'grid',
    importPriceEurPerMWh: { device: 'grid-1', metric: 'price', unit: 'EUR/MWh', default: 80, profile: PRICE_PROFILE },
    importFeeEurPerMWh: 20,
    exportFeeEurPerMWh: 2,
    co2TPerMWh: { device: 'grid-1', metric: 'co2_intensity', unit: 'g/kWh', default: 380 },
    importMaxMw: 150,
    exportMaxMw: 150,
  });

  const storages: NonNullable<CityInput['storages']> = [];
  for (let k = 1; k <= REFERENCE_SIZES.storages; k++) {
    const cap = r2(between(40, 200));
    storages.push({
      id: `tank${k}`,
      zone: zone(4 * k - 1),
      capacityMWh: cap,
      chargeMaxMw: r2(cap / between(5, 10)),
      dischargeMaxMw: r2(cap / between(5, 10)),
      etaCharge: 0.98,
      etaDischarge: 0.98,
      lossPerH: 0.002,
      soc: { device: `tank-${k}`, metric: 'soc', unit: '%', default: 50 },
      cycleCostEurPerMWh: 0.1,
      valueEurPerMWh: 40,
    });
  }

  const links: NonNullable<CityInput['links']> = [];
  for (let i = 1; i <= Z; i++) {
    links.push({ id: `ring${pad2(i)}`, from: zone(i), to: zone((i % Z) + 1), capacityMw: r2(between(3, 10)), lossFraction: r2(between(0.01, 0.04)) });
  }
  for (let k = 1; k <= REFERENCE_SIZES.crossLinks; k++) {
    const a = ((k * 11) % Z) + 1;
    const b = ((a + 15) % Z) + 1;
    links.push({ id: `cross${pad2(k)}`, from: zone(a), to: zone(b), capacityMw: r2(between(2, 6)), lossFraction: r2(between(0.03, 0.06)) });
  }

  return {
    name: 'reference-city',
    description: 'Benchmark city: 32 zones, 155 units, 8 storages, 44 links (generated by src/coupling/reference-city.ts)',
    tickS: 60,
    co2PriceEurPerT: 80,
    inputDefaults: { ttlS: 300, maxAgeS: 900 },
    planning: { horizonH: 24, replanS: 900 },
    buses,
    units,
    storages,
    links,
  };
}

export function referenceCityYaml(): string {
  const doc = new Document(generateReferenceCity());
  // Number lists (profiles) on one line each.
  visit(doc, {
    Seq(_, node) {
      if (isSeq(node) && node.items.every((i) => typeof (i as { value?: unknown }).value === 'number')) node.flow = true;
    },
  });
  const body = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return `# Generated by src/coupling/reference-city.ts: do not edit by hand; regenerate with\n#   npx tsx src/coupling/reference-city.ts > config/reference-city.yaml\n${body}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(referenceCityYaml());
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CityConfigError, loadCity, parseCity, parseCityYaml } from '../src/coupling/model/load.ts';
import { collectInputs } from '../src/coupling/model/inputs.ts';
import { referenceCityYaml } from '../src/coupling/reference-city.ts';
import type { CityInput } from '../src/coupling/model/schema.ts';

const minimal = (): CityInput => ({
  name: 't',
  buses: [
    { id: 'z1', kind: 'heat', demandMw: 5 },
    { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
  ],
  units: [{ id: 'b1', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 10 }],
});

function issuesOf(value: unknown): string[] {
  try {
    parseCity(value);
  } catch (err) {
    expect(err).toBeInstanceOf(CityConfigError);
    return (err as CityConfigError).issues;
  }
  throw new Error('expected the city to be rejected');
}

describe('city model', () => {
  it('loads the demo city with every component kind the demo needs', () => {
    const city = loadCity('config/demo-city.yaml');
    const kinds = new Set(city.units.map((u) => u.kind));
    for (const k of ['gas_boiler', 'gas_chp', 'heat_pump', 'waste_heat_source', 'wte_chp', 'pv', 'grid']) expect(kinds.has(k as never)).toBe(true);
    expect(city.buses.filter((b) => b.kind === 'heat').length).toBe(3);
    expect(city.storages.length).toBe(1);
    // Bindings use the simulators' device ids (all heat meters of a zone, summed) and convert kW to MW.
    const reg = collectInputs(city);
    const demand = reg.defs[reg.byName.get('zone_north.demandMw')!]!;
    expect(demand.binding).toMatchObject({ device: 'hm-zone01-', prefix: true, aggregate: 'sum', metric: 'heat_power', unit: 'kW', factor: 1e-3, defaultValue: 6 });
    expect(reg.defs[reg.byName.get('tank1.soc')!]!.binding).toMatchObject({ device: 'tes-1', prefix: false });
    const co2 = reg.defs[reg.byName.get('grid1.co2TPerMWh')!]!;
    expect(co2.binding?.factor).toBe(1e-3); // g/kWh -> t/MWh
  });

  it('reference city meets the sizes of the issue and is exactly what its generator writes', () => {
    const city = loadCity('config/reference-city.yaml');
    expect(city.buses.filter((b) => b.kind === 'heat').length).toBeGreaterThanOrEqual(30);
    expect(city.units.length).toBeGreaterThanOrEqual(150);
    expect(city.links.length).toBeGreaterThanOrEqual(40);
    expect(city.storages.length).toBeGreaterThanOrEqual(5);
    expect(readFileSync('config/reference-city.yaml', 'utf8')).toBe(referenceCityYaml());
  });

  it('names the field of each problem', () => {
    const bad = minimal();
    bad.units!.push({ id: 'b2', kind: 'gas_boiler', zone: 'nowhere', heatMaxMw: 5 });
    expect(issuesOf(bad)).toContain('units[1].zone: unknown bus "nowhere"');

    const dup = minimal();
    dup.units!.push({ id: 'z1', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 5 });
    expect(issuesOf(dup).join('\n')).toMatch(/units\[1\]\.id: duplicate id "z1"/);

    const unit = minimal();
    (unit.buses[0] as { demandMw: unknown }).demandMw = { device: 'hm-zone01', metric: 'heat_power', unit: 'MW', default: 5 };
    expect(issuesOf(unit).join('\n')).toMatch(/buses\[0\]\.demandMw\.unit: readings of this power input arrive in kW/);

    const missing = minimal();
    (missing.buses[0] as { demandMw: unknown }).demandMw = { device: 'hm-zone01', metric: 'heat_power' };
    expect(issuesOf(missing).join('\n')).toMatch(/buses\[0\]\.demandMw\.default/);

    const wrongType = minimal();
    (wrongType.buses[0] as { demandMw: unknown }).demandMw = 'lots';
    expect(issuesOf(wrongType)).toContain('buses[0].demandMw: expected a number or a binding {device, metric, default}');

    const chp = minimal();
    chp.buses.push({ id: 'el', kind: 'electricity' });
    chp.units!.push({ id: 'c1', kind: 'gas_chp', mode: 'extraction', zone: 'z1', elMaxMw: 5, etaEl: 0.4 } as never);
    const chpIssues = issuesOf(chp).join('\n');
    expect(chpIssues).toMatch(/units\[1\]\.powerToHeat: an extraction CHP needs powerToHeat/);
    expect(chpIssues).toMatch(/units\[1\]\.beta/);

    const kind = minimal();
    kind.units!.push({ id: 'x', kind: 'nuclear' } as never);
    expect(issuesOf(kind).join('\n')).toMatch(/units\[1\]\.kind/);

    const hp = minimal();
    hp.buses.push({ id: 'el', kind: 'electricity' });
    hp.units!.push({ id: 'h', kind: 'heat_pump', zone: 'z1', heatMaxMw: 2 });
    expect(issuesOf(hp).join('\n')).toMatch(/units\[1\]\.sourceBus: a heat pump needs exactly one of sourceBus/);

    const both = minimal();
    (both.buses[0] as { demandMw: unknown }).demandMw = { device: 'a', devicePrefix: 'b', metric: 'heat_power', default: 1 };
    expect(issuesOf(both).join('\n')).toMatch(/buses\[0\]\.demandMw\.device: a binding needs exactly one of device or devicePrefix/);

    const badId = minimal();
    badId.units![0]!.id = 'boiler-1';
    expect(issuesOf(badId).join('\n')).toMatch(/units\[0\]\.id: ids are/);
  });

  it('reports unreadable and non-YAML files by name', () => {
    expect(() => loadCity('config/does-not-exist.yaml')).toThrow(/does-not-exist\.yaml: invalid city model:\n {2}- cannot read/);
    expect(() => parseCityYaml('buses: [', 'inline')).toThrow(/inline: invalid city model:\n {2}- not valid YAML/);
  });
});

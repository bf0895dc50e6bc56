/**
 * Planner scenarios on the real coupling model and the real HiGHS solver: the public
 * district-heating reference case (read in place from ../shared/data/) against an independent
 * glpsol solve, energy balances in every period, phase dates to the period, reproducibility,
 * sizing, validation errors that name the field, and warnings.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHighs } from '../src/coupling/lp/highs.ts';
import { typicalYear } from '../src/scenario/inputs.ts';
import {
  loadScenarioFile,
  parseScenario,
  runScenario,
  ScenarioConfigError,
  shippedScenarioDir,
  sigLinDe,
  sigLinDeCoefficients,
  sigLinDeHourly,
  solveWithGlpsol,
  writeRunOutputs,
  type ScenarioRun,
} from '../src/scenario/index.ts';

const referenceFile = resolve(shippedScenarioDir, 'district-heating-2019.yaml');
let dir: string;
let reference: ScenarioRun;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qs-scenario-'));
  await loadHighs();
  reference = await runScenario(loadScenarioFile(referenceFile), { mode: 'both', keepYearLps: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Parses an hourly CSV into columns. */
function readCsv(text: string): { header: string[]; rows: string[][]; col: (name: string) => number[] } {
  const lines = text.trim().split('\n');
  const header = lines[0]!.split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  return {
    header,
    rows,
    col: (name) => {
      const i = header.indexOf(name);
      if (i < 0) throw new Error(`no column ${name}`);
      return rows.map((r) => Number(r[i]));
    },
  };
}

/**
 * Checks every bus balance in every period from the CSV alone: flows of components into the bus
 * (`{component}.{bus}_mw`), storage discharge minus charge in its zone, supply, unmet minus dump
 * equal the demand. Returns the largest residual.
 */
function maxBalanceResidual(csv: ReturnType<typeof readCsv>, city: { buses: { id: string }[]; units: { id: string }[]; links: { id: string }[]; storages: { id: string; zone: string }[] }): number {
  let worst = 0;
  const components = [...city.units.map((u) => u.id), ...city.links.map((l) => l.id)];
  for (const bus of city.buses) {
    const flows = components.filter((c) => csv.header.includes(`${c}.${bus.id}_mw`)).map((c) => csv.col(`${c}.${bus.id}_mw`));
    const has = (f: string) => csv.header.includes(f);
    const demand = has(`${bus.id}.demand_mw`) ? csv.col(`${bus.id}.demand_mw`) : undefined;
    const supply = has(`${bus.id}.supply_mw`) ? csv.col(`${bus.id}.supply_mw`) : undefined;
    const unmet = csv.col(`${bus.id}.unmet_mw`);
    const dump = csv.col(`${bus.id}.dump_mw`);
    const stores = city.storages.filter((s) => s.zone === bus.id).map((s) => [csv.col(`${s.id}.charge_mw`), csv.col(`${s.id}.discharge_mw`)] as const);
    for (let g = 0; g < csv.rows.length; g++) {
      let inflow = unmet[g]! - dump[g]! + (supply?.[g] ?? 0);
      for (const f of flows) inflow += f[g]!;
      for (const [c, d] of stores) inflow += d[g]! - c[g]!;
      worst = Math.max(worst, Math.abs(inflow - (demand?.[g] ?? 0)));
    }
  }
  return worst;
}

describe('reference case: district heating 2019 (oemof-solph tutorial, fixed capacities)', () => {
  it('reads the public data in place and solves a full year of hourly periods', () => {
    const pf = reference.perfect!;
    expect(reference.scenario.timeline.periods).toBe(8760);
    expect(pf.kpis.years).toHaveLength(1);
    const t = pf.kpis.total;
    expect(t.heatDemandMWh).toBeCloseTo(66496.441, 3); // the column sum of the data file
    expect(t.unmetDemandMWh).toBe(0);
    expect(t.penaltyEur).toBe(0);
    // Every real cost is accounted: the objective is the total cost (no penalties here).
    expect(Math.abs(t.totalCostEur - pf.objective) / pf.objective).toBeLessThan(1e-9);
    expect(pf.warmStarted).toEqual([true]);
  });

  it('agrees with an independent solve of the exported LP by glpsol (rel gap <= 1e-4)', async () => {
    const pf = reference.perfect!;
    const lp = pf.yearLps[0]!;
    expect(lp.numCols).toBeGreaterThan(8760 * 10);
    const g = await solveWithGlpsol(lp);
    const gap = Math.abs(pf.objective - g.objective) / Math.abs(g.objective);
    expect(gap).toBeLessThanOrEqual(1e-4);
  });

  it('the chunked warm start changes the speed, not the optimum (cold HiGHS solve, first quarter)', async () => {
    const text = readFileSync(referenceFile, 'utf8').replace('to: 2020-01-01', 'to: 2019-04-01');
    const scn = parseScenario(text, { baseDir: shippedScenarioDir });
    const warm = await runScenario(scn, { mode: 'perfect_foresight', warmStartChunkH: 336 });
    const cold = await runScenario(scn, { mode: 'perfect_foresight', warmStartChunkH: 0 });
    expect(warm.perfect!.warmStarted).toEqual([true]);
    expect(cold.perfect!.warmStarted).toEqual([false]);
    expect(Math.abs(warm.perfect!.objective - cold.perfect!.objective) / cold.perfect!.objective).toBeLessThan(1e-9);
  });

  it('KPIs follow from the hourly results: prices, CO2 per sector, shares, storage cycles', () => {
    const t = reference.perfect!.kpis.total;
    const table = reference.perfect!.table;
    // Gas CO2 = 0.202 t per MWh of fuel burned.
    expect(t.co2T.gas).toBeCloseTo(0.202 * table.sum('gas.supply_mw'), 6);
    expect(t.co2T.total).toBeCloseTo(t.co2T.gas + t.co2T.electricity, 6);
    // The heat pump's heat: waste heat 2.5/3.5 of it, at most 3.5 MW; the gas boiler is the only fossil unit.
    expect(t.wasteHeatShare).toBeCloseTo(((t.heatBySourceMWh.heat_pump ?? 0) * (2.5 / 3.5)) / t.heatSuppliedMWh, 5);
    expect(t.fossilShare).toBeCloseTo((t.heatBySourceMWh.gas_boiler ?? 0) / t.heatSuppliedMWh, 5);
    expect(t.storageCycles.storage).toBeCloseTo(table.sum('storage.discharge_mw') / 100, 5);
    expect(t.lcohEurPerMWh).toBeCloseTo(t.totalCostEur / t.heatDeliveredMWh, 5);
    // When the boiler is the marginal unit, heat costs gas/0.95 + 1.10 EUR/MWh.
    const gas = table.get('gas.price_eur_per_mwh');
    const heat = table.get('heat.price_eur_per_mwh');
    const boiler = table.get('gas_boiler.heat_mw');
    let checked = 0;
    for (let g = 0; g < 8760; g++) {
      if (boiler[g]! > 0.1 && boiler[g]! < 19.9) {
        expect(heat[g]).toBeCloseTo(gas[g]! / 0.95 + 1.1, 6);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('reports the rolling horizon gap to perfect foresight', () => {
    const r = reference.rolling!;
    expect(r.kpis.rolling).toEqual({ windowH: 24, overlapH: 0 });
    expect(r.kpis.gapToPerfectForesight).toBeGreaterThan(0);
    expect(r.kpis.gapToPerfectForesight).toBeLessThan(0.05);
    expect(r.kpis.gapToPerfectForesight).toBeCloseTo((r.objective - reference.perfect!.objective) / reference.perfect!.objective, 9);
  });

  it('energy balances close in every hour (from the CSV alone), storage content follows its balance', async () => {
    const out = join(dir, 'reference');
    await writeRunOutputs(reference, out, { parquet: true });
    for (const name of ['hourly.csv', 'hourly-rolling.csv']) {
      const csv = readCsv(await readFile(join(out, name), 'utf8'));
      expect(csv.rows).toHaveLength(8760);
      expect(maxBalanceResidual(csv, reference.scenario.city)).toBeLessThan(1e-5);
      const e = csv.col('storage.content_mwh');
      const c = csv.col('storage.charge_mw');
      const d = csv.col('storage.discharge_mw');
      for (let g = 1; g < e.length; g++) expect(Math.abs(e[g]! - (0.999 * e[g - 1]! + c[g]! - d[g]!))).toBeLessThan(1e-5);
    }
    // Perfect foresight: cyclic storage (the end equals the start, which the optimiser chose).
    const e = reference.perfect!.table.get('storage.content_mwh');
    const start = (e[0]! - reference.perfect!.table.get('storage.charge_mw')[0]! + reference.perfect!.table.get('storage.discharge_mw')[0]!) / 0.999;
    expect(e[8759]).toBeCloseTo(start, 5);
  });

  it('writes Parquet that DuckDB reads back with the same rows', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const file = join(dir, 'reference', 'hourly.parquet').replace(/'/g, "''");
    const reader = await con.runAndReadAll(`SELECT count(*) AS n, sum("heat.demand_mw") AS demand FROM read_parquet('${file}')`);
    const row = reader.getRowObjects()[0]!;
    expect(Number(row.n)).toBe(8760);
    expect(Number(row.demand)).toBeCloseTo(66496.441, 2);
    con.closeSync();
    db.closeSync();
  });

  it('is reproducible: same inputs give byte-identical KPI JSON and CSV', async () => {
    const again = await runScenario(loadScenarioFile(referenceFile), { mode: 'both' });
    const out2 = join(dir, 'reference-again');
    await writeRunOutputs(again, out2, { parquet: false });
    for (const f of ['kpis.json', 'hourly.csv', 'hourly-rolling.csv']) {
      const a = await readFile(join(dir, 'reference', f));
      const b = await readFile(join(out2, f));
      expect(a.equals(b), f).toBe(true);
    }
    const k = JSON.parse(await readFile(join(out2, 'kpis.json'), 'utf8'));
    expect(k.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(k.codeVersion).toMatch(/^querstrom \d+\.\d+\.\d+/);
    expect(k.solver).toMatch(/^HiGHS \d+\.\d+/);
    expect(k.seed).toBe(1);
    const manifest = JSON.parse(await readFile(join(out2, 'run.json'), 'utf8'));
    expect(manifest.contentHash).toBe(k.contentHash);
  });

  it('writes the report and charts as self-contained HTML and SVG', async () => {
    const html = await readFile(join(dir, 'reference', 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Levelised cost of heat');
    expect(html).not.toMatch(/<script|<link|src="http/);
    for (const c of ['dispatch.svg', 'dispatch-week.svg', 'load-duration.svg', 'co2-path.svg', 'modes.svg']) {
      const svg = await readFile(join(dir, 'reference', 'charts', c), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), c).toBe(true);
      expect(svg.trim().endsWith('</svg>'), c).toBe(true);
      expect(svg, c).not.toContain('NaN');
    }
  });
});

/** A two-zone city with a link, PV, grid, waste heat and storage, 15-minute periods around new year 2030. */
const phaseCity = `
name: phase-test
horizon: { from: '2029-12-29', to: '2030-01-03', resolution: 15min }
co2PriceEurPerT: 80
city:
  name: phase-test
  buses:
    - { id: north, kind: heat, demandMw: 10 }
    - { id: south, kind: heat, demandMw: 4 }
    - { id: power, kind: electricity, demandMw: 1 }
    - { id: gas, kind: gas, priceEurPerMWh: 30 }
    - { id: dc, kind: waste_heat, temperatureC: 35 }
  units:
    - { id: boiler, kind: gas_boiler, zone: north, heatMaxMw: 20, efficiency: 0.9 }
    - { id: hp, kind: heat_pump, zone: south, sourceBus: dc, heatMaxMw: 6 }
    - { id: dcsrc, kind: waste_heat_source, bus: dc, availableMw: 5 }
    - { id: eboiler, kind: electric_boiler, zone: north, heatMaxMw: 20 }
    - { id: pv, kind: pv, capacityMw: 3, availableMw: 2 }
    - { id: grid, kind: grid, importPriceEurPerMWh: 60, co2TPerMWh: 0.3, importMaxMw: 60, exportMaxMw: 5 }
  storages:
    - { id: tank, zone: south, capacityMWh: 30, chargeMaxMw: 5, dischargeMaxMw: 5, soc: 0.3, lossPerH: 0.01 }
  links:
    - { id: main, from: north, to: south, capacityMw: 8, lossFraction: 0.03 }
units:
  - { id: boiler, phaseOut: 2030-01-01 }
  - { id: hp, phaseIn: '2029-12-30T06:15' }
run: { storageBoundary: carry, rolling: { windowH: 6, overlapH: 6 } }
`;

describe('phase-in and phase-out, 15-minute periods, several zones', () => {
  let run: ScenarioRun;
  beforeAll(async () => {
    run = await runScenario(parseScenario(phaseCity, { baseDir: dir }), { mode: 'both' });
  });

  for (const mode of ['perfect', 'rolling'] as const) {
    it(`${mode}: units produce nothing before phase-in or after phase-out, to the period`, () => {
      const tl = run.scenario.timeline;
      const table = run[mode]!.table;
      const boiler = table.get('boiler.north_mw');
      const hp = table.get('hp.south_mw');
      const out = Date.UTC(2030, 0, 1);
      const inAt = Date.UTC(2029, 11, 30, 6, 15);
      let before = 0;
      for (let g = 0; g < tl.periods; g++) {
        const t = tl.timeOf(g);
        if (t >= out) expect(boiler[g], new Date(t).toISOString()).toBe(0);
        if (t < inAt) expect(hp[g], new Date(t).toISOString()).toBe(0);
        if (t < out && boiler[g]! > 0) before++;
      }
      // They do run right at the edges: the boiler until the last period, the heat pump from the first.
      expect(boiler[tl.periods - 1 - Math.round((tl.toMs - out) / tl.periodMs) + 0]).toBeGreaterThan(0);
      expect(hp[Math.round((inAt - tl.fromMs) / tl.periodMs)]).toBeGreaterThan(0);
      expect(hp[Math.round((inAt - tl.fromMs) / tl.periodMs) - 1]).toBe(0);
      expect(before).toBeGreaterThan(100);
    });
  }

  it('energy balances close in every period of every bus (links, storage, PV, grid, waste heat)', async () => {
    const out = join(dir, 'phase');
    await writeRunOutputs(run, out, { parquet: false });
    for (const name of ['hourly.csv', 'hourly-rolling.csv']) {
      const csv = readCsv(await readFile(join(out, name), 'utf8'));
      expect(csv.rows).toHaveLength(5 * 96);
      expect(maxBalanceResidual(csv, run.scenario.city)).toBeLessThan(1e-5);
      // 15-minute storage balance: content moves by a quarter of the MW, losses per hour.
      const e = csv.col('tank.content_mwh');
      const c = csv.col('tank.charge_mw');
      const d = csv.col('tank.discharge_mw');
      for (let g = 1; g < e.length; g++) expect(Math.abs(e[g]! - ((1 - 0.01 * 0.25) * e[g - 1]! + 0.25 * (0.98 * c[g]! - d[g]! / 0.98)))).toBeLessThan(1e-5);
    }
    expect(run.perfect!.kpis.total.unmetDemandMWh).toBe(0);
    // Energy in MWh is MW times 0.25 h: 5 days of 15 MW heat demand.
    expect(run.perfect!.kpis.total.heatDemandMWh).toBeCloseTo(5 * 24 * 14, 6);
  });

  it('reports service shares and full-load hours for phased units', () => {
    const y2029 = run.perfect!.kpis.years.find((y) => y.year === 2029)!;
    const y2030 = run.perfect!.kpis.years.find((y) => y.year === 2030)!;
    expect(y2029.serviceShare.boiler).toBe(1);
    expect(y2030.serviceShare.boiler).toBe(0);
    expect(y2030.fullLoadHours.boiler).toBeUndefined();
    expect(y2029.serviceShare.hp).toBeCloseTo((24 * 4 + 17 * 4 + 3) / (3 * 96), 5);
  });
});

describe('capacity sizing', () => {
  const sizing = `
name: sizing-test
horizon: { from: 2019-01-07, to: 2019-01-21 }
extends: district-heating-2019.yaml
city:
  units: [{ id: heat_pump, heatMaxMw: 10 }]
units:
  - { id: gas_boiler, size: { maxMw: 40, capexEurPerMw: 60000, lifetimeYears: 20, interestRate: 0.05 } }
  - { id: heat_pump, size: { maxMw: 10, annualCostEurPerMw: 40000 } }
storages:
  - { id: storage, size: { maxMWh: 2000, capexEurPerMWh: 1060, lifetimeYears: 20, interestRate: 0.05, powerPerEnergy: 0.041666666666666664 } }
`;
  it('sizes candidates continuously, charges prorated annualised investment, and matches glpsol', async () => {
    const scn = parseScenario(sizing, { baseDir: shippedScenarioDir });
    const run = await runScenario(scn, { mode: 'both', keepYearLps: true });
    const pf = run.perfect!;
    const caps = pf.capacities.get(2019)!;
    const demandPeak = Math.max(...pf.table.get('heat.demand_mw'));
    // Enough firm capacity for the peak: boiler + heat pump + storage discharge.
    expect(caps.gas_boiler!.size + caps.heat_pump!.size + caps.storage!.size / 24).toBeGreaterThanOrEqual(demandPeak - 1e-6);
    expect(caps.gas_boiler!.size).toBeLessThanOrEqual(40);
    // Heat pump sized to what the waste heat supports (2.5 MW source, COP 3.5 → 3.5 MW).
    expect(caps.heat_pump!.size).toBeCloseTo(3.5, 6);
    const share = (14 * 24) / 8760;
    const annuity = (60000 * 0.05 * 1.05 ** 20) / (1.05 ** 20 - 1);
    expect(caps.gas_boiler!.costEur).toBeCloseTo(caps.gas_boiler!.size * annuity * share, 4);
    expect(caps.heat_pump!.costEur).toBeCloseTo(caps.heat_pump!.size * 40000 * share, 4);
    expect(pf.kpis.total.costEur.investment).toBeCloseTo(caps.gas_boiler!.costEur + caps.heat_pump!.costEur + caps.storage!.costEur, 3);
    // Storage content never exceeds the chosen size.
    expect(Math.max(...pf.table.get('storage.content_mwh'))).toBeLessThanOrEqual(caps.storage!.size + 1e-6);
    const g = await solveWithGlpsol(pf.yearLps[0]!, { method: 'simplex' });
    expect(Math.abs(pf.objective - g.objective) / Math.abs(g.objective)).toBeLessThanOrEqual(1e-6);
    // The rolling run uses the sized capacities.
    expect(Math.max(...run.rolling!.table.get('gas_boiler.heat_mw'))).toBeLessThanOrEqual(caps.gas_boiler!.size + 1e-6);
    expect(run.rolling!.kpis.total.costEur.investment).toBeCloseTo(pf.kpis.total.costEur.investment, 6);
  });

  it('the shipped sizing variant validates', () => {
    const scn = loadScenarioFile(resolve(shippedScenarioDir, 'district-heating-2019-sizing.yaml'));
    expect(scn.spec.units.map((u) => u.id)).toEqual(['gas_boiler', 'heat_pump']);
    expect(scn.city.storages[0]!.capacityMWh).toBe(5000);
    expect(scn.city.storages[0]!.chargeMaxMw).toBeCloseTo(5000 / 24, 9);
  });
});

describe('scenario files: validation errors name the field', () => {
  const base = readFileSync(referenceFile, 'utf8');
  const issuesOf = (text: string): { path: string; message: string }[] => {
    try {
      parseScenario(text, { baseDir: shippedScenarioDir });
    } catch (err) {
      expect(err).toBeInstanceOf(ScenarioConfigError);
      return (err as ScenarioConfigError).issues;
    }
    throw new Error('expected a ScenarioConfigError');
  };

  it('a bad phase-out date', () => {
    const text = `${base}\nunits:\n  - { id: gas_boiler }\n  - { id: heat_pump }\n  - { id: grid, phaseOut: 2030-13-01 }\n`;
    const issues = issuesOf(text);
    expect(issues[0]!.path).toBe('units[2].phaseOut');
    expect(issues[0]!.message).toMatch(/date/);
  });

  it('phase-out before phase-in, unknown unit, unknown field, bad column, bad city field', () => {
    expect(issuesOf(`${base}\nunits:\n  - { id: heat_pump, phaseIn: 2019-06-01, phaseOut: 2019-03-01 }\n`)[0]!.path).toBe('units[0].phaseOut');
    const unknown = issuesOf(`${base}\nunits:\n  - { id: gas_boiler }\n  - { id: nuclear }\n`)[0]!;
    expect(unknown.path).toBe('units[1].id');
    expect(unknown.message).toContain('gas_boiler');
    expect(issuesOf(`${base}\nhorizonn: 1\n`)[0]!.path).toBe('horizonn');
    const col = issuesOf(base.replace('column: gas price', 'column: gas prize'));
    expect(col[0]!.path).toBe('profiles.series["gas.priceEurPerMWh"].column');
    expect(col[0]!.message).toContain('heat demand');
    const city = issuesOf(base.replace('heatMaxMw: 20,', 'heatMaxMw: -20,'));
    expect(city[0]!.path).toBe('city.units[0].heatMaxMw');
    expect(issuesOf(base.replace('heat.demandMw: { source', 'heat.demandMW: { source'))[0]!.path).toBe('profiles.series["heat.demandMW"]');
    expect(issuesOf(`${base}\nunits:\n  - { id: grid, size: { maxMw: 5, annualCostEurPerMw: 1 } }\n`)[0]!.path).toBe('units[0].size');
    expect(issuesOf('name: x\nhorizon: { from: 2019 }\n')[0]!.path).toBe('city');
    expect(issuesOf('name: [1\n')[0]!.message).toMatch(/not valid YAML/);
  });

  it('extends: only what differs; cycles are refused; reads stay inside allowed roots', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'a.yaml'), 'extends: b.yaml\nname: a\n');
    await writeFile(join(dir, 'b.yaml'), 'extends: a.yaml\nname: b\n');
    const cycle = (() => {
      try {
        loadScenarioFile(join(dir, 'a.yaml'));
      } catch (err) {
        return err as ScenarioConfigError;
      }
      return undefined;
    })();
    expect(cycle?.issues[0]).toMatchObject({ path: 'extends', message: expect.stringMatching(/cycle/) });
    const child = parseScenario('extends: district-heating-2019.yaml\nname: child\nco2PriceEurPerT: { 2019: 25 }\ncity:\n  storages: [{ id: storage, $remove: true }]\n', { baseDir: shippedScenarioDir });
    expect(child.spec.name).toBe('child');
    expect(child.city.storages).toHaveLength(0);
    expect(child.city.units).toHaveLength(4);
    expect(child.spec.profiles.series['heat.demandMw']).toBeDefined();
    expect(child.hash).not.toBe(loadScenarioFile(referenceFile).hash);
    let denied: ScenarioConfigError | undefined;
    try {
      parseScenario('extends: district-heating-2019.yaml\nname: y\nprofiles: { sources: { x: { file: /etc/hostname } } }\n', { baseDir: shippedScenarioDir, allowedRoots: [shippedScenarioDir, resolve(shippedScenarioDir, '../../../shared/data')] });
    } catch (err) {
      denied = err as ScenarioConfigError;
    }
    expect(denied?.issues[0]?.path).toBe('profiles.sources.x.file');
    expect(denied?.issues[0]?.message).toMatch(/outside/);
  });

  it('warns when a phase-in has no fossil phase-out, and when a fossil unit outlives the target year', () => {
    const scn = parseScenario(`${base}\ntargetYear: 2019\nunits:\n  - { id: heat_pump, phaseIn: 2019-03-01 }\n`, { baseDir: shippedScenarioDir });
    expect(scn.warnings.map((w) => w.path)).toEqual(['units[0].phaseIn', 'city.units[0]']);
    expect(scn.warnings[1]!.message).toMatch(/gas_boiler .*outlives the target year 2019/);
    const ok = parseScenario(`${base}\ntargetYear: 2019\nunits:\n  - { id: heat_pump, phaseIn: 2019-03-01 }\n  - { id: gas_boiler, phaseOut: 2019-09-01 }\n`, { baseDir: shippedScenarioDir });
    expect(ok.warnings).toEqual([]);
    const late = parseScenario(`${base}\ntargetYear: 2019\nunits:\n  - { id: gas_boiler, phaseOut: 2020-06-01 }\n`, { baseDir: shippedScenarioDir });
    expect(late.warnings[0]).toMatchObject({ path: 'units[0].phaseOut' });
    expect(late.warnings[0]!.message).toMatch(/after the target year/);
  });

  it('the shipped multi-year example extends its base and validates without warnings', () => {
    const scn = loadScenarioFile(resolve(shippedScenarioDir, 'gas-phaseout-2030.yaml'));
    expect(scn.timeline.years.map((y) => y.year)).toEqual([2025, 2026, 2027, 2028, 2029, 2030, 2031, 2032, 2033, 2034]);
    expect(scn.city.units.map((u) => u.id)).toEqual(['gas_boiler_1', 'gas_boiler_2', 'grid', 'data_centre', 'dc_heat_pump', 'e_boiler']);
    expect(scn.city.storages[0]!.capacityMWh).toBe(400);
    expect(scn.warnings).toEqual([]);
  });
});

describe('profiles', () => {
  it('SigLinDe: h(8 degC) is about 1 for every published coefficient set; colder days need more heat', () => {
    for (const variant of ['33', '34'] as const) {
      for (const type of ['EFH', 'MFH', 'GHD'] as const) {
        const c = sigLinDeCoefficients[variant][type];
        expect(sigLinDe(c, 8)).toBeGreaterThan(0.9);
        expect(sigLinDe(c, 8)).toBeLessThan(1.1);
        expect(sigLinDe(c, -10)).toBeGreaterThan(sigLinDe(c, 0));
        expect(sigLinDe(c, 0)).toBeGreaterThan(sigLinDe(c, 15));
      }
    }
    // Hand-computed: EFH 33 at 8 degC.
    const c = sigLinDeCoefficients['33'].EFH;
    const sig = c.A / (1 + (c.B / (8 - 40)) ** c.C) + c.D;
    expect(sigLinDe(c, 8, false)).toBeCloseTo(sig, 12);
    expect(sigLinDe(c, 8)).toBeCloseTo(sig + Math.max(c.mH * 8 + c.bH, c.mW * 8 + c.bW), 12);
  });

  it('SigLinDe hourly demand sums to the annual demand and follows the temperature', () => {
    const temps = new Float64Array(8760);
    for (let h = 0; h < 8760; h++) temps[h] = 9 - 10 * Math.cos((2 * Math.PI * h) / 8760);
    const mw = sigLinDeHourly(2021, temps, { type: 'GHD', variant: '34', annualMWh: 50000, linearPart: true });
    expect(mw.reduce((a, b) => a + b, 0)).toBeCloseTo(50000, 6);
    const jan = mw.subarray(0, 744).reduce((a, b) => a + b, 0);
    const jul = mw.subarray(4344, 5088).reduce((a, b) => a + b, 0);
    expect(jan).toBeGreaterThan(3 * jul);
    // GHD weekday factors: Monday 4 Jan 2021 above Sunday 3 Jan 2021 despite equal weather.
    const flat = sigLinDeHourly(2021, new Float64Array(8760).fill(5), { type: 'GHD', variant: '34', annualMWh: 50000, linearPart: true });
    const day = (d: number) => flat.subarray(d * 24, d * 24 + 24).reduce((a, b) => a + b, 0);
    expect(day(3) / day(2)).toBeCloseTo(1.03 / 0.95, 9);
  });

  it('a typical year maps onto leap years by repeating 28 February, and onto 15-minute periods', () => {
    const col = Float64Array.from({ length: 8760 }, (_, h) => h);
    const leap = typicalYear(col, 2028, 1);
    expect(leap).toHaveLength(8784);
    expect(leap[59 * 24 + 5]).toBe(58 * 24 + 5);
    expect(leap[60 * 24]).toBe(59 * 24);
    const q = typicalYear(col, 2019, 0.25);
    expect(q).toHaveLength(35040);
    expect([q[4], q[5], q[7]]).toEqual([1, 1, 1]);
  });

  it('synthetic weather is seeded: the same seed gives the same demand, another seed another', async () => {
    const text = (seed: number) => `
name: siglinde-test
horizon: { from: 2030-01-01, to: 2030-01-15 }
city:
  name: t
  buses: [{ id: net, kind: heat, demandMw: 1 }, { id: gas, kind: gas, priceEurPerMWh: 30 }]
  units: [{ id: b, kind: gas_boiler, zone: net, heatMaxMw: 100 }]
profiles:
  series:
    net.demandMw: { siglinde: { type: EFH, annualMWh: 10000 } }
run: { seed: ${seed} }
`;
    const a = await runScenario(parseScenario(text(7), { baseDir: dir }));
    const b = await runScenario(parseScenario(text(7), { baseDir: dir }));
    const c = await runScenario(parseScenario(text(8), { baseDir: dir }));
    const da = a.perfect!.table.get('net.demand_mw');
    expect(Array.from(da)).toEqual(Array.from(b.perfect!.table.get('net.demand_mw')));
    expect(Array.from(da)).not.toEqual(Array.from(c.perfect!.table.get('net.demand_mw')));
    // Two winter weeks of a 10 GWh/a EFH profile: well above the annual mean of 1.14 MW.
    expect(a.perfect!.kpis.total.heatDemandMWh / (14 * 24)).toBeGreaterThan(1.5);
    expect(a.kpis.seed).toBe(7);
  });
});

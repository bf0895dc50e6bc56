/**
 * Randomised checks: seeded random cities and readings over several ticks. Every tick the energy
 * balance of every bus must close from the reported numbers alone, and the exported LP re-solved
 * by independent solvers (glpsol from GLPK, HiGHS) must give the engine's objective.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DispatchEngine } from '../src/coupling/engine.ts';
import { ColKind, type CompiledModel } from '../src/coupling/lp/compile.ts';
import { loadHighs, solveFromScratch } from '../src/coupling/lp/highs.ts';
import type { BoundedDualSimplex } from '../src/coupling/lp/simplex.ts';
import { loadCity, parseCity } from '../src/coupling/model/load.ts';
import { busOf, type City } from '../src/coupling/model/schema.ts';
import { randomCity, seededRandom } from '../src/coupling/random-city.ts';
import { dispatchResultSchema, type DispatchResult } from '../src/coupling/result.ts';

const dir = mkdtempSync(join(tmpdir(), 'qs-coupling-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Residual of every bus balance, computed only from the DispatchResult and the city topology. */
export function balanceResiduals(city: City, r: DispatchResult): Map<string, number> {
  const res = new Map<string, number>();
  const add = (bus: string, v: number) => res.set(bus, (res.get(bus) ?? 0) + v);
  for (const b of city.buses) {
    const s = r.buses[b.id]!;
    add(b.id, s.supplyMw + s.unmetMw - s.dumpMw - s.demandMw);
  }
  for (const u of city.units) {
    const sp = r.setpoints[u.id]!;
    switch (u.kind) {
      case 'gas_boiler':
        add(u.zone, sp.heatMw);
        add(busOf(city, u.gasBus, 'gas'), -sp.fuelMw!);
        break;
      case 'electric_boiler':
        add(u.zone, sp.heatMw);
        add(busOf(city, u.elBus, 'electricity'), sp.elMw);
        break;
      case 'heat_pump':
        add(u.zone, sp.heatMw);
        add(busOf(city, u.elBus, 'electricity'), sp.elMw);
        if (u.sourceBus) add(u.sourceBus, -sp.sourceHeatMw!);
        else expect(sp.heatMw + sp.elMw - sp.sourceHeatMw!).toBeCloseTo(0, 9);
        break;
      case 'waste_heat_source':
        add(u.bus, sp.sourceHeatMw!);
        if (u.directZone) {
          add(u.directZone, sp.directMw!);
          add(u.bus, -sp.directMw!);
        }
        break;
      case 'wte_chp':
        add(u.zone, sp.heatMw);
        add(busOf(city, u.elBus, 'electricity'), sp.elMw);
        add(busOf(city, u.wasteBus, 'waste'), -sp.wasteTph!);
        break;
      case 'gas_chp':
        add(u.zone, sp.heatMw);
        add(busOf(city, u.elBus, 'electricity'), sp.elMw);
        add(busOf(city, u.gasBus, 'gas'), -sp.fuelMw!);
        break;
      case 'pv':
      case 'wind':
      case 'grid':
        add(busOf(city, u.bus, 'electricity'), sp.elMw);
        break;
    }
  }
  for (const s of city.storages) {
    const st = r.storage[s.id]!;
    add(s.zone, st.dischargeMw - st.chargeMw);
    // Content follows the charge and discharge over the tick.
    const expected = st.socStartMWh * (1 - s.lossPerH * (r.dtS / 3600)) + ((s.etaCharge * st.chargeMw - st.dischargeMw / s.etaDischarge) * r.dtS) / 3600;
    expect(Math.abs(st.socMWh - Math.max(0, Math.min(s.capacityMWh, expected)))).toBeLessThan(1e-9 * (1 + s.capacityMWh));
  }
  for (const l of city.links) {
    const f = r.flows[l.id]!;
    add(l.from, -f.forwardMw + (1 - l.lossFraction) * f.reverseMw);
    add(l.to, (1 - l.lossFraction) * f.forwardMw - f.reverseMw);
  }
  return res;
}

function expectBalanced(city: City, r: DispatchResult): void {
  for (const [bus, v] of balanceResiduals(city, r)) {
    if (Math.abs(v) > 1e-6) throw new Error(`bus ${bus} does not balance: residual ${v} MW at tick ${r.tick}`);
  }
}

/** Objective from glpsol's plain-text solution (`s bas rows cols pst dst obj`). */
function glpsol(file: string, format: 'lp' | 'mps'): number {
  const out = `${file}.sol`;
  execFileSync('glpsol', [format === 'lp' ? '--lp' : '--freemps', file, '-w', out], { stdio: 'ignore', timeout: 30_000 });
  const line = execFileSync('grep', ['^s ', out], { encoding: 'utf8' }).trim().split(/\s+/);
  expect(line.slice(0, 2)).toEqual(['s', 'bas']);
  expect(line[4]).toBe('f'); // primal feasible
  expect(line[5]).toBe('f'); // dual feasible: optimal
  return Number(line[6]);
}

const relGap = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

/**
 * Each bus's unmet and dump bounds are what the other columns' boxes cannot balance, recomputed
 * here from the LP's current coefficients (the fill keeps its own row-ordered copy of them).
 */
function expectNaturalSlackBounds(model: CompiledModel): void {
  const lp = model.lp;
  for (const bus of model.buses) {
    for (let t = 0; t < model.periods; t++) {
      const row = bus.row[t]!;
      let lmin = 0;
      let lmax = 0;
      for (let j = 0; j < lp.numCols; j++) {
        if (model.colKind[j] === ColKind.Slack) continue;
        for (let k = lp.colStart[j]!; k < lp.colStart[j + 1]!; k++) {
          if (lp.rowIndex[k] !== row) continue;
          const a = lp.values[k]!;
          lmin += Math.min(a * lp.colLower[j]!, a * lp.colUpper[j]!);
          lmax += Math.max(a * lp.colLower[j]!, a * lp.colUpper[j]!);
        }
      }
      const rhs = lp.rowLower[row]!;
      const tol = 1e-9 * (1 + Math.abs(rhs) + Math.abs(lmin) + Math.abs(lmax));
      expect(Math.abs(lp.colUpper[bus.unmet[t]!]! - Math.max(0, rhs - lmin)), `${bus.id} unmet`).toBeLessThanOrEqual(tol);
      expect(Math.abs(lp.colUpper[bus.dump[t]!]! - Math.max(0, lmax - rhs)), `${bus.id} dump`).toBeLessThanOrEqual(tol);
    }
  }
}

describe('randomised cities', () => {
  it('24 seeded cities × 3 ticks: balances close, glpsol and HiGHS re-solve the exported LP to the same objective', async () => {
    const highs = await loadHighs();
    let worst = 0;
    let unmetSeen = 0;
    let curtailSeen = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const { city: input, readings } = randomCity(seed);
      const city = parseCity(input, `random-${seed}`);
      const t0 = Date.UTC(2026, 0, 10, 6, 0, 0);
      const e = new DispatchEngine(city, { now: () => t0, autoReplan: false, highs });
      const rand = seededRandom(1000 + seed);
      for (let k = 0; k < 3; k++) {
        const now = t0 + k * 10_000;
        for (const rd of readings(rand)) {
          const out = e.ingest(rd.device, rd.metric, rd.value, now);
          expect(out, `${rd.device}/${rd.metric}`).toHaveProperty('updated');
        }
        const r = e.tick(now);
        expect(r.status, `seed ${seed} tick ${k}`).toBe('optimal');
        expectBalanced(city, r);
        if (r.kpis.unmetDemandMw > 1e-6) unmetSeen++;
        if (r.kpis.curtailmentMw > 1e-6) curtailSeen++;

        const lpFile = join(dir, `random-${seed}-${k}.lp`);
        writeFileSync(lpFile, e.exportLp('lp'));
        const g = glpsol(lpFile, 'lp');
        worst = Math.max(worst, relGap(r.objective!, g));
        expect(relGap(r.objective!, g), `seed ${seed} tick ${k}: engine ${r.objective} glpsol ${g}`).toBeLessThanOrEqual(1e-6);
        const h = solveFromScratch(highs, e.lastLp());
        expect(h.optimal).toBe(true);
        expect(relGap(r.objective!, h.objective)).toBeLessThanOrEqual(1e-9);
        if (k === 2) {
          const mpsFile = join(dir, `random-${seed}.mps`);
          writeFileSync(mpsFile, e.exportLp('mps'));
          expect(relGap(r.objective!, glpsol(mpsFile, 'mps'))).toBeLessThanOrEqual(1e-6);
          // The LP text also reads back into HiGHS with the same optimum.
          const fromText = highs.createModel({ format: 'lp', data: e.exportLp('lp') });
          try {
            fromText.options.set({ output_flag: false });
            fromText.run();
            expect(relGap(r.objective!, fromText.getObjectiveValue())).toBeLessThanOrEqual(1e-9);
          } finally {
            fromText.dispose();
          }
        }
      }
      e.dispose();
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    // The instances exercise shortage and surplus, not only easy cases.
    expect(unmetSeen).toBeGreaterThan(0);
    expect(curtailSeen).toBeGreaterThan(0);
  });
});

describe('demo and reference cities', () => {
  it('the reference city stays exact and balanced over ticks with varying inputs (warm-started, with re-plans)', async () => {
    const highs = await loadHighs();
    const city = loadCity('config/reference-city.yaml');
    const t0 = Date.UTC(2019, 0, 7, 5, 0, 0);
    const e = new DispatchEngine(city, { now: () => t0, highs });
    const rand = seededRandom(7);
    const bindings = e.inputBindings();
    for (let k = 0; k < 40; k++) {
      const now = t0 + k * 60_000;
      for (const b of bindings) {
        const def = e.registry.defs[e.registry.byName.get(b.input)!]!;
        const base = def.binding!.defaultValue / def.binding!.factor;
        const v = b.metric === 'soc' ? 100 * rand() : b.metric.endsWith('temp') ? base + 10 * (rand() - 0.5) : Math.max(0, base * (0.5 + rand()) + (b.metric === 'el_power' ? 3000 * rand() : 0));
        e.ingest(b.device, b.metric, v, now);
      }
      const r = e.tick(now);
      expect(r.status).toBe('optimal');
      expect(r.solver).toBe('simplex');
      expectBalanced(city, r);
      expectNaturalSlackBounds(e.model);
      const h = solveFromScratch(highs, e.lastLp());
      expect(relGap(r.objective!, h.objective)).toBeLessThanOrEqual(1e-9);
      if (k === 39) {
        const f = join(dir, 'reference.lp');
        writeFileSync(f, e.exportLp('lp'));
        expect(relGap(r.objective!, glpsol(f, 'lp'))).toBeLessThanOrEqual(1e-6);
        expect(Object.keys(r.explanations).length).toBe(city.units.length + city.storages.length);
      }
    }
    expect(e.storagePlan()?.ok).toBe(true);
    // 40 ticks of pivots and column replacements later, the inverse kept in place still inverts the basis.
    expect((e as unknown as { simplex: BoundedDualSimplex }).simplex.inverseError()).toBeLessThanOrEqual(1e-9);
    e.dispose();
  });

  it('records read ticks later equal those read at once (numbers frozen before the next tick)', () => {
    const city = loadCity('config/reference-city.yaml');
    const t0 = Date.UTC(2019, 0, 7, 5, 0, 0);
    const eager = new DispatchEngine(city, { now: () => t0, autoReplan: false });
    const lazy = new DispatchEngine(city, { now: () => t0, autoReplan: false });
    const rand = seededRandom(11);
    const bindings = eager.inputBindings();
    const atOnce: string[] = [];
    const kept: DispatchResult[] = [];
    const untimed = (r: DispatchResult) => JSON.stringify({ ...JSON.parse(JSON.stringify(r)), solveUs: 0, tickUs: 0, timingsUs: {} });
    for (let k = 0; k < 12; k++) {
      const now = t0 + k * 60_000;
      for (const b of bindings) {
        const v = b.metric.endsWith('temp') ? 60 + 20 * rand() : 1000 * rand();
        eager.ingest(b.device, b.metric, v, now);
        lazy.ingest(b.device, b.metric, v, now);
      }
      atOnce.push(untimed(eager.tick(now)));
      const r = lazy.tick(now);
      // Some records read at once, the rest only after later ticks have overwritten the LP.
      if (k % 3 === 1) void r.setpoints;
      if (k % 3 === 2) void r.flows;
      kept.push(r);
    }
    expect(kept.map(untimed)).toEqual(atOnce);
    // The lazy records serialise with every field, in the schema's order, and validate.
    const plain = JSON.parse(JSON.stringify(kept[11]));
    expect(Object.keys(plain)).toEqual(Object.keys(dispatchResultSchema.shape));
    expect(dispatchResultSchema.safeParse(plain).success).toBe(true);
    expect(dispatchResultSchema.safeParse(kept[11]).success).toBe(true);
    expect(JSON.parse(atOnce[5]!).setpoints).not.toEqual(JSON.parse(atOnce[6]!).setpoints);
  });

  it('the demo city balances on its defaults', () => {
    const city = loadCity('config/demo-city.yaml');
    const e = new DispatchEngine(city, { now: () => 0, autoReplan: false });
    const r = e.tick(0);
    expect(r.status).toBe('optimal');
    expectBalanced(city, r);
  });
});

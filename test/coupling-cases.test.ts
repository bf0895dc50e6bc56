/**
 * Small dispatch cases whose optimum is worked out by hand in the comments; the engine must
 * reproduce the numbers (setpoints, prices, objective) and say why.
 */
import { describe, expect, it } from 'vitest';
import { DispatchEngine } from '../src/coupling/engine.ts';
import { loadHighs } from '../src/coupling/lp/highs.ts';
import { parseCity } from '../src/coupling/model/load.ts';
import type { CityInput } from '../src/coupling/model/schema.ts';
import { dispatchResultSchema, type DispatchResult } from '../src/coupling/result.ts';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const close = (a: number | null, b: number, tol = 1e-6) => expect(Math.abs(a! - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));

function engineFor(city: CityInput, opts: ConstructorParameters<typeof DispatchEngine>[1] = {}): DispatchEngine {
  return new DispatchEngine(parseCity(city), { now: () => T0, autoReplan: false, ...opts });
}

function tick(e: DispatchEngine, at = T0): DispatchResult {
  const r = e.tick(at);
  expect(r.status).toBe('optimal');
  // Every result is a valid DispatchResult (the API serves it as such).
  expect(dispatchResultSchema.safeParse(JSON.parse(JSON.stringify(r))).success).toBe(true);
  return r;
}

describe('merit order', () => {
  // Fuel: gas 30 EUR/MWh + CO2 0.2 t/MWh × 50 EUR/t = 40 EUR/MWh of gas.
  // Marginal heat cost = varCost + 40 / efficiency:
  //   cheap: 1 + 40/0.95 = 43.1053 (max 5), mid: 0 + 40/0.8 = 50 (max 6), dear: 10 + 40/0.8 = 60 (max 20).
  // Demand 12 MW: cheap 5 + mid 6 + dear 1; the dear boiler is marginal, so the heat price is 60.
  // Objective = 5 × 43.10526 + 6 × 50 + 1 × 60 = 575.52632 EUR/h; gas = 5/0.95 + 7/0.8 = 14.01316 MW; CO2 = 2.80263 t/h.
  const city: CityInput = {
    name: 'merit',
    co2PriceEurPerT: 50,
    buses: [
      { id: 'z1', kind: 'heat', demandMw: 12 },
      { id: 'gas', kind: 'gas', priceEurPerMWh: 30, co2TPerMWh: 0.2 },
    ],
    units: [
      { id: 'dear', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 0.8, varCostEurPerMWh: 10 },
      { id: 'cheap', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 5, efficiency: 0.95, varCostEurPerMWh: 1 },
      { id: 'mid', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 6, efficiency: 0.8, varCostEurPerMWh: 0 },
    ],
  };

  it('runs the cheapest units first and prices heat at the marginal unit', () => {
    const r = tick(engineFor(city));
    close(r.setpoints.cheap!.heatMw, 5);
    close(r.setpoints.mid!.heatMw, 6);
    close(r.setpoints.dear!.heatMw, 1);
    close(r.prices.heat.z1!, 60);
    close(r.objective, 5 * (1 + 40 / 0.95) + 6 * 50 + 60);
    close(r.kpis.costEurPerH, 575.526315789);
    close(r.kpis.co2TPerH, 0.2 * (5 / 0.95 + 7 / 0.8));
    close(r.kpis.fossilShare, 1);
    const ex = r.explanations;
    expect([ex.cheap!.meritRank, ex.mid!.meritRank, ex.dear!.meritRank]).toEqual([1, 2, 3]);
    expect(ex.cheap).toMatchObject({ status: 'at_max', binding: 'capacity', meritOf: 3 });
    close(ex.cheap!.marginalCostEurPerMWh, 1 + 40 / 0.95);
    expect(ex.dear).toMatchObject({ status: 'marginal', binding: null });
    expect(ex.dear!.text).toMatch(/marginal unit/);
    expect(ex.cheap!.text).toMatch(/cheap at its maximum 5\.00 MW, limited by its capacity: marginal cost of heat 43\.11 EUR\/MWh vs z1 price 60\.00/);
    // Reduced cost of a unit at its maximum: heat coefficient × (marginal cost − price) < 0.
    close(ex.cheap!.reducedCost, 1 + 40 / 0.95 - 60);
  });

  it('takes a unit out when its availability is 0 and says so', () => {
    const c = structuredClone(city);
    (c.units![1] as { availability: number }).availability = 0;
    const r = tick(engineFor(c));
    // Without "cheap": mid 6 + dear 6, price 60.
    close(r.setpoints.cheap!.heatMw, 0);
    close(r.setpoints.dear!.heatMw, 6);
    expect(r.explanations.cheap).toMatchObject({ status: 'unavailable', binding: 'out_of_service' });
  });
});

describe('CHP coupling', () => {
  const base = (units: CityInput['units'], demandMw: number): CityInput => ({
    name: 'chp',
    co2PriceEurPerT: 0,
    buses: [
      { id: 'z1', kind: 'heat', demandMw },
      { id: 'el', kind: 'electricity', demandMw: 0 },
      { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
    ],
    units: [
      ...units!,
      { id: 'boiler', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 0.9, varCostEurPerMWh: 0 },
      { id: 'grid', kind: 'grid', importPriceEurPerMWh: 100, co2TPerMWh: 0, importMaxMw: 50, exportMaxMw: 50 },
    ],
  });

  it('back-pressure: heat and power in the fixed power-to-heat ratio', () => {
    // F ≤ elMax/etaEl = 4/0.4 = 10 MW fuel; per MWh of fuel: cost 30 + 2 × 0.4 = 30.8, power 0.4 × 100 = 40
    // earned, heat 0.5 MW. Net −9.2 EUR per MWh fuel plus heat worth 33.33 (the boiler's 30/0.9): runs at max.
    // P = 4 MW, Q = 5 MW (P/Q = 0.8), boiler 5 MW, heat price 30/0.9 = 33.333.
    // Objective = 0.8 × 10 + 30 × (10 + 5/0.9) − 100 × 4 = 74.6667 EUR/h.
    const r = tick(engineFor(base([{ id: 'chp', kind: 'gas_chp', mode: 'back_pressure', zone: 'z1', elMaxMw: 4, etaEl: 0.4, etaTh: 0.5, varCostEurPerMWhEl: 2 }], 10)));
    const chp = r.setpoints.chp!;
    close(chp.fuelMw!, 10);
    close(chp.elMw, 4);
    close(chp.heatMw, 5);
    close(chp.elMw / chp.heatMw, 0.8);
    close(r.setpoints.boiler!.heatMw, 5);
    close(r.prices.heat.z1!, 30 / 0.9);
    close(r.prices.electricity, 100);
    close(r.setpoints.grid!.exportMw!, 4);
    close(r.objective, 0.8 * 10 + 30 * (10 + 5 / 0.9) - 400);
  });

  // Extraction CHP: etaEl 0.4, elMax 10 → Fmax 25 MW; sigma 1, beta 0.2. Power at 100 EUR/MWh: condensing
  // power costs 30/0.4 = 75 < 100, so fuel runs at 25 MW. Extracting heat costs beta × 100 = 20 EUR/MWh
  // of lost power, cheaper than the boiler (33.33).
  const extraction = { id: 'chp', kind: 'gas_chp' as const, mode: 'extraction' as const, zone: 'z1', elMaxMw: 10, etaEl: 0.4, powerToHeat: 1, beta: 0.2, varCostEurPerMWhEl: 0 };

  it('extraction: follows the iso-fuel line P + beta Q = etaEl F', () => {
    // Demand 3: Q = 3, P = 10 − 0.2 × 3 = 9.4 (≥ sigma Q = 3), heat price = 20.
    // Objective = 30 × 25 − 100 × 9.4 = −190 EUR/h.
    const r = tick(engineFor(base([extraction], 3)));
    const chp = r.setpoints.chp!;
    close(chp.fuelMw!, 25);
    close(chp.heatMw, 3);
    close(chp.elMw, 9.4);
    close(chp.elMw + 0.2 * chp.heatMw, 0.4 * chp.fuelMw!);
    close(r.prices.heat.z1!, 20);
    close(r.objective, -190);
    close(r.setpoints.boiler!.heatMw, 0);
    expect(r.explanations.chp!.text).toMatch(/each MWh of heat costs 0\.20 MWh of electricity/);
  });

  it('extraction: stops at the back-pressure line P = sigma Q', () => {
    // Demand 12: on the back-pressure line 0.4 × 25 = (0.2 + 1) Q → Q = P = 8.3333; the boiler adds 3.6667
    // and sets the price 33.333. Objective = 30 × (25 + 3.6667/0.9) − 100 × 8.3333 = 38.8889 EUR/h.
    const r = tick(engineFor(base([extraction], 12)));
    const chp = r.setpoints.chp!;
    close(chp.heatMw, 10 / 1.2);
    close(chp.elMw, 10 / 1.2);
    close(r.setpoints.boiler!.heatMw, 12 - 10 / 1.2);
    close(r.prices.heat.z1!, 30 / 0.9);
    close(r.objective, 30 * (25 + (12 - 10 / 1.2) / 0.9) - (100 * 10) / 1.2);
    expect(r.explanations.chp!.text).toMatch(/on the back-pressure line/);
  });
});

describe('heat pump', () => {
  const city: CityInput = {
    name: 'hp',
    co2PriceEurPerT: 0,
    buses: [
      { id: 'z1', kind: 'heat', demandMw: 4, supplyTempC: 80 },
      { id: 'el', kind: 'electricity' },
      { id: 'gas', kind: 'gas', priceEurPerMWh: 100 },
      { id: 'wh', kind: 'waste_heat', temperatureC: { device: 'whs-1', metric: 'source_temp', unit: 'degC', default: 30 } },
    ],
    units: [
      { id: 'whs', kind: 'waste_heat_source', bus: 'wh', availableMw: 10 },
      { id: 'hp', kind: 'heat_pump', zone: 'z1', sourceBus: 'wh', heatMaxMw: 4, carnotEfficiency: 0.5, sinkApproachK: 3, sourceApproachK: 3, copMax: 8, varCostEurPerMWh: 0 },
      { id: 'boiler', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 10, efficiency: 0.9 },
      { id: 'grid', kind: 'grid', importPriceEurPerMWh: 60, co2TPerMWh: 0, importMaxMw: 20, exportMaxMw: 0 },
    ],
  };

  it('takes its COP from source and sink temperatures as a fraction of Carnot', () => {
    const e = engineFor(city);
    // Sink 80 + 3 = 83 °C = 356.15 K, source 30 − 3 = 27 °C: COP = 0.5 × 356.15 / 56 = 3.17991.
    // Heat 4 MW → electricity 4/COP = 1.25790 MW, source heat 4 − 1.25790 = 2.74210 MW; price = 60/COP = 18.868.
    const cop1 = (0.5 * 356.15) / 56;
    let r = tick(e);
    close(r.setpoints.hp!.cop!, cop1);
    close(r.setpoints.hp!.heatMw, 4);
    close(r.setpoints.hp!.elMw, -4 / cop1);
    close(r.setpoints.hp!.sourceHeatMw!, 4 - 4 / cop1);
    close(r.prices.heat.z1!, 60 / cop1);
    close(r.objective, (60 * 4) / cop1);
    // All heat from the heat pump; its source side (4 − 4/COP) is waste heat, its electricity is not.
    close(r.kpis.heatSuppliedMw, 4);
    close(r.kpis.wasteHeatShare, 1 - 1 / cop1);
    close(r.kpis.fossilShare, 0);
    close(r.kpis.costEurPerH, (60 * 4) / cop1);
    // A warmer source (50 °C → 47 °C after the approach): COP = 0.5 × 356.15 / 36 = 4.94653; the warm start
    // must pick up the changed coefficient.
    expect(e.ingest('whs-1', 'source_temp', 50, T0 + 1000)).toEqual({ updated: ['wh.temperatureC'], changed: true });
    r = tick(e, T0 + 10_000);
    const cop2 = (0.5 * 356.15) / 36;
    close(r.setpoints.hp!.cop!, cop2);
    close(r.setpoints.hp!.elMw, -4 / cop2);
    close(r.objective, (60 * 4) / cop2);
    // Source hotter than the sink: the COP is capped at copMax.
    e.ingest('whs-1', 'source_temp', 95, T0 + 11_000);
    r = tick(e, T0 + 20_000);
    close(r.setpoints.hp!.cop!, 8);
  });
});

describe('storage', () => {
  // Value 40 EUR/MWh, etaCharge = etaDischarge = 0.9, cycle cost 1:
  //   charges while the heat price < 40 × 0.9 − 1 = 35, discharges while > 40/0.9 + 1 = 45.444.
  const city = (gasPrice: number): CityInput => ({
    name: 'storage',
    co2PriceEurPerT: 0,
    buses: [
      { id: 'z1', kind: 'heat', demandMw: 5 },
      { id: 'gas', kind: 'gas', priceEurPerMWh: gasPrice },
    ],
    units: [{ id: 'boiler', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 1, varCostEurPerMWh: 0 }],
    storages: [{ id: 'tank', zone: 'z1', capacityMWh: 100, chargeMaxMw: 3, dischargeMaxMw: 3, etaCharge: 0.9, etaDischarge: 0.9, lossPerH: 0, soc: 0.5, cycleCostEurPerMWh: 1, valueEurPerMWh: 40 }],
  });

  it('charges when heat is cheaper than its value, discharges when dearer, idles in between', () => {
    // Gas 20: charge at the 3 MW limit, boiler 8 MW, price 20. Content after a 10 s tick: 50 + 0.9 × 3 / 360.
    let r = tick(engineFor(city(20)));
    close(r.storage.tank!.chargeMw, 3);
    close(r.setpoints.boiler!.heatMw, 8);
    close(r.prices.heat.z1!, 20);
    close(r.storage.tank!.socMWh, 50 + (0.9 * 3) / 360);
    expect(r.explanations.tank).toMatchObject({ status: 'at_max', binding: 'capacity' });
    // Gas 60: discharge 3 MW, boiler 2 MW.
    r = tick(engineFor(city(60)));
    close(r.storage.tank!.dischargeMw, 3);
    close(r.setpoints.boiler!.heatMw, 2);
    close(r.storage.tank!.socMWh, 50 - 3 / 0.9 / 360);
    // Gas 40: between the thresholds, idle.
    r = tick(engineFor(city(40)));
    close(r.storage.tank!.chargeMw, 0);
    close(r.storage.tank!.dischargeMw, 0);
    expect(r.explanations.tank!.status).toBe('off');
    // Nearly empty: discharge limited by the content (0.001 MWh over 10 s = 0.36 MW × 0.9 = 0.324 MW out).
    const low = city(60);
    low.storages![0]!.soc = 0.00001;
    r = tick(engineFor(low));
    close(r.storage.tank!.dischargeMw, 0.001 * 0.9 * 360);
    close(r.storage.tank!.socMWh, 0, 1e-9);
    expect(r.explanations.tank!.binding).toBe('storage_content');
  });

  it('gets its value from the look-ahead plan: charges on cheap night power for the day', async () => {
    // Night (00-05 UTC) power costs 20 EUR/MWh, the day 120; an electric boiler (eta 1) makes heat at 20 at
    // night; by day the gas boiler's 50 is the cheapest heat. The plan stores night heat for the day, so the
    // value of stored heat lies between 20 and 50, and at 02:00 the tick charges.
    const highs = await loadHighs();
    const profile = Array.from({ length: 24 }, (_, h) => (h < 6 ? 20 : 120));
    const c: CityInput = {
      name: 'plan',
      co2PriceEurPerT: 0,
      buses: [
        { id: 'z1', kind: 'heat', demandMw: 5 },
        { id: 'el', kind: 'electricity' },
        { id: 'gas', kind: 'gas', priceEurPerMWh: 50 },
      ],
      units: [
        { id: 'boiler', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 1, varCostEurPerMWh: 0 },
        { id: 'eboiler', kind: 'electric_boiler', zone: 'z1', heatMaxMw: 15, efficiency: 1, varCostEurPerMWh: 0 },
        { id: 'grid', kind: 'grid', importPriceEurPerMWh: { device: 'grid-1', metric: 'price', unit: 'EUR/MWh', default: 20, profile }, co2TPerMWh: 0, importMaxMw: 30, exportMaxMw: 0 },
      ],
      storages: [{ id: 'tank', zone: 'z1', capacityMWh: 40, chargeMaxMw: 8, dischargeMaxMw: 8, soc: 0.2, valueEurPerMWh: 0 }],
    };
    const night = Date.UTC(2026, 0, 15, 2, 0, 0);
    const e = new DispatchEngine(parseCity(c), { now: () => night, highs });
    e.ingest('grid-1', 'price', 20, night);
    const r = tick(e, night);
    expect(r.storage.tank!.valueSource).toBe('plan');
    expect(r.storage.tank!.valueEurPerMWh).toBeGreaterThan(20);
    expect(r.storage.tank!.valueEurPerMWh).toBeLessThan(50);
    close(r.storage.tank!.chargeMw, 8);
    close(r.setpoints.eboiler!.heatMw, 13);
    expect(e.storagePlan()!.trajectory[0]!.length).toBe(24);
    e.dispose();

    // The same plan off-thread: the first tick starts it and uses the configured value; once the
    // worker is done, ticks use the planned value.
    const bg = new DispatchEngine(parseCity(c), { now: () => night, autoReplan: 'background' });
    bg.ingest('grid-1', 'price', 20, night);
    expect(tick(bg, night).storage.tank!.valueSource).toBe('default');
    const planned = await bg.replanAsync(night);
    expect(planned?.ok).toBe(true);
    const later = tick(bg, night + 10_000);
    expect(later.storage.tank!.valueSource).toBe('plan');
    close(later.storage.tank!.valueEurPerMWh, r.storage.tank!.valueEurPerMWh, 1e-9);
    bg.dispose();
  });
});

describe('links', () => {
  // A: demand 5, boiler at 20 EUR/MWh; B: demand 10, boiler at 80. Link A→B loses 5 %, costs 0.1 per MWh sent.
  const city = (capacityMw: number): CityInput => ({
    name: 'links',
    co2PriceEurPerT: 0,
    buses: [
      { id: 'a', kind: 'heat', demandMw: 5 },
      { id: 'b', kind: 'heat', demandMw: 10 },
      { id: 'gas', kind: 'gas', priceEurPerMWh: 20 },
    ],
    units: [
      { id: 'cheapA', kind: 'gas_boiler', zone: 'a', heatMaxMw: 50, efficiency: 1, varCostEurPerMWh: 0 },
      { id: 'dearB', kind: 'gas_boiler', zone: 'b', heatMaxMw: 50, efficiency: 0.25, varCostEurPerMWh: 0 },
    ],
    links: [{ id: 'ab', from: 'a', to: 'b', capacityMw: capacityMw, lossFraction: 0.05, varCostEurPerMWh: 0.1 }],
  });

  it('congestion splits the zone prices', () => {
    // Capacity 4: send 4, deliver 3.8; B's boiler makes 6.2 and prices B at 80; A makes 9 at 20.
    const r = tick(engineFor(city(4)));
    close(r.flows.ab!.flowMw, 4);
    close(r.flows.ab!.deliveredMw, 3.8);
    close(r.flows.ab!.lossMw, 0.2);
    expect(r.flows.ab!.congested).toBe(true);
    close(r.setpoints.dearB!.heatMw, 6.2);
    close(r.setpoints.cheapA!.heatMw, 9);
    close(r.prices.heat.a!, 20);
    close(r.prices.heat.b!, 80);
    close(r.objective, 20 * 9 + 80 * 6.2 + 0.1 * 4);
  });

  it('a flow against the link direction reports what arrives at `from`, net of the loss', () => {
    // The same link declared b→a: the heat goes a→b as a reverse flow, and the same numbers come out mirrored.
    const c = city(4);
    c.links = [{ id: 'ba', from: 'b', to: 'a', capacityMw: 4, lossFraction: 0.05, varCostEurPerMWh: 0.1 }];
    const r = tick(engineFor(c));
    close(r.flows.ba!.flowMw, -4);
    close(r.flows.ba!.reverseMw, 4);
    close(r.flows.ba!.deliveredMw, -3.8);
    close(r.flows.ba!.lossMw, 0.2);
    close(r.setpoints.dearB!.heatMw, 6.2);
  });

  it('without congestion the price differs only by losses and pumping cost', () => {
    // Capacity 20: send 10/0.95 = 10.526 so B gets 10; B's price = (20 + 0.1)/0.95 = 21.158.
    const r = tick(engineFor(city(20)));
    close(r.flows.ab!.flowMw, 10 / 0.95);
    expect(r.flows.ab!.congested).toBe(false);
    close(r.prices.heat.b!, 20.1 / 0.95);
    close(r.setpoints.dearB!.heatMw, 0);
  });
});

describe('never infeasible', () => {
  it('reports unmet demand where it is, priced at the penalty, with an alarm', () => {
    // Demand 15, capacity 10: 5 MW unmet in z1, price = the unmet-heat penalty (5000 EUR/MWh).
    const r = tick(
      engineFor({
        name: 'short',
        buses: [
          { id: 'z1', kind: 'heat', demandMw: 15 },
          { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
        ],
        units: [{ id: 'b', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 10, efficiency: 1 }],
      }),
    );
    close(r.kpis.unmetHeatMw, 5);
    close(r.buses.z1!.unmetMw, 5);
    close(r.prices.heat.z1!, 5000);
    expect(r.alarms).toContainEqual(expect.objectContaining({ level: 'critical', code: 'unmet_demand', message: expect.stringMatching(/^z1: 5\.000 MW of heat demand cannot be met/) }));
  });

  it('dumps forced heat and curtails surplus power as explicit, penalised slack', () => {
    // The WtE must take 10 t/h (diverting costs 10000 EUR/t): heat 10 × 2.8 × 0.55 = 15.4 MW for a 5 MW
    // demand, so 10.4 MW of heat are dumped (penalty 500 EUR/MWh). Its power, 10 × 2.8 × 0.2 = 5.6 MW, and
    // 8 MW of PV meet no demand and no grid: PV is curtailed first (penalty 1 EUR/MWh), the WtE power
    // is dumped as electricity (the only way out). Both appear as explicit slack.
    const r = tick(
      engineFor({
        name: 'surplus',
        buses: [
          { id: 'z1', kind: 'heat', demandMw: 5 },
          { id: 'el', kind: 'electricity' },
          { id: 'waste', kind: 'waste', availableTph: 10, mustDispose: true, divertCostEurPerT: 10000 },
        ],
        units: [
          { id: 'wte', kind: 'wte_chp', zone: 'z1', wasteMaxTph: 10, lhvMWhPerT: 2.8, etaEl: 0.2, etaTh: 0.55, varCostEurPerT: 0, co2TPerT: 0 },
          { id: 'pv', kind: 'pv', capacityMw: 8, availableMw: 8 },
        ],
      }),
    );
    close(r.setpoints.wte!.wasteTph!, 10);
    close(r.kpis.heatDumpedMw, 15.4 - 5);
    close(r.kpis.renewableCurtailedMw, 8);
    close(r.buses.el!.dumpMw, 5.6);
    close(r.kpis.curtailmentMw, 10.4 + 8 + 5.6);
    expect(r.explanations.pv!.status).toBe('off');
  });

  it('survives a nonsense tick time and a city with nothing to dispatch', () => {
    const e = engineFor({ name: 'empty', buses: [{ id: 'z1', kind: 'heat', demandMw: 0 }] });
    const r = tick(e, NaN);
    expect(r.objective).toBe(0);
    expect(Number.isFinite(r.ts)).toBe(true);
    expect(tick(e, T0 - 3_600_000).status).toBe('optimal'); // time going backwards
  });

  it('holds the last dispatch with an alarm when the solver fails, and falls back to HiGHS when it can', async () => {
    const city: CityInput = {
      name: 'fail',
      co2PriceEurPerT: 0,
      buses: [
        { id: 'z1', kind: 'heat', demandMw: 5 },
        { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
      ],
      units: [{ id: 'b', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 10, efficiency: 1, varCostEurPerMWh: 0 }],
    };
    const e = engineFor(city, { highs: undefined });
    const first = tick(e);
    (e as unknown as { simplex: { solve: () => never } }).simplex.solve = () => {
      throw new Error('boom');
    };
    const failed = e.tick(T0 + 10_000);
    expect(failed.status).toBe('failed');
    expect(failed.setpoints.b!.heatMw).toBe(first.setpoints.b!.heatMw);
    expect(failed.alarms).toContainEqual(expect.objectContaining({ level: 'critical', code: 'solver_failed', message: expect.stringMatching(/boom/) }));
    // A solver that gives up (no exception) and no HiGHS to fall back on: same safe answer.
    (e as unknown as { simplex: { solve: () => string } }).simplex.solve = () => 'numerical';
    const gaveUp = e.tick(T0 + 20_000);
    expect(gaveUp).toMatchObject({ status: 'failed', solver: 'none', objective: null });
    expect(gaveUp.setpoints.b!.heatMw).toBe(first.setpoints.b!.heatMw);
    expect(gaveUp.alarms.map((a) => a.code)).toEqual(expect.arrayContaining(['solver_fallback', 'solver_failed']));
    expect(dispatchResultSchema.safeParse(JSON.parse(JSON.stringify(gaveUp))).success).toBe(true);

    const highs = await loadHighs();
    const e2 = engineFor(city, { highs });
    (e2 as unknown as { simplex: { solve: () => string } }).simplex.solve = () => 'iteration_limit';
    const fb = e2.tick(T0);
    expect(fb).toMatchObject({ status: 'optimal', solver: 'highs' });
    close(fb.objective, 5 * 30);
    expect(fb.alarms).toContainEqual(expect.objectContaining({ code: 'solver_fallback', level: 'warning' }));
    e2.dispose();
  });
});

describe('inputs', () => {
  const city: CityInput = {
    name: 'inputs',
    inputDefaults: { ttlS: 30, maxAgeS: 120 },
    buses: [
      { id: 'z1', kind: 'heat', demandMw: { device: 'hm-zone01', metric: 'heat_power', unit: 'kW', default: 7000 }, supplyTempC: { device: 'hm-zone01', metric: 'supply_temp', default: 90 } },
      { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
    ],
    units: [{ id: 'b', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 1 }],
  };

  it('uses a fresh value, then the last good value (warning), then the safe default (critical)', () => {
    const e = engineFor(city);
    expect(e.ingest('hm-zone01', 'heat_power', 4000, T0)).toEqual({ updated: ['z1.demandMw'], changed: true });
    let r = tick(e, T0 + 10_000);
    close(r.buses.z1!.demandMw, 4);
    expect(r.inputs['z1.demandMw']).toEqual({ value: 4, state: 'fresh' });
    expect(r.alarms.filter((a) => a.input === 'z1.demandMw')).toEqual([]);

    r = tick(e, T0 + 60_000);
    close(r.buses.z1!.demandMw, 4);
    expect(r.inputs['z1.demandMw']!.state).toBe('stale');
    expect(r.alarms).toContainEqual({ input: 'z1.demandMw', level: 'warning', code: 'stale', message: 'z1.demandMw: hm-zone01/heat_power is 60 s old (TTL 30 s); using the last good value 4 MW' });

    r = tick(e, T0 + 200_000);
    close(r.buses.z1!.demandMw, 7);
    expect(r.inputs['z1.demandMw']!.state).toBe('expired');
    expect(r.alarms).toContainEqual({ input: 'z1.demandMw', level: 'critical', code: 'expired', message: 'z1.demandMw: hm-zone01/heat_power is 200 s old (limit 120 s); using the safe default 7 MW' });
    // Never received: a warning while the engine is young, critical once it has been up for maxAge.
    expect(r.alarms).toContainEqual(expect.objectContaining({ input: 'z1.supplyTempC', level: 'critical', code: 'missing' }));
    const young = engineFor(city).tick(T0 + 5_000);
    expect(young.alarms).toContainEqual(expect.objectContaining({ input: 'z1.supplyTempC', level: 'warning', code: 'missing' }));
  });

  it('rejects NaN, infinite, negative and impossible readings by input name and keeps the last good value', () => {
    const e = engineFor(city);
    e.ingest('hm-zone01', 'heat_power', 4000, T0);
    expect(e.ingest('hm-zone01', 'heat_power', NaN, T0 + 1)).toEqual({ rejected: 'z1.demandMw: rejected NaN (hm-zone01/heat_power)' });
    expect(e.ingest('hm-zone01', 'heat_power', -5, T0 + 2)).toEqual({ rejected: 'z1.demandMw: rejected negative flow -5 kW (hm-zone01/heat_power)' });
    expect(e.ingest('hm-zone01', 'heat_power', Infinity, T0 + 3)).toEqual({ rejected: 'z1.demandMw: rejected +Infinity (hm-zone01/heat_power)' });
    expect(e.ingest('hm-zone01', 'heat_power', '12' as unknown as number, T0 + 3)).toEqual({ rejected: 'z1.demandMw: rejected non-numeric value "12" (hm-zone01/heat_power)' });
    expect(e.ingest('hm-zone01', 'supply_temp', -300, T0 + 4)).toEqual({ rejected: 'z1.supplyTempC: rejected -300 degC: below the physical minimum -80 degC (hm-zone01/supply_temp)' });
    expect(e.ingest('hm-zone01', 'heat_power', 3000, T0 - 1000)).toMatchObject({ rejected: expect.stringMatching(/^z1\.demandMw: rejected out-of-order reading/) });
    expect(e.ingest('hm-zone01', 'flow', 12, T0)).toEqual({ updated: [], changed: false });
    expect(e.ingest('unknown-device', 'heat_power', 1, T0)).toEqual({ updated: [], changed: false });
    const r = tick(e, T0 + 5_000);
    close(r.buses.z1!.demandMw, 4);
    const rejected = r.alarms.filter((a) => a.code === 'rejected').map((a) => a.input);
    expect(rejected).toEqual(['z1.demandMw', 'z1.demandMw', 'z1.demandMw', 'z1.demandMw', 'z1.supplyTempC', 'z1.demandMw']);
    // Reported once: the next tick has no rejections.
    expect(tick(e, T0 + 6_000).alarms.filter((a) => a.code === 'rejected')).toEqual([]);
  });

  it('says whether a reading changed a value: a repeat keeps the input fresh but is no reason to tick', () => {
    const e = engineFor(city);
    expect(e.ingest('hm-zone01', 'heat_power', 4000, T0)).toEqual({ updated: ['z1.demandMw'], changed: true });
    expect(e.ingest('hm-zone01', 'heat_power', 4000, T0 + 40_000)).toEqual({ updated: ['z1.demandMw'], changed: false });
    // The repeat refreshed the reading's time: still fresh 50 s after the first one (TTL 30 s).
    expect(tick(e, T0 + 50_000).inputs['z1.demandMw']).toEqual({ value: 4, state: 'fresh' });
    expect(e.ingest('hm-zone01', 'heat_power', 4100, T0 + 60_000)).toEqual({ updated: ['z1.demandMw'], changed: true });
  });
});

describe('prefix bindings', () => {
  it('sum the heat meters of a zone, average their temperatures, and estimate silent meters', () => {
    const e = engineFor({
      name: 'meters',
      inputDefaults: { ttlS: 30, maxAgeS: 120 },
      buses: [
        { id: 'z1', kind: 'heat', demandMw: { devicePrefix: 'hm-zone01-', metric: 'heat_power', default: 9000 }, supplyTempC: { devicePrefix: 'hm-zone01-', aggregate: 'mean', metric: 'supply_temp', default: 90 } },
        { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
      ],
      units: [{ id: 'b', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 50, efficiency: 1 }],
    });
    expect(e.inputBindings()).toContainEqual({ device: 'hm-zone01-', match: 'prefix', metric: 'heat_power', input: 'z1.demandMw' });
    // Three meters: 1000 + 2000 + 3000 kW = 6 MW; temperatures 80, 90, 100 → mean 90.
    [1000, 2000, 3000].forEach((kw, i) => {
      expect(e.ingest(`hm-zone01-00${i + 1}`, 'heat_power', kw, T0)).toEqual({ updated: ['z1.demandMw'], changed: true });
      e.ingest(`hm-zone01-00${i + 1}`, 'supply_temp', 80 + 10 * i, T0);
    });
    expect(e.ingest('hm-zone02-001', 'heat_power', 5000, T0)).toEqual({ updated: [], changed: false });
    // The same value again updates its time but changes nothing (no reason to re-dispatch).
    expect(e.ingest('hm-zone01-001', 'heat_power', 1000, T0 + 500)).toEqual({ updated: ['z1.demandMw'], changed: false });
    let r = tick(e, T0 + 1000);
    close(r.buses.z1!.demandMw, 6);
    expect(r.inputs['z1.supplyTempC']).toEqual({ value: 90, state: 'fresh' });
    // Meter 3 reports again later than the others; after 130 s meters 1 and 2 are silent (> 120 s):
    // meter 3 (now 3300 kW) stands in for all three: 3 × 3.3 = 9.9 MW, with a critical alarm.
    e.ingest('hm-zone01-003', 'heat_power', 3300, T0 + 100_000);
    e.ingest('hm-zone01-003', 'supply_temp', 100, T0 + 100_000);
    expect(e.ingest('hm-zone01-003', 'heat_power', 100, T0 + 50_000)).toMatchObject({ rejected: expect.stringMatching(/out-of-order/) });
    r = tick(e, T0 + 130_000);
    close(r.buses.z1!.demandMw, 9.9);
    expect(r.alarms).toContainEqual(expect.objectContaining({ input: 'z1.demandMw', level: 'critical', code: 'expired', message: expect.stringMatching(/2 of 3 devices hm-zone01-\*\/heat_power silent/) }));
    // All silent: the safe default.
    r = tick(e, T0 + 400_000);
    close(r.buses.z1!.demandMw, 9);
  });

  it('feed every input a reading matches, bound by name and by prefix at once', () => {
    const e = engineFor({
      name: 'both',
      buses: [
        { id: 'z1', kind: 'heat', demandMw: { devicePrefix: 'hm-', metric: 'heat_power', default: 5000 }, supplyTempC: { device: 'hm-1', metric: 'supply_temp', default: 90 } },
        { id: 'z2', kind: 'heat', demandMw: 1, supplyTempC: { devicePrefix: 'hm-', aggregate: 'mean', metric: 'supply_temp', default: 90 } },
        { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
      ],
      units: [
        { id: 'b1', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 50, efficiency: 1 },
        { id: 'b2', kind: 'gas_boiler', zone: 'z2', heatMaxMw: 50, efficiency: 1 },
      ],
    });
    expect(e.ingest('hm-1', 'supply_temp', 85, T0)).toEqual({ updated: ['z1.supplyTempC', 'z2.supplyTempC'], changed: true });
    expect(e.ingest('hm-2', 'supply_temp', 95, T0)).toEqual({ updated: ['z2.supplyTempC'], changed: true });
    expect(e.ingest('hm-1', 'heat_power', 2000, T0)).toEqual({ updated: ['z1.demandMw'], changed: true });
    const r = tick(e, T0 + 1000);
    expect(r.inputs['z1.supplyTempC']).toEqual({ value: 85, state: 'fresh' });
    expect(r.inputs['z2.supplyTempC']).toEqual({ value: 90, state: 'fresh' });
    close(r.buses.z1!.demandMw, 2);
  });
});

describe('ramps', () => {
  it('limits the change from the previous setpoint by the ramp rate over the tick interval', () => {
    // Boiler ramp 1 MW/min; demand jumps from 2 to 10 MW; ticks 30 s apart → +0.5 MW per tick, the rest is
    // taken by the dear peak boiler until the ramp catches up.
    const e = engineFor({
      name: 'ramp',
      buses: [
        { id: 'z1', kind: 'heat', demandMw: { device: 'hm', metric: 'heat_power', unit: 'kW', default: 2000 } },
        { id: 'gas', kind: 'gas', priceEurPerMWh: 30 },
      ],
      units: [
        { id: 'base', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 1, rampMwPerMin: 1 },
        { id: 'peak', kind: 'gas_boiler', zone: 'z1', heatMaxMw: 20, efficiency: 0.5 },
      ],
    });
    e.ingest('hm', 'heat_power', 2000, T0);
    close(tick(e, T0).setpoints.base!.heatMw, 2);
    e.ingest('hm', 'heat_power', 10000, T0 + 1);
    const r = tick(e, T0 + 30_000);
    close(r.setpoints.base!.heatMw, 2.5);
    close(r.setpoints.peak!.heatMw, 7.5);
    expect(r.explanations.base).toMatchObject({ status: 'at_max', binding: 'ramp' });
    close(tick(e, T0 + 60_000).setpoints.base!.heatMw, 3);
  });
});

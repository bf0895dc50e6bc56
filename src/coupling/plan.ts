/**
 * Rolling look-ahead plan that gives stored heat its value.
 *
 * A one-tick dispatch cannot see that heat stored now saves gas tonight. The planner solves the
 * same city as an hourly multi-period LP over the next `horizonH` hours (forecasts from each
 * binding's daily profile, or the latest value held), with storage content linking the hours and
 * the content at the end not below the content now. The dual of the first hour's content balance
 * is the marginal value of one more MWh in the tank now (a "water value"); the tick LP prices
 * charging and discharging at that value. Re-planned every `planning.replanS` seconds on a
 * persistent HiGHS model, so a re-plan hot-starts from the previous plan's basis.
 */
import type { Highs } from 'highs';
import type { InputRegistry } from './model/inputs.ts';
import type { City } from './model/schema.ts';
import { compileCity, type CompiledModel } from './lp/compile.ts';
import { PersistentHighs } from './lp/highs.ts';

export interface StoragePlan {
  at: number;
  ok: boolean;
  reason?: string;
  /** EUR/MWh per storage (config order). */
  values: Float64Array;
  solveMs: number;
  objective: number;
  /** Planned content at the end of each hour (MWh), per storage. */
  trajectory: Float64Array[];
}

const HOUR_MS = 3_600_000;
const DEVIATION_DECAY_H = 4;

/** Per-hour input values from the current ones: profile plus the current deviation, decaying. */
export function forecastInputs(registry: InputRegistry, current: Float64Array, now: number, hours: number): Float64Array[] {
  const out: Float64Array[] = [];
  const h0 = new Date(now).getUTCHours();
  for (let t = 0; t < hours; t++) {
    const v = current.slice();
    const hour = new Date(now + t * HOUR_MS).getUTCHours();
    const keep = Math.exp(-t / DEVIATION_DECAY_H);
    for (const def of registry.defs) {
      const p = def.binding?.profile;
      if (!p) continue;
      const f = def.binding!.factor;
      const typicalNow = p[h0]! * f;
      const typical = p[hour]! * f;
      v[def.index] = typical + (current[def.index]! - typicalNow) * keep;
      if (def.quantity === 'power' || def.quantity === 'mass_flow') v[def.index] = Math.max(0, v[def.index]!);
    }
    out.push(v);
  }
  return out;
}

export class LookAheadPlanner {
  readonly model: CompiledModel;
  private solver: PersistentHighs | undefined;

  constructor(
    readonly city: City,
    readonly registry: InputRegistry,
    private readonly highs: Highs,
  ) {
    this.model = compileCity(city, registry, 'plan', city.planning.horizonH);
  }

  dispose(): void {
    this.solver?.dispose();
    this.solver = undefined;
  }

  plan(now: number, current: Float64Array, co2PriceEurPerT: number): StoragePlan {
    const t0 = performance.now();
    const T = this.model.periods;
    const values = forecastInputs(this.registry, current, now, T);
    this.model.fill(values, { dtH: 1, co2PriceEurPerT, prev: undefined, storageValue: new Float64Array(this.model.storages.length) });
    // Presolve off: on this LP it costs more than it saves, and hot starts skip it anyway.
    this.solver ??= new PersistentHighs(this.highs, this.model.lp, { presolve: 'off' });
    let sol = this.solver.solve(this.model.changedCols, this.model.changedCount);
    if (!sol.optimal) {
      this.solver.rebuild();
      sol = this.solver.solve();
    }
    const solveMs = performance.now() - t0;
    const n = this.model.storages.length;
    const out = new Float64Array(n);
    const trajectory: Float64Array[] = [];
    if (!sol.optimal) {
      return { at: now, ok: false, reason: `look-ahead LP ${sol.status}`, values: out, solveMs, objective: NaN, trajectory };
    }
    this.model.storages.forEach((cs, i) => {
      // d objective / d (content at the start) = (1 - loss) × dual of the first balance row.
      out[i] = -(1 - cs.storage.lossPerH) * sol.rowDual[cs.socRow[0]!]!;
      trajectory.push(Float64Array.from(cs.energy, (col) => sol.colValue[col]!));
    });
    return { at: now, ok: true, values: out, solveMs, objective: sol.objective, trajectory };
  }
}

/**
 * The real-time coupling engine: readings in, an optimal, explained dispatch out, every tick.
 *
 * Per tick: resolve inputs (fresh / last good / safe default, with alarms), write the numbers
 * into the compiled LP in place, re-solve from the previous basis with the bounded dual
 * simplex (HiGHS persistent model as fallback), then price (row duals), total (KPIs) and alarm.
 * Setpoints, flows, storage, bus states, explanations and the input listing are built on first
 * access from the tick's numbers, which the next tick copies first if a record still needs them.
 * tick() never throws.
 *
 * Re-planning the storage values (HiGHS, ~10-40 ms on the reference city) happens inside tick()
 * when due by default; a server should use `autoReplan: 'background'` (worker thread).
 */
import type { Highs } from 'highs';
import { collectInputs, type InputRegistry } from './model/inputs.ts';
import type { City, CityInput } from './model/schema.ts';
import { PlanWorker } from './plan-worker/client.ts';
import { InputStore, type Alarm, type IngestOutcome } from './input-store.ts';
import { compileCity, type CompiledModel } from './lp/compile.ts';
import { BoundedDualSimplex } from './lp/simplex.ts';
import { PersistentHighs, highsIfLoaded, loadHighs } from './lp/highs.ts';
import { writeCplexLp, writeMps } from './lp/write.ts';
import type { LpProblem } from './lp/problem.ts';
import { LookAheadPlanner, type StoragePlan } from './plan.ts';
import { BUS_KINDS, buildKpis, liveView, reportLayout, SnapshotArena, type ReportLayout } from './report.ts';
import { TickResult } from './tick-result.ts';
import type { DispatchResult } from './result.ts';

export interface DispatchEngineOptions {
  /** Overrides the city's CO2 price (EUR/t). */
  co2PriceEurPerT?: number;
  /** Clock (epoch ms); default Date.now. */
  now?: () => number;
  /** HiGHS runtime: enables the look-ahead plan and the fallback solver. Default: the runtime if already loaded; pass undefined explicitly to run without it. */
  highs?: Highs | undefined;
  /**
   * When the storage plan is due, tick() re-plans: `true` (default) synchronously on this
   * thread before solving; `'background'` in a worker thread without waiting (new values apply
   * from a later tick; recommended for servers); `false`: never, call replan()/replanAsync().
   */
  autoReplan?: boolean | 'background';
  /** 'simplex' (default): warm-started bounded dual simplex; 'highs': persistent HiGHS model. */
  solver?: 'simplex' | 'highs';
  /** Leave explanations out of the result (they are derived from the same solution on demand). */
  explain?: boolean;
}

export interface InputBinding {
  /** Device key, or a key prefix when `match` is 'prefix' (e.g. every heat meter of a zone). */
  device: string;
  match: 'exact' | 'prefix';
  metric: string;
  input: string;
}

export class DispatchEngine {
  readonly city: City;
  readonly registry: InputRegistry;
  readonly model: CompiledModel;
  private readonly store: InputStore;
  private readonly simplex: BoundedDualSimplex;
  private readonly layout: ReportLayout;
  /** Every heat zone's price key, in bus order: a tick's price record starts as a copy of it. */
  private readonly heatPriceTemplate: Record<string, number>;
  private readonly arena = new SnapshotArena();
  private readonly clock: () => number;
  private readonly highs: Highs | undefined;
  private persistent: PersistentHighs | undefined;
  private planner: LookAheadPlanner | undefined;
  private readonly values: Float64Array;
  private readonly states: Uint8Array;
  private readonly prev: Float64Array;
  private readonly storageValue: Float64Array;
  private plan: StoragePlan | undefined;
  private planAlarm: Alarm | undefined;
  private lastTickTs: number | undefined;
  private tickCount = 0;
  /** Row duals of the last optimal tick, held (with its setpoints in prev) when a tick fails. */
  private lastGoodDuals: Float64Array | undefined;
  /** The last result while its view still reads the live arrays (frozen before they change). */
  private unfrozen: TickResult | undefined;
  private readonly co2Price: number;
  private readonly autoReplan: boolean | 'background';
  private planWorker: PlanWorker | undefined;
  private planInFlight: Promise<StoragePlan | undefined> | undefined;
  private planAttemptAt: number | undefined;
  private readonly solverKind: 'simplex' | 'highs';
  private readonly explain: boolean;
  private lastObjective = NaN;
  /** Microseconds of the last tick in: inputs, LP update, solve. */
  private readonly phase = new Float64Array(3);
  private lastTs = 0;

  constructor(city: City, opts: DispatchEngineOptions = {}) {
    this.city = city;
    this.clock = opts.now ?? Date.now;
    this.co2Price = opts.co2PriceEurPerT ?? city.co2PriceEurPerT;
    this.highs = 'highs' in opts ? opts.highs : highsIfLoaded();
    this.autoReplan = opts.autoReplan ?? true;
    this.solverKind = opts.solver ?? 'simplex';
    this.explain = opts.explain ?? true;
    this.registry = collectInputs(city);
    this.store = new InputStore(this.registry, this.clock());
    this.model = compileCity(city, this.registry, 'tick');
    this.simplex = new BoundedDualSimplex(this.model.lp);
    this.layout = reportLayout(this.model);
    this.heatPriceTemplate = Object.fromEntries(this.layout.busIds.filter((_, b) => BUS_KINDS[this.layout.busKind[b]!] === 'heat').map((id) => [id, 0]));
    this.values = new Float64Array(this.registry.defs.length);
    this.states = new Uint8Array(this.registry.defs.length);
    this.prev = new Float64Array(this.model.lp.numCols).fill(NaN);
    this.storageValue = Float64Array.from(city.storages, (s) => s.valueEurPerMWh);
    if (this.solverKind === 'highs' && !this.highs) throw new Error('solver "highs" needs the HiGHS runtime: use createDispatchEngine() or pass opts.highs');
  }

  /** Feeds a normalised reading (canonical unit, ts epoch ms). */
  ingest(device: string, metric: string, value: number, ts: number): IngestOutcome {
    try {
      return this.store.ingest(device, metric, value, ts);
    } catch (err) {
      return { rejected: `reading from ${device}/${metric} could not be processed: ${(err as Error).message}` };
    }
  }

  inputBindings(): InputBinding[] {
    const out: InputBinding[] = [];
    for (const d of this.registry.defs) if (d.binding) out.push({ device: d.binding.device, match: d.binding.prefix ? 'prefix' : 'exact', metric: d.binding.metric, input: d.name });
    return out;
  }

  /** The LP of the last tick (numbers as solved). */
  lastLp(): LpProblem {
    return this.model.lp;
  }

  /** The last tick's problem as CPLEX LP or free MPS text; re-solving it gives the tick's objective. */
  exportLp(format: 'lp' | 'mps' = 'lp'): string {
    const comment = [
      `Querstrom dispatch tick ${this.tickCount} of city "${this.city.name}" at ${new Date(this.lastTs || this.clock()).toISOString()}`,
      `objective (EUR/h) found by the engine: ${this.lastObjective}`,
      'columns: MW (t/h for waste); rows: bus balances (bal.*), storage content (soc.*), CHP back-pressure lines (chp.*)',
    ];
    return format === 'mps' ? writeMps(this.model.lp, comment) : writeCplexLp(this.model.lp, comment);
  }

  /** Frees the HiGHS models (fallback and planner); the engine keeps working with its own simplex. */
  dispose(): void {
    this.persistent?.dispose();
    this.persistent = undefined;
    this.planner?.dispose();
    this.planner = undefined;
    void this.planWorker?.terminate();
    this.planWorker = undefined;
  }

  /** Current storage plan, if any. */
  storagePlan(): StoragePlan | undefined {
    return this.plan;
  }

  /** Re-solves the look-ahead plan from the current inputs and updates the storage values. */
  replan(now: number = this.clock()): StoragePlan | undefined {
    if (!this.highs || this.city.storages.length === 0) return undefined;
    this.planAttemptAt = now;
    try {
      this.planner ??= new LookAheadPlanner(this.city, this.registry, this.highs);
      const values = new Float64Array(this.values.length);
      this.store.resolve(now, values, new Uint8Array(values.length), []);
      const p = this.planner.plan(now, values, this.co2Price);
      this.applyPlan(p);
      return p;
    } catch (err) {
      this.planAlarm = { level: 'warning', code: 'plan_failed', message: `storage look-ahead plan failed: ${(err as Error).message}` };
      return undefined;
    }
  }

  /**
   * Re-plans in a worker thread (its own HiGHS), leaving this thread free to tick; the new
   * storage values apply from the next tick after it finishes. One plan at a time: a call while
   * one runs returns that one.
   */
  replanAsync(now: number = this.clock()): Promise<StoragePlan | undefined> {
    if (this.city.storages.length === 0) return Promise.resolve(undefined);
    if (this.planInFlight) return this.planInFlight;
    this.planAttemptAt = now;
    const values = new Float64Array(this.values.length);
    this.store.resolve(now, values, new Uint8Array(values.length), []);
    try {
      this.planWorker ??= new PlanWorker(this.city as CityInput);
    } catch (err) {
      this.planAlarm = { level: 'warning', code: 'plan_failed', message: `storage plan worker failed to start: ${(err as Error).message}` };
      return Promise.resolve(undefined);
    }
    const run = this.planWorker.plan(now, values, this.co2Price).then(
      (p) => {
        this.applyPlan(p);
        return p;
      },
      (err: Error) => {
        this.planAlarm = { level: 'warning', code: 'plan_failed', message: `storage look-ahead plan failed in the worker: ${err.message}` };
        return undefined;
      },
    );
    this.planInFlight = run.finally(() => {
      this.planInFlight = undefined;
    });
    return this.planInFlight;
  }

  /**
   * Applies a storage plan computed elsewhere (another engine on the same city, a saved run), as
   * if a re-plan had just finished with it.
   */
  usePlan(p: StoragePlan): void {
    this.planAttemptAt = p.at;
    this.applyPlan(p);
  }

  private applyPlan(p: StoragePlan): void {
    if (p.ok) {
      this.plan = p;
      this.storageValue.set(p.values);
      this.planAlarm = undefined;
    } else {
      this.planAlarm = { level: 'warning', code: 'plan_failed', message: `storage look-ahead plan failed (${p.reason}); keeping the previous storage values` };
    }
  }

  private planDue(now: number): boolean {
    if (this.city.storages.length === 0) return false;
    if (this.autoReplan === true && !this.highs) return false;
    const last = this.planAttemptAt;
    return last === undefined || now - last >= this.city.planning.replanS * 1000 || now < last;
  }

  tick(now: number = this.clock()): DispatchResult {
    const t0 = performance.now();
    if (!Number.isFinite(now)) now = this.clock();
    // The previous result's records not yet built need its numbers: copy them before they change.
    this.unfrozen?.freeze(this.arena);
    this.unfrozen = undefined;
    try {
      return this.tickInner(now, t0);
    } catch (err) {
      return this.failedResult(now, t0, [{ level: 'critical', code: 'solver_failed', message: `dispatch tick failed: ${(err as Error).message}; holding the last setpoints` }]);
    }
  }

  private tickInner(now: number, t0: number): DispatchResult {
    if (this.autoReplan && this.planDue(now)) {
      if (this.autoReplan === 'background') void this.replanAsync(now);
      else this.replan(now);
    }
    const alarms = this.store.takeRejects();
    if (this.planAlarm) alarms.push(this.planAlarm);
    this.store.resolve(now, this.values, this.states, alarms);
    const f0 = performance.now();
    const dtS = this.lastTickTs === undefined ? this.city.tickS : Math.min(3600, Math.max(0.001, (now - this.lastTickTs) / 1000));
    const model = this.model;
    model.fill([this.values], { dtH: dtS / 3600, co2PriceEurPerT: this.co2Price, prev: this.prev, storageValue: this.storageValue });

    const s0 = performance.now();
    this.phase[0] = (f0 - t0) * 1000;
    this.phase[1] = (s0 - f0) * 1000;
    let x: Float64Array;
    let y: Float64Array;
    let solver: DispatchResult['solver'] = this.solverKind;
    let iterations = 0;
    let objective: number;
    const status = this.solverKind === 'simplex' ? this.simplex.solve(model.changedCols, model.changedCount) : 'numerical';
    if (this.solverKind === 'simplex' && status === 'optimal') {
      x = this.simplex.x;
      y = this.simplex.y;
      iterations = this.simplex.iterations;
      objective = this.simplex.objective;
    } else {
      if (this.solverKind === 'simplex') {
        alarms.push({ level: 'warning', code: 'solver_fallback', message: `warm-started simplex ended with "${status}"; solved with HiGHS instead` });
      }
      const h = this.solveWithHighs();
      if (!h) {
        return this.failedResult(now, t0, [...alarms, { level: 'critical', code: 'solver_failed', message: `no optimal dispatch (simplex: ${status}; HiGHS unavailable or not optimal); holding the last setpoints` }]);
      }
      solver = 'highs';
      x = h.x;
      y = h.y;
      objective = h.objective;
      iterations = h.iterations;
      if (this.solverKind === 'simplex' && h.basis) this.simplex.setBasis(h.basis.colStatus, h.basis.rowStatus);
    }
    const solveUs = (performance.now() - s0) * 1000;
    this.phase[2] = solveUs;

    const n = model.lp.numCols;
    this.prev.set(x.subarray(0, n));
    this.lastTickTs = now;
    this.lastTs = now;
    this.lastObjective = objective;
    this.tickCount++;
    const result = this.assemble(now, t0, dtS, objective, x, y, solver, iterations, solveUs, alarms, 'optimal');
    const end = performance.now();
    result.timingsUs.report = (end - s0) * 1000 - solveUs;
    result.tickUs = (end - t0) * 1000;
    return result;
  }

  private solveWithHighs(): { x: Float64Array; y: Float64Array; objective: number; iterations: number; basis?: { colStatus: Int32Array; rowStatus: Int32Array } } | undefined {
    if (!this.highs) return undefined;
    try {
      this.persistent ??= new PersistentHighs(this.highs, this.model.lp);
      let h = this.persistent.solve(this.model.changedCols, this.model.changedCount);
      if (!h.optimal) {
        this.persistent.rebuild();
        h = this.persistent.solve();
      }
      if (!h.optimal) return undefined;
      return { x: h.colValue, y: h.rowDual, objective: h.objective, iterations: 0, ...(h.basis ? { basis: h.basis } : {}) };
    } catch {
      this.persistent = undefined;
      return undefined;
    }
  }

  private assemble(
    now: number,
    t0: number,
    dtS: number,
    objective: number | null,
    x: Float64Array,
    y: Float64Array,
    solver: DispatchResult['solver'],
    iterations: number,
    solveUs: number,
    alarms: Alarm[],
    status: DispatchResult['status'],
  ): DispatchResult {
    const model = this.model;
    const layout = this.layout;
    const kpis = buildKpis(model, layout, x);
    const heat: Record<string, number> = { ...this.heatPriceTemplate };
    let electricity: number | null = null;
    let gas: number | undefined;
    const { busIds, busKind, busRow, busUnmet } = layout;
    for (let b = 0; b < busIds.length; b++) {
      const price = y[busRow[b]!]!;
      const kind = BUS_KINDS[busKind[b]!]!;
      if (kind === 'heat') heat[busIds[b]!] = price;
      else if (kind === 'electricity' && electricity === null) electricity = price;
      else if (kind === 'gas' && gas === undefined) gas = price;
      const unmet = x[busUnmet[b]!]!;
      if (unmet > 1e-6 && status === 'optimal' && (kind === 'heat' || kind === 'electricity')) {
        alarms.push({ level: 'critical', code: 'unmet_demand', message: `${busIds[b]}: ${unmet.toFixed(3)} MW of ${kind} demand cannot be met` });
      }
    }
    // The per-unit, per-link, per-bus records and the explanations are built on first access from
    // this tick's numbers (copied at the next tick if still needed, see TickView): the tick itself
    // only solves, prices and totals; whoever reads a record pays for building it.
    if (status === 'optimal') (this.lastGoodDuals ??= new Float64Array(model.lp.numRows)).set(y);
    const source = {
      view: liveView(model, x, y, this.storageValue, this.plan?.ok ?? false),
      layout,
      explain: this.explain,
      defs: this.registry.defs,
      inputValues: this.values,
      inputStates: this.states,
    };
    const timings = { inputs: this.phase[0]!, update: this.phase[1]!, solve: this.phase[2]!, report: 0 };
    const prices = { heat, electricity, ...(gas !== undefined ? { gas } : {}) };
    const plan = { at: this.plan?.at ?? null, horizonH: this.city.planning.horizonH, solveMs: this.plan?.solveMs ?? null };
    const result = new TickResult(Math.round(now), this.tickCount, this.city.name, status, solver, objective, iterations, solveUs, timings, dtS, prices, kpis, alarms, plan, source);
    this.unfrozen = result;
    return result;
  }

  /** A safe dispatch when no optimum was found: the last good solution, or everything off. */
  private failedResult(now: number, t0: number, alarms: Alarm[]): DispatchResult {
    try {
      const n = this.model.lp.numCols;
      const m = this.model.lp.numRows;
      // prev holds the last optimal tick's column values (ticks that fail do not reach it).
      const x = this.lastGoodDuals ? this.prev : new Float64Array(n);
      const y = this.lastGoodDuals ?? new Float64Array(m);
      const dtS = this.lastTickTs === undefined ? this.city.tickS : (now - this.lastTickTs) / 1000;
      const r = this.assemble(now, t0, dtS, null, x, y, 'none', 0, 0, alarms, 'failed');
      r.tickUs = (performance.now() - t0) * 1000;
      return r;
    } catch (err) {
      return {
        ts: Math.round(now),
        tick: this.tickCount,
        city: this.city.name,
        status: 'failed',
        solver: 'none',
        objective: null,
        iterations: 0,
        solveUs: 0,
        tickUs: (performance.now() - t0) * 1000,
        timingsUs: { inputs: 0, update: 0, solve: 0, report: 0 },
        dtS: 0,
        setpoints: {},
        flows: {},
        storage: {},
        buses: {},
        prices: { heat: {}, electricity: null },
        kpis: {
          costEurPerH: NaN,
          co2TPerH: NaN,
          heatSuppliedMw: 0,
          wasteHeatShare: 0,
          fossilShare: 0,
          unmetDemandMw: NaN,
          unmetHeatMw: NaN,
          unmetElectricityMw: NaN,
          curtailmentMw: NaN,
          renewableCurtailedMw: NaN,
          heatDumpedMw: NaN,
          penaltyEurPerH: NaN,
          heatBySourceMw: {},
        },
        explanations: {},
        alarms: [...alarms, { level: 'critical', code: 'solver_failed', message: `could not even report the last dispatch: ${(err as Error).message}` }],
        inputs: {},
        plan: { at: null, horizonH: this.city.planning.horizonH, solveMs: null },
      };
    }
  }
}

/** Loads HiGHS (for the look-ahead plan and the fallback) and creates the engine. */
export async function createDispatchEngine(city: City, opts: DispatchEngineOptions = {}): Promise<DispatchEngine> {
  const highs = opts.highs ?? (await loadHighs());
  return new DispatchEngine(city, { ...opts, highs });
}

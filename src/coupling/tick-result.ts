/**
 * One tick's result. Status, prices, KPIs and alarms are computed by the tick; the per-unit,
 * per-link, per-bus and per-input records and the explanations are built on first access from
 * the tick's frozen numbers (a TickView) and cached. The accessors are shared functions, not
 * closures made per tick. Assigning a record replaces it (the dispatch service trims results
 * that way).
 */
import { inputStateNames } from './input-store.ts';
import type { InputDef } from './model/inputs.ts';
import { buildBuses, buildExplanations, buildFlows, buildSetpoints, buildStorage, freezeView, type ReportLayout, type SnapshotArena, type TickView } from './report.ts';
import type { DispatchResult } from './result.ts';

type Setpoints = DispatchResult['setpoints'];
type Setpoint = Setpoints[string];

/** What the records are built from: the frozen numbers, layout and the tick's input values. */
export interface TickRecordsSource {
  view: TickView;
  layout: ReportLayout;
  explain: boolean;
  defs: readonly InputDef[];
  inputValues: Float64Array;
  inputStates: Uint8Array;
}

/** Builds each record of a tick result on first access, from the frozen numbers. */
class RecordCache {
  setpointList: Setpoint[] | undefined;
  setpoints: Setpoints | undefined;
  flows: DispatchResult['flows'] | undefined;
  storage: DispatchResult['storage'] | undefined;
  buses: DispatchResult['buses'] | undefined;
  explanations: DispatchResult['explanations'] | undefined;
  inputs: DispatchResult['inputs'] | undefined;

  /** Until freeze: reads the engine's live arrays. Dropped once every record is built. */
  private s: TickRecordsSource;

  constructor(source: TickRecordsSource) {
    this.s = source;
  }

  /** Copies what unbuilt records still need, before the engine's next tick overwrites it. */
  freeze(arena: SnapshotArena): void {
    const s = this.s;
    const viewDone = this.setpoints && this.flows && this.storage && this.buses && (this.explanations || !s.explain);
    if (!viewDone) freezeView(s.view, arena);
    if (!this.inputs) this.s = { ...s, inputValues: arena.f64Copy(s.inputValues, s.inputValues.length), inputStates: arena.u8Copy(s.inputStates) };
  }

  getSetpoints(): Setpoints {
    if (!this.setpoints) {
      const built = buildSetpoints(this.s.view, this.s.layout);
      this.setpoints = built.byId;
      this.setpointList = built.list;
    }
    return this.setpoints;
  }
  setSetpoints(v: Setpoints): void {
    this.setpoints = v;
    this.setpointList = Object.values(v);
  }
  getFlows(): DispatchResult['flows'] {
    return (this.flows ??= buildFlows(this.s.view));
  }
  getStorage(): DispatchResult['storage'] {
    return (this.storage ??= buildStorage(this.s.view));
  }
  getBuses(): DispatchResult['buses'] {
    return (this.buses ??= buildBuses(this.s.view));
  }
  getExplanations(): DispatchResult['explanations'] {
    if (!this.explanations) {
      const setpoints = (this.getSetpoints(), this.setpointList!);
      this.explanations = this.s.explain ? buildExplanations(this.s.view, this.s.layout, setpoints, this.getStorage()) : {};
    }
    return this.explanations;
  }
  getInputs(): DispatchResult['inputs'] {
    if (!this.inputs) {
      const { defs, inputValues, inputStates } = this.s;
      const out: DispatchResult['inputs'] = {};
      for (let i = 0; i < defs.length; i++) out[defs[i]!.name] = { value: inputValues[i]!, state: inputStateNames[inputStates[i]!]! };
      this.inputs = out;
    }
    return this.inputs;
  }
}

/**
 * The records are accessors on the prototype: defining six own accessors per tick cost ~5 µs of
 * a ~90 µs tick. JSON.stringify sees every field through toJSON (in the schema's order);
 * spreading a result copies no records.
 */
export class TickResult implements DispatchResult {
  tickUs = 0;
  readonly #records: RecordCache;

  constructor(
    readonly ts: number,
    readonly tick: number,
    readonly city: string,
    readonly status: DispatchResult['status'],
    readonly solver: DispatchResult['solver'],
    readonly objective: number | null,
    readonly iterations: number,
    readonly solveUs: number,
    readonly timingsUs: DispatchResult['timingsUs'],
    readonly dtS: number,
    readonly prices: DispatchResult['prices'],
    readonly kpis: DispatchResult['kpis'],
    readonly alarms: DispatchResult['alarms'],
    readonly plan: DispatchResult['plan'],
    source: TickRecordsSource,
  ) {
    this.#records = new RecordCache(source);
  }

  get setpoints(): Setpoints {
    return this.#records.getSetpoints();
  }
  set setpoints(v: Setpoints) {
    this.#records.setSetpoints(v);
  }
  get flows(): DispatchResult['flows'] {
    return this.#records.getFlows();
  }
  set flows(v: DispatchResult['flows']) {
    this.#records.flows = v;
  }
  get storage(): DispatchResult['storage'] {
    return this.#records.getStorage();
  }
  set storage(v: DispatchResult['storage']) {
    this.#records.storage = v;
  }
  get buses(): DispatchResult['buses'] {
    return this.#records.getBuses();
  }
  set buses(v: DispatchResult['buses']) {
    this.#records.buses = v;
  }
  get explanations(): DispatchResult['explanations'] {
    return this.#records.getExplanations();
  }
  set explanations(v: DispatchResult['explanations']) {
    this.#records.explanations = v;
  }
  get inputs(): DispatchResult['inputs'] {
    return this.#records.getInputs();
  }
  set inputs(v: DispatchResult['inputs']) {
    this.#records.inputs = v;
  }

  /** A plain DispatchResult with every record built. */
  toJSON(): DispatchResult {
    return {
      ts: this.ts,
      tick: this.tick,
      city: this.city,
      status: this.status,
      solver: this.solver,
      objective: this.objective,
      iterations: this.iterations,
      solveUs: this.solveUs,
      tickUs: this.tickUs,
      timingsUs: this.timingsUs,
      dtS: this.dtS,
      setpoints: this.setpoints,
      flows: this.flows,
      storage: this.storage,
      buses: this.buses,
      prices: this.prices,
      kpis: this.kpis,
      explanations: this.explanations,
      alarms: this.alarms,
      inputs: this.inputs,
      plan: this.plan,
    };
  }

  /** Called by the engine before its next tick (see TickView). */
  freeze(arena: SnapshotArena): void {
    this.#records.freeze(arena);
  }
}

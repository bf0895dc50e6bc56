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

type Records = Pick<DispatchResult, 'setpoints' | 'flows' | 'storage' | 'buses' | 'explanations' | 'inputs'>;

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
 * The records as own enumerable accessors (shared functions, one descriptor set), so that
 * JSON.stringify, spreading and structuredClone see every field like on a plain object.
 */
const recordAccessors: PropertyDescriptorMap & ThisType<TickResult> = {
  setpoints: { enumerable: true, get() { return this.records.getSetpoints(); }, set(v: Setpoints) { this.records.setSetpoints(v); } },
  flows: { enumerable: true, get() { return this.records.getFlows(); }, set(v: DispatchResult['flows']) { this.records.flows = v; } },
  storage: { enumerable: true, get() { return this.records.getStorage(); }, set(v: DispatchResult['storage']) { this.records.storage = v; } },
  buses: { enumerable: true, get() { return this.records.getBuses(); }, set(v: DispatchResult['buses']) { this.records.buses = v; } },
  explanations: { enumerable: true, get() { return this.records.getExplanations(); }, set(v: DispatchResult['explanations']) { this.records.explanations = v; } },
  inputs: { enumerable: true, get() { return this.records.getInputs(); }, set(v: DispatchResult['inputs']) { this.records.inputs = v; } },
};

export interface TickResult extends Records {}
export class TickResult implements DispatchResult {
  tickUs = 0;
  /** Not enumerable: stays out of JSON and copies. */
  declare readonly records: RecordCache;

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
    Object.defineProperty(this, 'records', { value: new RecordCache(source) });
    Object.defineProperties(this, recordAccessors);
  }

  /** Called by the engine before its next tick (see TickView). */
  freeze(arena: SnapshotArena): void {
    this.records.freeze(arena);
  }
}

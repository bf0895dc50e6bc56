/**
 * One tick's result. Status, prices, KPIs and alarms are computed by the tick; the per-unit,
 * per-link, per-bus and per-input records and the explanations are built on first access from
 * the tick's frozen numbers (a TickView) and cached. A class, not an object literal with
 * accessors: creating it costs one allocation, which matters at a few microseconds per tick.
 * Assigning a record replaces it (the dispatch service trims results that way).
 */
import { inputStateNames } from './input-store.ts';
import type { InputDef } from './model/inputs.ts';
import { buildBuses, buildExplanations, buildFlows, buildSetpoints, buildStorage, type ReportLayout, type TickView } from './report.ts';
import type { DispatchResult } from './result.ts';

type Setpoints = DispatchResult['setpoints'];

/** What the records are built from: the frozen numbers, layout and the tick's input values. */
export interface TickRecordsSource {
  view: TickView;
  layout: ReportLayout;
  explain: boolean;
  defs: readonly InputDef[];
  inputValues: ArrayLike<number>;
  inputStates: ArrayLike<number>;
}

export class TickResult implements DispatchResult {
  tickUs = 0;
  private setpointList: DispatchResult['setpoints'][string][] | undefined;
  private setpointsById: Setpoints | undefined;
  private flowsRec: DispatchResult['flows'] | undefined;
  private storageRec: DispatchResult['storage'] | undefined;
  private busesRec: DispatchResult['buses'] | undefined;
  private explanationsRec: DispatchResult['explanations'] | undefined;
  private inputsRec: DispatchResult['inputs'] | undefined;

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
    private readonly source: TickRecordsSource,
  ) {}

  get setpoints(): Setpoints {
    if (!this.setpointsById) {
      const built = buildSetpoints(this.source.view, this.source.layout);
      this.setpointsById = built.byId;
      this.setpointList = built.list;
    }
    return this.setpointsById;
  }
  set setpoints(v: Setpoints) {
    this.setpointsById = v;
    this.setpointList = Object.values(v);
  }

  get flows(): DispatchResult['flows'] {
    return (this.flowsRec ??= buildFlows(this.source.view));
  }
  set flows(v: DispatchResult['flows']) {
    this.flowsRec = v;
  }

  get storage(): DispatchResult['storage'] {
    return (this.storageRec ??= buildStorage(this.source.view));
  }
  set storage(v: DispatchResult['storage']) {
    this.storageRec = v;
  }

  get buses(): DispatchResult['buses'] {
    return (this.busesRec ??= buildBuses(this.source.view));
  }
  set buses(v: DispatchResult['buses']) {
    this.busesRec = v;
  }

  get explanations(): DispatchResult['explanations'] {
    if (!this.explanationsRec) {
      const s = this.source;
      void this.setpoints;
      this.explanationsRec = s.explain ? buildExplanations(s.view, s.layout, this.setpointList!, this.storage) : {};
    }
    return this.explanationsRec;
  }
  set explanations(v: DispatchResult['explanations']) {
    this.explanationsRec = v;
  }

  get inputs(): DispatchResult['inputs'] {
    if (!this.inputsRec) {
      const { defs, inputValues, inputStates } = this.source;
      const out: DispatchResult['inputs'] = {};
      for (let i = 0; i < defs.length; i++) out[defs[i]!.name] = { value: inputValues[i]!, state: inputStateNames[inputStates[i]!]! };
      this.inputsRec = out;
    }
    return this.inputsRec;
  }
  set inputs(v: DispatchResult['inputs']) {
    this.inputsRec = v;
  }

  /** The plain record (every field), as JSON.stringify and structured copies need it. */
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
}

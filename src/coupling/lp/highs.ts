/**
 * HiGHS (WebAssembly) as the reference solver: for the look-ahead plan, as the fallback when
 * the warm-started simplex gives up, and as the from-scratch baseline in tests and benchmarks.
 */
import * as highsModule from 'highs';
import type { Highs, InitOptions, Model, ModelData } from 'highs';
import type { LpProblem } from './problem.ts';

let loading: Promise<Highs> | undefined;
let loaded: Highs | undefined;

/** Loads the HiGHS WebAssembly runtime once per process. */
export function loadHighs(): Promise<Highs> {
  // The package's types describe a CommonJS default export; the ESM build's default is the loader.
  const mod = highsModule as unknown as { default: ((o?: InitOptions) => Promise<Highs>) | { default: (o?: InitOptions) => Promise<Highs> } };
  const loader = typeof mod.default === 'function' ? mod.default : mod.default.default;
  loading ??= loader().then((h: Highs) => {
    loaded = h;
    return h;
  });
  return loading;
}

/** The runtime if already loaded (solver calls are synchronous after loading). */
export function highsIfLoaded(): Highs | undefined {
  return loaded;
}

export function toModelData(lp: LpProblem, withNames = false): ModelData {
  return {
    numCols: lp.numCols,
    numRows: lp.numRows,
    colCost: lp.colCost,
    colLower: lp.colLower,
    colUpper: lp.colUpper,
    rowLower: lp.rowLower,
    rowUpper: lp.rowUpper,
    matrix: { format: 'csc', numRows: lp.numRows, numCols: lp.numCols, starts: lp.colStart, indices: lp.rowIndex, values: lp.values },
    ...(withNames ? { colNames: lp.colNames, rowNames: lp.rowNames } : {}),
  };
}

export interface HighsSolution {
  optimal: boolean;
  status: string;
  objective: number;
  colValue: Float64Array;
  rowValue: Float64Array;
  /** HiGHS row duals: d objective / d row bound (same sign convention as the simplex's y). */
  rowDual: Float64Array;
  colDual: Float64Array;
  basis: { colStatus: Int32Array; rowStatus: Int32Array } | undefined;
}

const QUIET = { output_flag: false } as const;

function statusName(highs: Highs, code: number): string {
  for (const [k, v] of Object.entries(highs.constants.modelStatus)) if (v === code) return k;
  return `status ${code}`;
}

function readSolution(highs: Highs, model: Model): HighsSolution {
  const code = model.getModelStatus();
  const optimal = code === highs.constants.modelStatus.optimal;
  const sol = model.getSolution();
  let basis: HighsSolution['basis'];
  if (optimal) {
    const b = model.getBasis();
    basis = { colStatus: b.colStatus, rowStatus: b.rowStatus };
  }
  return {
    optimal,
    status: statusName(highs, code),
    objective: optimal ? model.getObjectiveValue() : NaN,
    colValue: sol.colValue,
    rowValue: sol.rowValue,
    rowDual: sol.rowDual,
    colDual: sol.colDual,
    basis,
  };
}

/** Builds a fresh HiGHS model from the LP, solves it with default options, and disposes it. */
export function solveFromScratch(highs: Highs, lp: LpProblem, options: Record<string, string | number | boolean> = {}): HighsSolution {
  const model = highs.createModel(toModelData(lp));
  try {
    model.options.set({ ...QUIET, ...options });
    model.run();
    return readSolution(highs, model);
  } finally {
    model.dispose();
  }
}

/** Only the objective of a from-scratch solve (the benchmark baseline: build, solve, read). */
export function objectiveFromScratch(highs: Highs, lp: LpProblem): { optimal: boolean; objective: number } {
  const model = highs.createModel(toModelData(lp));
  try {
    model.options.set(QUIET);
    model.run();
    const optimal = model.getModelStatus() === highs.constants.modelStatus.optimal;
    return { optimal, objective: optimal ? model.getObjectiveValue() : NaN };
  } finally {
    model.dispose();
  }
}

/**
 * A HiGHS model kept alive and updated in place: bounds, costs and right-hand sides are
 * replaced wholesale, changed coefficients one by one, and HiGHS hot-starts from its basis.
 */
export class PersistentHighs {
  private model: Model;
  private readonly all: { kind: 'range'; from: number; to: number };
  private readonly allRows: { kind: 'range'; from: number; to: number };

  constructor(
    private readonly highs: Highs,
    private readonly lp: LpProblem,
    private readonly options: Record<string, string | number | boolean> = {},
  ) {
    this.model = highs.createModel(toModelData(lp));
    this.model.options.set({ ...QUIET, ...options });
    this.all = { kind: 'range', from: 0, to: lp.numCols - 1 };
    this.allRows = { kind: 'range', from: 0, to: lp.numRows - 1 };
  }

  solve(changed?: Int32Array, changedCount = 0): HighsSolution {
    const { lp, model } = this;
    if (lp.numCols > 0) {
      model.changeColsBounds(this.all, lp.colLower, lp.colUpper);
      model.changeColsCost(this.all, lp.colCost);
    }
    if (lp.numRows > 0) model.changeRowsBounds(this.allRows, lp.rowLower, lp.rowUpper);
    for (let k = 0; k < changedCount; k++) {
      const j = changed![k]!;
      for (let p = lp.colStart[j]!; p < lp.colStart[j + 1]!; p++) model.changeCoefficient(lp.rowIndex[p]!, j, lp.values[p]!);
    }
    model.run();
    return readSolution(this.highs, model);
  }

  /** Re-creates the model from the LP (after a failure that may have left HiGHS in a bad state). */
  rebuild(): void {
    this.model.dispose();
    this.model = this.highs.createModel(toModelData(this.lp));
    this.model.options.set({ ...QUIET, ...this.options });
  }

  dispose(): void {
    this.model.dispose();
  }
}

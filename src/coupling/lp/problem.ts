/**
 * A linear programme in the form HiGHS uses: minimise c'x subject to
 * rowLower <= A x <= rowUpper, colLower <= x <= colUpper, with A in compressed sparse
 * columns and every row and column named. Numbers are typed arrays so a tick can
 * overwrite them in place.
 */
export interface LpProblem {
  name: string;
  numCols: number;
  numRows: number;
  colNames: string[];
  rowNames: string[];
  colCost: Float64Array;
  colLower: Float64Array;
  colUpper: Float64Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  /** CSC: column j has entries colStart[j] .. colStart[j+1]-1. */
  colStart: Int32Array;
  rowIndex: Int32Array;
  values: Float64Array;
}

/** Collects named columns, rows and coefficients; `finish` packs them to CSC. */
export class LpBuilder {
  private colNames: string[] = [];
  private rowNames: string[] = [];
  private cost: number[] = [];
  private cl: number[] = [];
  private cu: number[] = [];
  private rl: number[] = [];
  private ru: number[] = [];
  private tCol: number[] = [];
  private tRow: number[] = [];
  private tVal: number[] = [];

  constructor(private readonly name: string) {}

  addCol(name: string, cost = 0, lower = 0, upper = 0): number {
    this.colNames.push(name);
    this.cost.push(cost);
    this.cl.push(lower);
    this.cu.push(upper);
    return this.colNames.length - 1;
  }

  addRow(name: string, lower = 0, upper = 0): number {
    this.rowNames.push(name);
    this.rl.push(lower);
    this.ru.push(upper);
    return this.rowNames.length - 1;
  }

  /** Adds a coefficient; returns a handle that `finish` maps to the CSC position. */
  add(row: number, col: number, value: number): number {
    this.tRow.push(row);
    this.tCol.push(col);
    this.tVal.push(value);
    return this.tVal.length - 1;
  }

  get numCols(): number {
    return this.colNames.length;
  }

  get numRows(): number {
    return this.rowNames.length;
  }

  /** Packs to CSC. `position[handle]` is the index of that coefficient in `values`. */
  finish(): { lp: LpProblem; position: Int32Array } {
    const n = this.colNames.length;
    const nnz = this.tVal.length;
    const colStart = new Int32Array(n + 1);
    for (let k = 0; k < nnz; k++) colStart[this.tCol[k]! + 1]!++;
    for (let j = 0; j < n; j++) colStart[j + 1]! += colStart[j]!;
    const fill = colStart.slice(0, n);
    const rowIndex = new Int32Array(nnz);
    const values = new Float64Array(nnz);
    const position = new Int32Array(nnz);
    const seen = new Map<number, number>();
    for (let k = 0; k < nnz; k++) {
      const j = this.tCol[k]!;
      const key = j * (this.rowNames.length + 1) + this.tRow[k]!;
      if (seen.has(key)) throw new Error(`duplicate coefficient in row ${this.rowNames[this.tRow[k]!]} column ${this.colNames[j]}`);
      seen.set(key, k);
      const p = fill[j]!++;
      rowIndex[p] = this.tRow[k]!;
      values[p] = this.tVal[k]!;
      position[k] = p;
    }
    const lp: LpProblem = {
      name: this.name,
      numCols: n,
      numRows: this.rowNames.length,
      colNames: this.colNames,
      rowNames: this.rowNames,
      colCost: Float64Array.from(this.cost),
      colLower: Float64Array.from(this.cl),
      colUpper: Float64Array.from(this.cu),
      rowLower: Float64Array.from(this.rl),
      rowUpper: Float64Array.from(this.ru),
      colStart,
      rowIndex,
      values,
    };
    return { lp, position };
  }
}

/** Deep copy, for exporting a tick's problem or handing it to another solver. */
export function cloneLp(lp: LpProblem): LpProblem {
  return {
    ...lp,
    colNames: lp.colNames,
    rowNames: lp.rowNames,
    colCost: lp.colCost.slice(),
    colLower: lp.colLower.slice(),
    colUpper: lp.colUpper.slice(),
    rowLower: lp.rowLower.slice(),
    rowUpper: lp.rowUpper.slice(),
    colStart: lp.colStart.slice(),
    rowIndex: lp.rowIndex.slice(),
    values: lp.values.slice(),
  };
}

/** c'x for a column vector. */
export function lpObjective(lp: LpProblem, x: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < lp.numCols; j++) s += lp.colCost[j]! * x[j]!;
  return s;
}

/** Row activities A x. */
export function rowActivity(lp: LpProblem, x: ArrayLike<number>, out = new Float64Array(lp.numRows)): Float64Array {
  out.fill(0);
  for (let j = 0; j < lp.numCols; j++) {
    const xj = x[j]!;
    if (xj === 0) continue;
    for (let k = lp.colStart[j]!; k < lp.colStart[j + 1]!; k++) out[lp.rowIndex[k]!]! += lp.values[k]! * xj;
  }
  return out;
}

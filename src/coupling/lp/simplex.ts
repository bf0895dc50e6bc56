/**
 * A warm-started dual simplex for LPs whose variables are all boxed (finite lower and upper
 * bounds), on typed arrays.
 *
 * Why it fits the dispatch problem: from one tick to the next only bounds, costs, right-hand
 * sides and a few coefficients change, and the optimal basis changes little. With every
 * variable boxed, any basis can be made dual feasible by putting each nonbasic variable at the
 * bound its reduced cost prefers, so the dual simplex restarts from the previous basis with no
 * phase 1, whatever changed. The basis is small (one row per bus and technical limit), so its
 * inverse is kept explicitly, as packed sparse rows and the same entries as packed columns (it is
 * 4-13 % dense on dispatch bases), and updated per pivot (product form applied in place, entries
 * that cancel dropped at once), which makes exact dual steepest-edge pricing cheap and B^-1 a_j a
 * pass over a few short columns; the ratio test flips bounds (long-step) to take many
 * breakpoints per iteration. The pivot row is formed from the rows of A that the sparse row of
 * the inverse touches, so an iteration costs in proportion to what it changes, not to n.
 *
 * Termination is checked, not assumed: at the end duals are recomputed from scratch, primal
 * values are recomputed from the basis, the residual A x - r is checked, and any remaining
 * infeasibility sends the solver back into the loop. The result is an optimal basic solution
 * to within the tolerances (1e-9), i.e. the LP optimum, not an approximation.
 *
 * Speed notes: every hot loop lives in a small method that reads its arrays into locals (V8 then
 * keeps them in registers) and takes the same branches every call; rare work (refactorisation,
 * drift recovery) sits in other methods, so reaching it never deoptimises a hot loop.
 *
 * Standard form: variables 0..n-1 are the columns, n..n+m-1 the row activities (logicals,
 * column -e_i), so A x - r = 0 and every bound is a variable bound.
 */
import type { LpProblem } from './problem.ts';

export type SimplexStatus = 'optimal' | 'infeasible' | 'iteration_limit' | 'numerical' | 'unbounded_box';

export interface SimplexOptions {
  maxIterations?: number;
  /**
   * Refactorise the basis inverse after this many updates at the latest. Before that, accuracy
   * is checked (primal and dual residuals) whenever the inverse was updated, and a drift beyond
   * 1e-9 triggers a refactorisation, so the cap is a safety net, not the usual trigger.
   */
  refactorEvery?: number;
  primalTol?: number;
  dualTol?: number;
  pivotTol?: number;
}

/** Inverse entries below this are round-off from cancellation (the bases are well scaled, O(1)). */
const DROP = 1e-13;

export class BoundedDualSimplex {
  readonly n: number;
  readonly m: number;
  /** Values of all n + m variables (columns, then row activities). */
  readonly x: Float64Array;
  /** Reduced costs of all variables; for a row's logical it equals the row dual. */
  readonly d: Float64Array;
  /** Row duals: marginal change of the objective per unit increase of the row's bound. */
  readonly y: Float64Array;
  objective = 0;
  iterations = 0;
  totalIterations = 0;
  refactorizations = 0;
  refactorsForAccuracy = 0;
  lastStatus: SimplexStatus = 'numerical';

  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly cost: Float64Array;
  private readonly head: Int32Array;
  private readonly posOf: Int32Array;
  private readonly atUpper: Uint8Array;
  /**
   * 1 for basic and fixed variables: they never enter, so the pivot row skips them (their reduced
   * costs are only needed again after the next from-scratch computation). Kept by priceAndChooseBounds
   * and each pivot.
   */
  private readonly skip: Uint8Array;
  /**
   * The basis inverse by packed rows: row i's nonzeros are binvVal[i*m + t] in column
   * binvCol[i*m + t] for t < rowCnt[i]; binvSlot[i*m + k] is t + 1 for column k, or 0 if absent.
   */
  private readonly binvVal: Float64Array;
  private readonly binvCol: Int32Array;
  private readonly binvSlot: Uint16Array;
  private readonly rowCnt: Int32Array;
  /**
   * The same inverse by packed columns, with the same nonzero pattern: column k's entries are
   * colVal[k*m + t] in row colRow[k*m + t] for t < colCnt[k]; colSlot[k*m + i] is t + 1 for row i,
   * or 0. B^-1 a_j then reads only the nonzeros of the columns a_j selects (a few per pivot).
   */
  private readonly colVal: Float64Array;
  private readonly colRow: Int32Array;
  private readonly colSlot: Uint16Array;
  private readonly colCnt: Int32Array;
  /** A by rows (CSR) for the pivot row: columns, and values copied from lp.values (rowVal). */
  private readonly rowStart: Int32Array;
  private readonly rowCol: Int32Array;
  /** A's values in the same row order, refreshed for the changed columns each solve. */
  private readonly rowVal: Float64Array;
  /** Where each nonzero of lp.values (column order) sits in the row order. */
  private readonly rowAt: Int32Array;
  /** Bounds of the basic variable at each basis position, widened by the primal tolerance. */
  private readonly basicLo: Float64Array; // m
  private readonly basicHi: Float64Array; // m
  private readonly work: Float64Array; // m
  private readonly work2: Float64Array; // m
  /** B^-1 a_q of the last ftran, zero outside its nonzero rows colqRows[0 .. colqCount). */
  private readonly colq: Float64Array; // m
  private readonly colqRows: Int32Array; // m
  private readonly inColq: Uint8Array; // m
  private colqCount = 0;
  /** Pivot row entries; valid where stamp === epoch, listed in touchedVars[0 .. touchedCount). */
  private readonly alpha: Float64Array; // n + m
  private readonly touchedVars: Int32Array;
  private touchedCount = 0;
  private readonly stamp: Int32Array;
  private epoch = 0;
  /**
   * Rows whose dual a pivot may have moved since the last full pricing (the support of each
   * pivot's row of the inverse): only columns in these rows need pricing again.
   */
  private readonly rowMoved: Uint8Array;
  private readonly movedRows: Int32Array;
  private movedCount = 0;
  private readonly cand: Int32Array;
  private readonly candRatio: Float64Array;
  private readonly flips: Int32Array;
  private readonly facW: Float64Array; // m*m scratch for refactorisation
  private readonly facInv: Float64Array; // m*m dense inverse from refactorisation, then packed
  private updates = 0;
  /** The inverse was updated during the current solve (residuals must be checked). */
  private touched = false;
  private hasBasis = false;
  private readonly maxIter: number;
  private readonly refactorEvery: number;
  private readonly tolP: number;
  private readonly tolD: number;
  private readonly tolPiv: number;

  constructor(
    readonly lp: LpProblem,
    opts: SimplexOptions = {},
  ) {
    const n = lp.numCols;
    const m = lp.numRows;
    this.n = n;
    this.m = m;
    const N = n + m;
    this.x = new Float64Array(N);
    this.d = new Float64Array(N);
    this.y = new Float64Array(m);
    this.lo = new Float64Array(N);
    this.hi = new Float64Array(N);
    this.cost = new Float64Array(N);
    this.head = new Int32Array(m);
    this.posOf = new Int32Array(N).fill(-1);
    this.atUpper = new Uint8Array(N);
    this.skip = new Uint8Array(N);
    if (m >= 0xffff) throw new Error(`simplex: ${m} rows is beyond the packed inverse's slot range`);
    this.binvVal = new Float64Array(m * m);
    this.binvCol = new Int32Array(m * m);
    this.binvSlot = new Uint16Array(m * m);
    this.rowCnt = new Int32Array(m);
    this.colVal = new Float64Array(m * m);
    this.colRow = new Int32Array(m * m);
    this.colSlot = new Uint16Array(m * m);
    this.colCnt = new Int32Array(m);
    const nz = lp.colStart[n]!;
    this.rowStart = new Int32Array(m + 1);
    this.rowCol = new Int32Array(nz);
    this.rowVal = new Float64Array(nz);
    this.rowAt = new Int32Array(nz);
    for (let k = 0; k < nz; k++) this.rowStart[lp.rowIndex[k]! + 1]!++;
    for (let i = 0; i < m; i++) this.rowStart[i + 1]! += this.rowStart[i]!;
    const next = this.rowStart.slice(0, m);
    for (let j = 0; j < n; j++) {
      for (let k = lp.colStart[j]!; k < lp.colStart[j + 1]!; k++) {
        const at = next[lp.rowIndex[k]!]!++;
        this.rowCol[at] = j;
        this.rowAt[k] = at;
      }
    }
    this.basicLo = new Float64Array(m);
    this.basicHi = new Float64Array(m);
    this.work = new Float64Array(m);
    this.work2 = new Float64Array(m);
    this.colq = new Float64Array(m);
    this.colqRows = new Int32Array(m);
    this.inColq = new Uint8Array(m);
    this.alpha = new Float64Array(N);
    this.touchedVars = new Int32Array(N);
    this.stamp = new Int32Array(N);
    this.rowMoved = new Uint8Array(m);
    this.movedRows = new Int32Array(m);
    this.cand = new Int32Array(N);
    this.candRatio = new Float64Array(N);
    this.flips = new Int32Array(N);
    this.facW = new Float64Array(m * m);
    this.facInv = new Float64Array(m * m);
    this.maxIter = opts.maxIterations ?? Math.max(1000, 20 * (n + m));
    this.refactorEvery = opts.refactorEvery ?? 5000;
    this.tolP = opts.primalTol ?? 1e-9;
    this.tolD = opts.dualTol ?? 1e-9;
    this.tolPiv = opts.pivotTol ?? 1e-9;
  }

  /** Forgets the basis: the next solve starts from the slack basis. */
  reset(): void {
    this.hasBasis = false;
  }

  /**
   * Installs a basis given as HiGHS status codes (0 lower, 1 basic, 2 upper); used to seed the
   * simplex after a fallback solve. Returns false when it is not a square, nonsingular basis.
   */
  setBasis(colStatus: ArrayLike<number>, rowStatus: ArrayLike<number>): boolean {
    const { n, m } = this;
    let r = 0;
    this.posOf.fill(-1);
    for (let j = 0; j < n + m; j++) {
      const st = j < n ? colStatus[j]! : rowStatus[j - n]!;
      if (st === 1) {
        if (r >= m) {
          this.hasBasis = false;
          return false;
        }
        this.head[r] = j;
        this.posOf[j] = r++;
      } else this.atUpper[j] = st === 2 ? 1 : 0;
    }
    if (r !== m) {
      this.hasBasis = false;
      return false;
    }
    this.syncProblem();
    if (!this.refactor()) {
      this.slackBasis();
      return false;
    }
    this.hasBasis = true;
    return true;
  }

  /** Basis in HiGHS status codes (0 lower, 1 basic, 2 upper). */
  getBasis(): { colStatus: Int32Array; rowStatus: Int32Array } {
    const colStatus = new Int32Array(this.n);
    const rowStatus = new Int32Array(this.m);
    for (let j = 0; j < this.n + this.m; j++) {
      const st = this.posOf[j]! >= 0 ? 1 : this.atUpper[j] ? 2 : 0;
      if (j < this.n) colStatus[j] = st;
      else rowStatus[j - this.n] = st;
    }
    return { colStatus, rowStatus };
  }

  /**
   * How far the maintained inverse is from the basis: max |(B^-1 B - I)_ik| from the packed rows,
   * or Infinity when the packed columns do not hold the same entries as the rows. For tests.
   */
  inverseError(): number {
    const { n, m, head, binvVal, binvCol, rowCnt, colVal, colRow, colSlot, colCnt } = this;
    const { colStart, rowIndex, values } = this.lp;
    let entries = 0;
    for (let i = 0; i < m; i++) {
      entries += rowCnt[i]!;
      for (let t = i * m; t < i * m + rowCnt[i]!; t++) {
        const k = binvCol[t]!;
        const at = colSlot[k * m + i]!;
        if (at === 0 || colRow[k * m + at - 1] !== i || colVal[k * m + at - 1] !== binvVal[t]) return Infinity;
      }
    }
    let colEntries = 0;
    for (let k = 0; k < m; k++) colEntries += colCnt[k]!;
    if (colEntries !== entries) return Infinity;
    const row = new Float64Array(m);
    let worst = 0;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let t = i * m; t < i * m + rowCnt[i]!; t++) row[binvCol[t]!] = binvVal[t]!;
      for (let r = 0; r < m; r++) {
        const j = head[r]!;
        let v = 0;
        if (j >= n) v = -row[j - n]!;
        else for (let k = colStart[j]!; k < colStart[j + 1]!; k++) v += row[rowIndex[k]!]! * values[k]!;
        worst = Math.max(worst, Math.abs(v - (r === i ? 1 : 0)));
      }
    }
    return worst;
  }

  isBasic(j: number): boolean {
    return this.posOf[j]! >= 0;
  }

  isAtUpper(j: number): boolean {
    return this.posOf[j]! < 0 && this.atUpper[j] === 1;
  }

  /**
   * Solves the LP from the current basis. `changed` lists columns whose matrix coefficients
   * changed since the last solve (bounds, costs and right-hand sides may change freely).
   */
  solve(changed?: Int32Array, changedCount = changed ? changed.length : 0): SimplexStatus {
    this.iterations = 0;
    const status = this.solveInner(changed, changedCount);
    this.lastStatus = status;
    this.totalIterations += this.iterations;
    return status;
  }

  private solveInner(changed: Int32Array | undefined, changedCount: number): SimplexStatus {
    this.syncProblem();
    this.touched = false;
    if (!this.hasBasis) this.slackBasis();
    else if (changedCount > 0) {
      this.refreshRowValues(changed!, changedCount);
      if (!this.replaceChangedColumns(changed!, changedCount)) this.refactorOrReset();
    }
    if (this.updates >= this.refactorEvery) this.refactorOrReset();
    if (!this.recompute(this.tolD)) return 'unbounded_box';

    let cleanups = 0;
    // True while x and d come straight from the basis inverse (no pivot or flip since).
    let fresh = true;
    for (;;) {
      if (this.iterations >= this.maxIter) return 'iteration_limit';
      const r = this.leavingRow();
      if (r < 0) {
        if (!fresh) {
          // Primal feasible after pivots: duals from scratch (exact prices), bounds re-chosen by
          // their signs. When no bound moves, the updated x stands: the residual check on the next
          // pass validates it against A x = r; otherwise x is recomputed from the inverse.
          fresh = true;
          const moved = this.repriceTouched(this.tolD * 100);
          if (moved < 0) return 'unbounded_box';
          if (moved > 0) this.computePrimal();
          if (++cleanups > 20) return 'numerical';
          continue;
        }
        if (this.touched && this.updates > 0 && this.drifted()) {
          // The updated inverse has drifted: refactorise and recompute before trusting the point.
          this.refactorsForAccuracy++;
          if (!this.refactor()) return 'numerical';
          this.touched = false;
          this.recompute(this.tolD);
          if (++cleanups > 20) return 'numerical';
          continue;
        }
        this.objective = this.objectiveValue();
        return 'optimal';
      }
      const outcome = this.iterate(r);
      if (outcome !== 'pivoted') {
        if (outcome === 'infeasible') return 'infeasible';
        // Inverse has drifted (pivot mismatch): refactorise and restart from consistent values.
        this.refactorOrReset();
        this.recompute(this.tolD);
        this.iterations++;
        continue;
      }
      this.iterations++;
      fresh = false;
      if (this.updates >= this.refactorEvery) {
        this.refactorOrReset();
        this.recompute(this.tolD);
      }
    }
  }

  /** One dual simplex iteration with row r leaving. */
  private iterate(r: number): 'pivoted' | 'infeasible' | 'drift' {
    const { x, lo, hi } = this;
    const p = this.head[r]!;
    const s = x[p]! < lo[p]! ? 1 : -1;
    const target = s > 0 ? lo[p]! : hi[p]!;
    this.pivotRow(r);
    const nc = this.ratioCandidates(s);
    if (nc === 0) return 'infeasible';
    const q = this.longStepRatioTest(Math.abs(x[p]! - target), nc);
    if (q < 0) return 'infeasible';
    const aq = -s * this.alpha[q]!;
    const t = Math.max(0, this.d[q]! / aq);
    this.ftran(q);
    const pivot = this.colq[r]!;
    if (Math.abs(pivot - this.alpha[q]!) > 1e-7 * (1 + Math.abs(pivot)) || Math.abs(pivot) < this.tolPiv) return 'drift';
    this.primalStep(p, q, target, pivot);
    this.dualStep(s * t, q, p);
    this.pivotInverse(r);
    this.head[r] = q;
    this.setBasicBounds(r);
    this.posOf[q] = r;
    this.posOf[p] = -1;
    this.atUpper[p] = s < 0 ? 1 : 0;
    this.skip[q] = 1;
    this.skip[p] = lo[p] === hi[p] ? 1 : 0;
    return 'pivoted';
  }

  private syncProblem(): void {
    const { lp, n, m } = this;
    this.lo.set(lp.colLower, 0);
    this.hi.set(lp.colUpper, 0);
    this.cost.set(lp.colCost, 0);
    this.lo.set(lp.rowLower, n);
    this.hi.set(lp.rowUpper, n);
    this.cost.fill(0, n, n + m);
  }

  /**
   * Duals, bound choice and primal values from the inverse, in one pass over the nonbasic
   * variables (each priced, put at the bound it prefers, and its column added into N x_N); false
   * when a bound is infinite.
   */
  private recompute(dualTol: number): boolean {
    const { n, m, x, d, y, lo, hi, cost, posOf, atUpper, skip } = this;
    const { colStart, rowIndex, values } = this.lp;
    // Every change of bounds or basis outside a pivot is followed by this recompute.
    for (let r = 0; r < m; r++) this.setBasicBounds(r);
    this.dualsFromScratch();
    this.clearMovedRows();
    const q = this.work;
    q.fill(0);
    // priceVariable and placeNonbasic fused by hand: this runs every tick over every variable.
    for (let j = 0; j < n + m; j++) {
      if (posOf[j]! >= 0) {
        d[j] = 0;
        skip[j] = 1;
        continue;
      }
      const l = lo[j]!;
      const h = hi[j]!;
      let v: number;
      if (l === h) {
        skip[j] = 1;
        atUpper[j] = 0;
        v = l;
      } else {
        // An infinite bound (dispatch LPs have none): moveToPreferredBounds decides.
        if (!(h - l < Infinity)) return this.recomputeInTwoPasses(dualTol);
        skip[j] = 0;
        // A row's logical: its reduced cost is the row dual.
        let dj = j < n ? cost[j]! : y[j - n]!;
        if (j < n) for (let k = colStart[j]!; k < colStart[j + 1]!; k++) dj -= values[k]! * y[rowIndex[k]!]!;
        d[j] = dj;
        let up = atUpper[j]!;
        if (dj < -dualTol) up = 1;
        else if (dj > dualTol) up = 0;
        atUpper[j] = up;
        v = up === 1 ? h : l;
      }
      x[j] = v;
      if (j >= n) q[j - n]! -= v;
      else if (v !== 0) for (let k = colStart[j]!; k < colStart[j + 1]!; k++) q[rowIndex[k]!]! += values[k]! * v;
    }
    this.basicFromRhs(q);
    return true;
  }

  private recomputeInTwoPasses(dualTol: number): boolean {
    if (this.priceAndChooseBounds(dualTol) < 0) return false;
    this.computePrimal();
    return true;
  }

  /** basicLo and basicHi for basis position r (after the bounds or the basis changed). */
  private setBasicBounds(r: number): void {
    const j = this.head[r]!;
    const l = this.lo[j]!;
    const h = this.hi[j]!;
    this.basicLo[r] = l - this.tolP * (1 + Math.abs(l));
    this.basicHi[r] = h + this.tolP * (1 + Math.abs(h));
  }

  private refactorOrReset(): void {
    if (!this.refactor()) this.slackBasis();
  }

  /**
   * Replaces basic columns whose coefficients changed by their new values (one product-form
   * update each). False when one became (nearly) dependent: the caller refactorises.
   */
  private refreshRowValues(changed: Int32Array, count: number): void {
    const { rowVal, rowAt } = this;
    const { colStart, values } = this.lp;
    for (let c = 0; c < count; c++) {
      const j = changed[c]!;
      const e = colStart[j + 1]!;
      for (let k = colStart[j]!; k < e; k++) rowVal[rowAt[k]!] = values[k]!;
    }
  }

  /** All of rowVal from lp.values: on a new basis, and when recovering from drift (a missed change heals). */
  private refreshAllRowValues(): void {
    const { rowVal, rowAt } = this;
    const values = this.lp.values;
    for (let k = 0; k < values.length; k++) rowVal[rowAt[k]!] = values[k]!;
  }

  private replaceChangedColumns(changed: Int32Array, count: number): boolean {
    const posOf = this.posOf;
    const colq = this.colq;
    for (let k = 0; k < count; k++) {
      const j = changed[k]!;
      const r = posOf[j]!;
      if (r < 0) continue;
      this.ftran(j);
      if (Math.abs(colq[r]!) < 1e-7) return false;
      this.pivotInverse(r);
    }
    return true;
  }

  private slackBasis(): void {
    const { n, m, binvVal, binvCol, binvSlot, rowCnt, colVal, colRow, colSlot, colCnt } = this;
    this.refreshAllRowValues();
    this.posOf.fill(-1);
    binvSlot.fill(0);
    colSlot.fill(0);
    for (let r = 0; r < m; r++) {
      this.head[r] = n + r;
      this.posOf[n + r] = r;
      binvVal[r * m] = -1;
      binvCol[r * m] = r;
      binvSlot[r * m + r] = 1;
      rowCnt[r] = 1;
      colVal[r * m] = -1;
      colRow[r * m] = r;
      colSlot[r * m + r] = 1;
      colCnt[r] = 1;
    }
    this.updates = 0;
    this.hasBasis = true;
  }

  /** Packs a dense inverse (row-major m*m) into the sparse rows and columns, dropping round-off residue. */
  private packInverse(dense: Float64Array): void {
    const { m, binvVal, binvCol, binvSlot, rowCnt, colVal, colRow, colSlot, colCnt } = this;
    colCnt.fill(0);
    for (let i = 0; i < m; i++) {
      const row = i * m;
      let c = 0;
      for (let k = 0; k < m; k++) {
        const v = dense[row + k]!;
        if (v > DROP || v < -DROP) {
          binvVal[row + c] = v;
          binvCol[row + c] = k;
          binvSlot[row + k] = ++c;
          const at = k * m + colCnt[k]!;
          colVal[at] = v;
          colRow[at] = i;
          colSlot[k * m + i] = ++colCnt[k]!;
        } else {
          binvSlot[row + k] = 0;
          colSlot[k * m + i] = 0;
        }
      }
      rowCnt[i] = c;
    }
  }

  /** B^-1 a_j into colq, listing its nonzero rows. */
  private ftran(j: number): void {
    const { n, m, colVal, colRow, colCnt, colq, colqRows, inColq } = this;
    for (let t = 0; t < this.colqCount; t++) {
      const i = colqRows[t]!;
      colq[i] = 0;
      inColq[i] = 0;
    }
    let count = 0;
    if (j >= n) {
      const base = (j - n) * m;
      const end = base + colCnt[j - n]!;
      for (let t = base; t < end; t++) {
        const i = colRow[t]!;
        colq[i] = -colVal[t]!;
        inColq[i] = 1;
        colqRows[count++] = i;
      }
    } else {
      const { colStart, rowIndex, values } = this.lp;
      const e = colStart[j + 1]!;
      for (let k = colStart[j]!; k < e; k++) {
        const c = rowIndex[k]!;
        const a = values[k]!;
        const base = c * m;
        const end = base + colCnt[c]!;
        for (let t = base; t < end; t++) {
          const i = colRow[t]!;
          colq[i]! += colVal[t]! * a;
          if (inColq[i] === 0) {
            inColq[i] = 1;
            colqRows[count++] = i;
          }
        }
      }
    }
    this.colqCount = count;
  }

  /** Replaces basis position r by the column whose B^-1 a is colq (product-form update in place). */
  private pivotInverse(r: number): void {
    const { m, binvVal, binvCol, binvSlot, rowCnt, colVal, colRow, colSlot, colCnt, colqRows } = this;
    const w = this.colq;
    const piv = w[r]!;
    const rowR = r * m;
    const cntR = rowCnt[r]!;
    const inv = 1 / piv;
    for (let t = 0; t < cntR; t++) {
      const v = binvVal[rowR + t]! * inv;
      binvVal[rowR + t] = v;
      const k = binvCol[rowR + t]!;
      colVal[k * m + colSlot[k * m + r]! - 1] = v;
    }
    const nw = this.colqCount;
    for (let s = 0; s < nw; s++) {
      const i = colqRows[s]!;
      if (i === r) continue;
      const f = w[i]!;
      if (f === 0) continue;
      const rowI = i * m;
      let cnt = rowCnt[i]!;
      for (let t = 0; t < cntR; t++) {
        const k = binvCol[rowR + t]!;
        const d = f * binvVal[rowR + t]!;
        const at = binvSlot[rowI + k]!;
        const colK = k * m;
        if (at === 0) {
          // A new entry, unless it is round-off.
          if (!(d > DROP || d < -DROP)) continue;
          binvVal[rowI + cnt] = -d;
          binvCol[rowI + cnt] = k;
          binvSlot[rowI + k] = ++cnt;
          const c = colCnt[k]!;
          colVal[colK + c] = -d;
          colRow[colK + c] = i;
          colSlot[colK + i] = c + 1;
          colCnt[k] = c + 1;
          continue;
        }
        const v = binvVal[rowI + at - 1]! - d;
        if (v > DROP || v < -DROP) {
          binvVal[rowI + at - 1] = v;
          colVal[colK + colSlot[colK + i]! - 1] = v;
          continue;
        }
        // Cancelled (what is left is round-off): out of row i and column k, each's last entry
        // taking the freed place, so the inverse stays sparse.
        const last = --cnt;
        if (at - 1 !== last) {
          const movedCol = binvCol[rowI + last]!;
          binvVal[rowI + at - 1] = binvVal[rowI + last]!;
          binvCol[rowI + at - 1] = movedCol;
          binvSlot[rowI + movedCol] = at;
        }
        binvSlot[rowI + k] = 0;
        const cAt = colSlot[colK + i]! - 1;
        const cLast = --colCnt[k]!;
        if (cAt !== cLast) {
          const movedRow = colRow[colK + cLast]!;
          colVal[colK + cAt] = colVal[colK + cLast]!;
          colRow[colK + cAt] = movedRow;
          colSlot[colK + movedRow] = cAt + 1;
        }
        colSlot[colK + i] = 0;
      }
      rowCnt[i] = cnt;
    }
    this.updates++;
    this.touched = true;
  }

  /** Gauss-Jordan inverse of the basis with partial pivoting. False when singular. */
  private refactor(): boolean {
    const { n, m, lp, head } = this;
    this.refreshAllRowValues();
    const { colStart, rowIndex, values } = lp;
    const W = this.facW;
    const binv = this.facInv;
    W.fill(0);
    binv.fill(0);
    for (let r = 0; r < m; r++) {
      const j = head[r]!;
      if (j >= n) W[(j - n) * m + r] = -1;
      else for (let k = colStart[j]!; k < colStart[j + 1]!; k++) W[rowIndex[k]! * m + r] = values[k]!;
      binv[r * m + r] = 1;
    }
    // Row ops on [W | I]; row swaps permute, so the result rows follow the basis positions.
    for (let c = 0; c < m; c++) {
      let p = -1;
      let best = 1e-11;
      for (let i = c; i < m; i++) {
        const a = Math.abs(W[i * m + c]!);
        if (a > best) {
          best = a;
          p = i;
        }
      }
      if (p < 0) return false;
      if (p !== c) {
        for (let k = 0; k < m; k++) {
          const t1 = W[p * m + k]!;
          W[p * m + k] = W[c * m + k]!;
          W[c * m + k] = t1;
          const t2 = binv[p * m + k]!;
          binv[p * m + k] = binv[c * m + k]!;
          binv[c * m + k] = t2;
        }
      }
      const inv = 1 / W[c * m + c]!;
      for (let k = c; k < m; k++) W[c * m + k]! *= inv;
      for (let k = 0; k < m; k++) binv[c * m + k]! *= inv;
      for (let i = 0; i < m; i++) {
        if (i === c) continue;
        const f = W[i * m + c]!;
        if (f === 0) continue;
        for (let k = c; k < m; k++) {
          const v = W[c * m + k]!;
          if (v !== 0) W[i * m + k]! -= f * v;
        }
        for (let k = 0; k < m; k++) {
          const v = binv[c * m + k]!;
          if (v !== 0) binv[i * m + k]! -= f * v;
        }
      }
    }
    this.packInverse(binv);
    this.updates = 0;
    this.refactorizations++;
    return true;
  }

  /**
   * Duals from scratch, y = B^-T c_B and d = c - A^T y, and each nonbasic variable put at the bound
   * its reduced cost prefers (in one pass). Basic and fixed variables are marked to skip; their d
   * is not needed (basic: 0, fixed: never enters). Returns how many bounds moved, or -1 when one
   * cannot (an infinite bound).
   */
  private priceAndChooseBounds(tol: number): number {
    this.dualsFromScratch();
    this.clearMovedRows();
    // Bounds to move are counted here and moved by moveToPreferredBounds, which also handles a
    // bound that is infinite (dispatch LPs have none).
    let found = 0;
    const N = this.n + this.m;
    for (let j = 0; j < N; j++) found |= this.priceVariable(j, tol);
    return found === 0 ? 0 : this.moveToPreferredBounds(tol);
  }

  /**
   * d_j from y; marks j to skip when basic or fixed. Returns 1 when j should move to its other
   * bound, 2 when a bound is infinite (moveToPreferredBounds decides), else 0.
   */
  private priceVariable(j: number, tol: number): number {
    const { n, d, lo, hi, posOf, atUpper, skip } = this;
    if (posOf[j]! >= 0) {
      d[j] = 0;
      skip[j] = 1;
      return 0;
    }
    const width = hi[j]! - lo[j]!;
    if (width === 0) {
      skip[j] = 1;
      atUpper[j] = 0;
      return 0;
    }
    skip[j] = 0;
    let dj: number;
    if (j < n) {
      const { colStart, rowIndex, values } = this.lp;
      const y = this.y;
      dj = this.cost[j]!;
      const e = colStart[j + 1]!;
      for (let k = colStart[j]!; k < e; k++) dj -= values[k]! * y[rowIndex[k]!]!;
    } else dj = this.y[j - n]!; // a row's logical: its reduced cost is the row dual
    d[j] = dj;
    const flip = dj < -tol ? atUpper[j] === 0 : dj > tol ? atUpper[j] === 1 : false;
    return (flip ? 1 : 0) | (width < Infinity ? 0 : 2);
  }

  /** y = B^-T c_B from the inverse. */
  private dualsFromScratch(): void {
    const { m, binvVal, binvCol, y, cost, head, rowCnt } = this;
    y.fill(0);
    for (let r = 0; r < m; r++) {
      const c = cost[head[r]!]!;
      if (c === 0) continue;
      const row = r * m;
      const end = row + rowCnt[r]!;
      for (let t = row; t < end; t++) y[binvCol[t]!]! += c * binvVal[t]!;
    }
  }

  private clearMovedRows(): void {
    const { rowMoved, movedRows } = this;
    for (let k = 0; k < this.movedCount; k++) rowMoved[movedRows[k]!] = 0;
    this.movedCount = 0;
  }

  /**
   * priceAndChooseBounds after pivots, restricted to the variables in rows whose dual the pivots
   * moved: y is recomputed in full, but a column with no entry in those rows has the same reduced
   * cost as at the last full pricing (its rows' duals did not change), so it keeps that value and
   * its bound. The entering, leaving and flipped variables are all in those rows.
   */
  private repriceTouched(tol: number): number {
    const { n, stamp, rowStart, rowCol, movedRows } = this;
    // Past a third of the rows, one pass in order over all variables is cheaper.
    if (3 * this.movedCount > this.m) return this.priceAndChooseBounds(tol);
    this.dualsFromScratch();
    const epoch = ++this.epoch;
    let found = 0;
    for (let k = 0; k < this.movedCount; k++) {
      const i = movedRows[k]!;
      found |= this.priceVariable(n + i, tol);
      const e = rowStart[i + 1]!;
      for (let kk = rowStart[i]!; kk < e; kk++) {
        const j = rowCol[kk]!;
        if (stamp[j] === epoch) continue;
        stamp[j] = epoch;
        found |= this.priceVariable(j, tol);
      }
    }
    return found === 0 ? 0 : this.moveToPreferredBounds(tol);
  }

  /**
   * Puts each nonbasic variable at the bound its reduced cost prefers (rare path: only after
   * prices change the choice). Returns how many moved, or -1 when one cannot (an infinite bound).
   */
  private moveToPreferredBounds(tol: number): number {
    const { n, m, d, lo, hi, posOf, atUpper } = this;
    let flipped = 0;
    for (let j = 0; j < n + m; j++) {
      if (posOf[j]! >= 0) continue;
      const l = lo[j]!;
      const h = hi[j]!;
      if (l === h) continue;
      const dj = d[j]!;
      const up = atUpper[j]!;
      if (dj < -tol && up === 0) {
        if (h === Infinity) return -1;
        atUpper[j] = 1;
        flipped++;
      } else if (dj > tol && up === 1) {
        if (l === -Infinity) return -1;
        atUpper[j] = 0;
        flipped++;
      } else if (up === 1 ? h === Infinity : l === -Infinity) {
        // Either bound is optimal, and it must be a finite one.
        atUpper[j] = up ^ 1;
        if (!Number.isFinite(up === 1 ? l : h)) return -1;
      }
    }
    return flipped;
  }

  /** Nonbasic variables at their bounds, basic ones from x_B = -B^-1 (N x_N). */
  private computePrimal(): void {
    const { n, m, posOf } = this;
    const q = this.work;
    q.fill(0);
    for (let j = 0; j < n + m; j++) if (posOf[j]! < 0) this.placeNonbasic(j, q);
    this.basicFromRhs(q);
  }

  /** Nonbasic j at its bound; its column times that value added into q (N x_N). */
  private placeNonbasic(j: number, q: Float64Array): void {
    const { n, x } = this;
    const v = this.atUpper[j] ? this.hi[j]! : this.lo[j]!;
    x[j] = v;
    if (j >= n) q[j - n]! -= v;
    else if (v !== 0) {
      const { colStart, rowIndex, values } = this.lp;
      const e = colStart[j + 1]!;
      for (let k = colStart[j]!; k < e; k++) q[rowIndex[k]!]! += values[k]! * v;
    }
  }

  /** x_B = -B^-1 q. */
  private basicFromRhs(q: Float64Array): void {
    const { m, binvVal, binvCol, x, head, rowCnt } = this;
    for (let r = 0; r < m; r++) {
      let s = 0;
      const row = r * m;
      const end = row + rowCnt[r]!;
      for (let t = row; t < end; t++) s += binvVal[t]! * q[binvCol[t]!]!;
      x[head[r]!] = -s;
    }
  }

  /** Leaving row by dual steepest edge (exact weights from the explicit inverse), or -1. */
  private leavingRow(): number {
    const { m, x, lo, hi, head, basicLo, basicHi, binvVal, rowCnt } = this;
    let r = -1;
    let bestScore = 0;
    for (let i = 0; i < m; i++) {
      const j = head[i]!;
      const xj = x[j]!;
      let infeas: number;
      if (xj < basicLo[i]!) infeas = lo[j]! - xj;
      else if (xj > basicHi[i]!) infeas = xj - hi[j]!;
      else continue;
      let w = 0;
      const row = i * m;
      const end = row + rowCnt[i]!;
      for (let t = row; t < end; t++) {
        const b = binvVal[t]!;
        w += b * b;
      }
      const score = (infeas * infeas) / w;
      if (score > bestScore) {
        bestScore = score;
        r = i;
      }
    }
    return r;
  }


  /** alpha_j = (e_r' B^-1) a_j for nonbasic, non-fixed j, by rows of A over the nonzeros of row r of the inverse. */
  private pivotRow(r: number): void {
    const { n, m, binvVal, binvCol, alpha, touchedVars, stamp, rowStart, rowCol, rowVal, skip, rowMoved, movedRows } = this;
    const epoch = ++this.epoch;
    const rowOff = r * m;
    const end = rowOff + this.rowCnt[r]!;
    let nt = 0;
    let nm = this.movedCount;
    for (let t = rowOff; t < end; t++) {
      const i = binvCol[t]!;
      const b = binvVal[t]!;
      if (rowMoved[i] === 0) {
        rowMoved[i] = 1;
        movedRows[nm++] = i;
      }
      const jl = n + i;
      if (skip[jl] === 1) {
        // Basic or fixed: never enters.
      } else if (stamp[jl] !== epoch) {
        stamp[jl] = epoch;
        touchedVars[nt++] = jl;
        alpha[jl] = -b;
      } else alpha[jl]! -= b;
      const e = rowStart[i + 1]!;
      for (let k = rowStart[i]!; k < e; k++) {
        const j = rowCol[k]!;
        if (skip[j] === 1) continue;
        const v = b * rowVal[k]!;
        if (stamp[j] !== epoch) {
          stamp[j] = epoch;
          touchedVars[nt++] = j;
          alpha[j] = v;
        } else alpha[j]! += v;
      }
    }
    this.touchedCount = nt;
    this.movedCount = nm;
  }

  /** Pivot-row variables (nonbasic, non-fixed) the dual step can make leave their bound; returns how many. */
  private ratioCandidates(s: number): number {
    const { alpha, touchedVars, atUpper, d, cand, candRatio } = this;
    const tolPiv = this.tolPiv;
    const nt = this.touchedCount;
    let nc = 0;
    for (let k = 0; k < nt; k++) {
      const j = touchedVars[k]!;
      const at = -s * alpha[j]!;
      if (atUpper[j] ? at < -tolPiv : at > tolPiv) {
        const ratio = d[j]! / at;
        cand[nc] = j;
        candRatio[nc] = ratio > 0 ? ratio : 0;
        nc++;
      }
    }
    return nc;
  }

  /**
   * Long-step ratio test: passes breakpoints (flipping those variables to their other bound)
   * while the dual keeps improving; returns the entering variable, or -1 when the dual is
   * unbounded (the LP is infeasible). Breakpoints are taken in ratio order by selection:
   * usually only a few are passed.
   */
  private longStepRatioTest(delta: number, nc: number): number {
    const { alpha, lo, hi, cand, candRatio } = this;
    let slope = delta;
    let k = 0;
    let nf = 0;
    for (; ; k++) {
      selectMin(cand, candRatio, k, nc);
      const j = cand[k]!;
      const next = slope - Math.abs(alpha[j]!) * (hi[j]! - lo[j]!);
      if (next <= 0) break;
      // Past the last breakpoint and still improving: the dual is unbounded, the LP infeasible.
      if (k === nc - 1) return -1;
      slope = next;
      this.flips[nf++] = j;
    }
    // Among near-ties at the stopping breakpoint, take the largest pivot.
    let q = cand[k]!;
    let bestAbs = Math.abs(alpha[q]!);
    const tieLimit = candRatio[k]! + 1e-12 + 1e-9 * candRatio[k]!;
    for (let kk = k + 1; kk < nc; kk++) {
      if (candRatio[kk]! > tieLimit) continue;
      const j = cand[kk]!;
      const a = Math.abs(alpha[j]!);
      if (a > bestAbs * 1.0000001) {
        bestAbs = a;
        q = j;
      }
    }
    if (nf > 0) this.applyFlips(nf);
    return q;
  }

  /** Moves the passed breakpoints to their other bound and the basic variables with them. */
  private applyFlips(nf: number): void {
    const { n, m, x, lo, hi, atUpper, flips, colVal, colRow, colCnt, head } = this;
    const { colStart, rowIndex, values } = this.lp;
    const qv = this.work;
    qv.fill(0);
    for (let f = 0; f < nf; f++) {
      const j = flips[f]!;
      const dx = atUpper[j] ? lo[j]! - hi[j]! : hi[j]! - lo[j]!;
      atUpper[j] = atUpper[j] ? 0 : 1;
      x[j] = atUpper[j] ? hi[j]! : lo[j]!;
      if (j < n) for (let k = colStart[j]!; k < colStart[j + 1]!; k++) qv[rowIndex[k]!]! += values[k]! * dx;
      else qv[j - n]! -= dx;
    }
    // x_B -= B^-1 qv, by the columns of the inverse that qv selects (a flip touches a few rows).
    for (let c = 0; c < m; c++) {
      const v = qv[c]!;
      if (v === 0) continue;
      const end = c * m + colCnt[c]!;
      for (let t = c * m; t < end; t++) x[head[colRow[t]!]!]! -= colVal[t]! * v;
    }
  }

  /** Entering q moves by theta; the basic variables with it; the leaving p lands on its bound. */
  private primalStep(p: number, q: number, target: number, pivot: number): void {
    const { x, head, colq, colqRows } = this;
    const theta = (x[p]! - target) / pivot;
    const nw = this.colqCount;
    for (let s = 0; s < nw; s++) {
      const i = colqRows[s]!;
      x[head[i]!]! -= theta * colq[i]!;
    }
    x[q]! += theta;
    x[p] = target;
  }

  /** Reduced costs after the step: d_j -= step * alpha_j over the pivot row's entries. */
  private dualStep(st: number, q: number, p: number): void {
    const { d, alpha, touchedVars } = this;
    const nt = this.touchedCount;
    const step = -st;
    for (let k = 0; k < nt; k++) {
      const j = touchedVars[k]!;
      d[j]! -= step * alpha[j]!;
    }
    d[q] = 0;
    d[p] = st;
  }

  /** Primal or dual residual beyond 1e-9: the updated inverse can no longer be trusted. */
  private drifted(): boolean {
    return this.residual() > 1e-9 || this.dualResidual() > 1e-9;
  }

  /** max |c_j - a_j' y| over basic columns, relative to the terms: zero when y is exact. */
  private dualResidual(): number {
    const { n, m, y, cost, head } = this;
    const { colStart, rowIndex, values } = this.lp;
    let worst = 0;
    for (let r = 0; r < m; r++) {
      const j = head[r]!;
      let d: number;
      let mag = 1 + Math.abs(cost[j]!);
      if (j >= n) {
        d = y[j - n]!;
        mag += Math.abs(d);
      } else {
        d = cost[j]!;
        const e = colStart[j + 1]!;
        for (let k = colStart[j]!; k < e; k++) {
          const t = values[k]! * y[rowIndex[k]!]!;
          d -= t;
          mag += Math.abs(t);
        }
      }
      const e = Math.abs(d) / mag;
      if (e > worst) worst = e;
    }
    return worst;
  }

  /** max |A x - r| relative to the magnitude of the terms. */
  private residual(): number {
    const { n, m, x } = this;
    const { colStart, rowIndex, values } = this.lp;
    const act = this.work2;
    act.fill(0);
    const mag = this.work;
    mag.fill(1);
    for (let j = 0; j < n; j++) {
      const xj = x[j]!;
      if (xj === 0) continue;
      const e = colStart[j + 1]!;
      for (let k = colStart[j]!; k < e; k++) {
        const t = values[k]! * xj;
        const i = rowIndex[k]!;
        act[i]! += t;
        mag[i]! += Math.abs(t);
      }
    }
    let worst = 0;
    for (let i = 0; i < m; i++) {
      const r = Math.abs(act[i]! - x[n + i]!) / mag[i]!;
      if (r > worst) worst = r;
    }
    return worst;
  }

  private objectiveValue(): number {
    const { n, cost, x } = this;
    let obj = 0;
    for (let j = 0; j < n; j++) obj += cost[j]! * x[j]!;
    return obj;
  }
}

/** Moves the smallest ratio among positions from..n-1 to position from. */
function selectMin(idx: Int32Array, ratio: Float64Array, from: number, n: number): void {
  let best = from;
  let br = ratio[from]!;
  for (let i = from + 1; i < n; i++) {
    if (ratio[i]! < br) {
      br = ratio[i]!;
      best = i;
    }
  }
  if (best !== from) {
    const tr = ratio[from]!;
    ratio[from] = br;
    ratio[best] = tr;
    const ti = idx[from]!;
    idx[from] = idx[best]!;
    idx[best] = ti;
  }
}

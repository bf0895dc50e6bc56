/**
 * Writers for the open LP exchange formats, so an auditor can re-solve any tick with any
 * solver (glpsol, HiGHS, CBC, CPLEX, Gurobi, ...). Numbers are written with the shortest
 * representation that reads back to the same double, so re-solving gives the same optimum.
 */
import type { LpProblem } from './problem.ts';

function num(v: number): string {
  if (v === 0) return '0';
  return String(v);
}

const TERMS_PER_LINE = 6;

function linearTerms(names: readonly string[], idx: ArrayLike<number>, val: ArrayLike<number>, count: number): string {
  let out = '';
  let written = 0;
  for (let k = 0; k < count; k++) {
    const v = val[k]!;
    if (v === 0) continue;
    if (written > 0 && written % TERMS_PER_LINE === 0) out += '\n   ';
    out += v < 0 ? ` - ${num(-v)} ${names[idx[k]!]}` : ` + ${num(v)} ${names[idx[k]!]}`;
    written++;
  }
  return written === 0 ? ` 0 ${names[idx[0] ?? 0] ?? ''}` : out;
}

/** Row-wise copy of the CSC matrix. */
function toRows(lp: LpProblem): { start: Int32Array; col: Int32Array; val: Float64Array } {
  const start = new Int32Array(lp.numRows + 1);
  for (let k = 0; k < lp.rowIndex.length; k++) start[lp.rowIndex[k]! + 1]!++;
  for (let i = 0; i < lp.numRows; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, lp.numRows);
  const col = new Int32Array(lp.rowIndex.length);
  const val = new Float64Array(lp.rowIndex.length);
  for (let j = 0; j < lp.numCols; j++) {
    for (let k = lp.colStart[j]!; k < lp.colStart[j + 1]!; k++) {
      const p = fill[lp.rowIndex[k]!]!++;
      col[p] = j;
      val[p] = lp.values[k]!;
    }
  }
  return { start, col, val };
}

/**
 * CPLEX LP text. A ranged row `lo <= a'x <= hi` is written as `a'x - row~range = lo` with
 * `0 <= row~range <= hi - lo`, the way glpsol writes them, because the LP format has no ranges.
 */
export function writeCplexLp(lp: LpProblem, comment: readonly string[] = []): string {
  const parts: string[] = [];
  for (const line of comment) parts.push(`\\ ${line.replace(/\n/g, ' ')}`);
  parts.push('Minimize');
  // Every column appears in the objective (zero costs included) so none goes undeclared.
  let obj = ' obj:';
  for (let j = 0; j < lp.numCols; j++) {
    if (j > 0 && j % TERMS_PER_LINE === 0) obj += '\n   ';
    const c = lp.colCost[j]!;
    obj += c < 0 ? ` - ${num(-c)} ${lp.colNames[j]}` : ` + ${num(c)} ${lp.colNames[j]}`;
  }
  if (lp.numCols === 0) obj += ' 0';
  parts.push(obj);
  parts.push('Subject To');
  const rows = toRows(lp);
  const rangeCols: { name: string; width: number }[] = [];
  for (let i = 0; i < lp.numRows; i++) {
    const s = rows.start[i]!;
    const e = rows.start[i + 1]!;
    const terms = linearTerms(lp.colNames, rows.col.subarray(s, e), rows.val.subarray(s, e), e - s);
    const lo = lp.rowLower[i]!;
    const hi = lp.rowUpper[i]!;
    const name = lp.rowNames[i]!;
    if (lo === hi) parts.push(` ${name}:${terms} = ${num(lo)}`);
    else if (Number.isFinite(lo) && Number.isFinite(hi)) {
      const r = `${name}~range`;
      rangeCols.push({ name: r, width: hi - lo });
      parts.push(` ${name}:${terms} - ${r} = ${num(lo)}`);
    } else if (Number.isFinite(lo)) parts.push(` ${name}:${terms} >= ${num(lo)}`);
    else if (Number.isFinite(hi)) parts.push(` ${name}:${terms} <= ${num(hi)}`);
    else parts.push(` ${name}:${terms} >= -1e+30`);
  }
  parts.push('Bounds');
  for (let j = 0; j < lp.numCols; j++) {
    const lo = lp.colLower[j]!;
    const hi = lp.colUpper[j]!;
    const n = lp.colNames[j]!;
    if (lo === hi) parts.push(` ${n} = ${num(lo)}`);
    else if (lo === -Infinity && hi === Infinity) parts.push(` ${n} free`);
    else {
      const l = lo === -Infinity ? '-inf' : num(lo);
      const h = hi === Infinity ? '+inf' : num(hi);
      parts.push(` ${l} <= ${n} <= ${h}`);
    }
  }
  for (const r of rangeCols) parts.push(` 0 <= ${r.name} <= ${num(r.width)}`);
  parts.push('End', '');
  return parts.join('\n');
}

/** Free-format MPS (names without spaces), with RANGES for ranged rows. */
export function writeMps(lp: LpProblem, comment: readonly string[] = []): string {
  const out: string[] = [];
  for (const line of comment) out.push(`* ${line.replace(/\n/g, ' ')}`);
  out.push(`NAME ${lp.name.replace(/\s+/g, '_') || 'querstrom'}`);
  out.push('ROWS', ' N obj');
  const sense: string[] = [];
  for (let i = 0; i < lp.numRows; i++) {
    const lo = lp.rowLower[i]!;
    const hi = lp.rowUpper[i]!;
    const s = lo === hi ? 'E' : Number.isFinite(lo) ? 'G' : Number.isFinite(hi) ? 'L' : 'N';
    sense.push(s);
    out.push(` ${s} ${lp.rowNames[i]}`);
  }
  out.push('COLUMNS');
  for (let j = 0; j < lp.numCols; j++) {
    const n = lp.colNames[j]!;
    out.push(`    ${n} obj ${num(lp.colCost[j]!)}`);
    for (let k = lp.colStart[j]!; k < lp.colStart[j + 1]!; k++) {
      const v = lp.values[k]!;
      if (v !== 0) out.push(`    ${n} ${lp.rowNames[lp.rowIndex[k]!]} ${num(v)}`);
    }
  }
  out.push('RHS');
  const ranges: string[] = [];
  for (let i = 0; i < lp.numRows; i++) {
    const lo = lp.rowLower[i]!;
    const hi = lp.rowUpper[i]!;
    const s = sense[i]!;
    const rhs = s === 'L' ? hi : s === 'N' ? 0 : lo;
    if (rhs !== 0) out.push(`    rhs ${lp.rowNames[i]} ${num(rhs)}`);
    if (s === 'G' && Number.isFinite(hi)) ranges.push(`    rng ${lp.rowNames[i]} ${num(hi - lo)}`);
  }
  if (ranges.length > 0) out.push('RANGES', ...ranges);
  out.push('BOUNDS');
  for (let j = 0; j < lp.numCols; j++) {
    const lo = lp.colLower[j]!;
    const hi = lp.colUpper[j]!;
    const n = lp.colNames[j]!;
    if (lo === hi) {
      out.push(` FX bnd ${n} ${num(lo)}`);
      continue;
    }
    if (lo === -Infinity && hi === Infinity) {
      out.push(` FR bnd ${n}`);
      continue;
    }
    if (lo === -Infinity) out.push(` MI bnd ${n}`);
    else if (lo !== 0) out.push(` LO bnd ${n} ${num(lo)}`);
    if (hi !== Infinity) out.push(` UP bnd ${n} ${num(hi)}`);
  }
  out.push('ENDATA', '');
  return out.join('\n');
}

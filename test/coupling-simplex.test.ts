/**
 * The warm-started bounded dual simplex against HiGHS on random boxed LPs, re-solved after random
 * changes of costs, bounds, right-hand sides and matrix coefficients; and the LP/MPS writers
 * against glpsol and HiGHS on rows of every kind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHighs, solveFromScratch } from '../src/coupling/lp/highs.ts';
import { LpBuilder, lpObjective, rowActivity, type LpProblem } from '../src/coupling/lp/problem.ts';
import { BoundedDualSimplex } from '../src/coupling/lp/simplex.ts';
import { writeCplexLp, writeMps } from '../src/coupling/lp/write.ts';
import { seededRandom } from '../src/coupling/random-city.ts';

const dir = mkdtempSync(join(tmpdir(), 'qs-simplex-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const relGap = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

/** Random boxed LP with equality and ranged rows, plus penalised slacks so it is always feasible. */
function randomLp(seed: number): LpProblem {
  const r = seededRandom(seed);
  const m = 5 + Math.floor(r() * 40);
  const n = m + Math.floor(r() * 80);
  const b = new LpBuilder(`rand${seed}`);
  for (let i = 0; i < m; i++) {
    const lo = (r() - 0.3) * 50;
    if (r() < 0.6) b.addRow(`r${i}`, lo, lo);
    else b.addRow(`r${i}`, lo, lo + r() * 30);
  }
  for (let j = 0; j < n; j++) {
    const c = b.addCol(`x${j}`, (r() - 0.3) * 10, r() < 0.3 ? -r() * 5 : 0, 1 + r() * 20);
    const used = new Set<number>();
    for (let t = 0, k = 1 + Math.floor(r() * 3); t < k; t++) {
      const i = Math.floor(r() * m);
      if (used.has(i)) continue;
      used.add(i);
      b.add(i, c, (r() - 0.5) * 4);
    }
  }
  for (let i = 0; i < m; i++) {
    b.add(i, b.addCol(`u${i}`, 1000, 0, 1e3), 1);
    b.add(i, b.addCol(`d${i}`, 1000, 0, 1e3), -1);
  }
  return b.finish().lp;
}

/**
 * The duals certify optimality: every reduced cost recomputed from scratch, c_j - a_j' y (a row's
 * logical: y_i), is zero on basic variables and has the sign of the bound each nonbasic one sits at.
 */
function expectDualCertificate(s: BoundedDualSimplex, lp: LpProblem, what: string): void {
  const n = lp.numCols;
  for (let j = 0; j < n + lp.numRows; j++) {
    let d: number;
    if (j < n) {
      d = lp.colCost[j]!;
      for (let k = lp.colStart[j]!; k < lp.colStart[j + 1]!; k++) d -= lp.values[k]! * s.y[lp.rowIndex[k]!]!;
    } else d = s.y[j - n]!;
    const lo = j < n ? lp.colLower[j]! : lp.rowLower[j - n]!;
    const hi = j < n ? lp.colUpper[j]! : lp.rowUpper[j - n]!;
    if (s.isBasic(j)) expect(Math.abs(d), `${what}: basic ${j}`).toBeLessThanOrEqual(1e-7);
    else if (lo === hi) continue;
    else if (s.isAtUpper(j)) expect(d, `${what}: ${j} at upper`).toBeLessThanOrEqual(1e-7);
    else expect(d, `${what}: ${j} at lower`).toBeGreaterThanOrEqual(-1e-7);
  }
}

describe('bounded dual simplex', () => {
  it('matches HiGHS on 60 random LPs and 5 warm re-solves each after random changes', async () => {
    const highs = await loadHighs();
    let warmIterations = 0;
    let coldIterations = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const lp = randomLp(seed);
      const r = seededRandom(seed * 7919);
      const s = new BoundedDualSimplex(lp);
      expect(s.solve()).toBe('optimal');
      coldIterations += s.iterations;
      const h = solveFromScratch(highs, lp);
      expect(relGap(s.objective, h.objective), `seed ${seed}`).toBeLessThanOrEqual(1e-9);
      for (let rep = 0; rep < 5; rep++) {
        for (let j = 0; j < lp.numCols; j++) {
          if (r() < 0.3) lp.colCost[j]! += r() - 0.5;
          if (r() < 0.2) lp.colUpper[j] = Math.max(lp.colLower[j]!, lp.colUpper[j]! + (r() - 0.5) * 3);
        }
        for (let i = 0; i < lp.numRows; i++) {
          if (r() < 0.3) {
            const d = (r() - 0.5) * 5;
            lp.rowLower[i]! += d;
            lp.rowUpper[i]! += d;
          }
        }
        const changed: number[] = [];
        const structural = lp.numCols - 2 * lp.numRows; // the slacks keep their ±1
        for (let t = 0; t < 3; t++) {
          const j = Math.floor(r() * structural);
          if (lp.colStart[j + 1]! > lp.colStart[j]!) {
            lp.values[lp.colStart[j]!] = (r() - 0.5) * 4 || 0.1;
            if (!changed.includes(j)) changed.push(j);
          }
        }
        expect(s.solve(Int32Array.from(changed))).toBe('optimal');
        warmIterations += s.iterations;
        const h2 = solveFromScratch(highs, lp);
        expect(relGap(s.objective, h2.objective), `seed ${seed} rep ${rep}`).toBeLessThanOrEqual(1e-9);
        // The reported point is feasible and its duals price the rows consistently.
        const x = s.x.subarray(0, lp.numCols);
        expect(relGap(lpObjective(lp, x), s.objective)).toBeLessThanOrEqual(1e-12);
        const act = rowActivity(lp, x);
        for (let i = 0; i < lp.numRows; i++) {
          expect(act[i]!).toBeGreaterThanOrEqual(lp.rowLower[i]! - 1e-7);
          expect(act[i]!).toBeLessThanOrEqual(lp.rowUpper[i]! + 1e-7);
        }
        for (let j = 0; j < lp.numCols; j++) {
          expect(x[j]!).toBeGreaterThanOrEqual(lp.colLower[j]! - 1e-7);
          expect(x[j]!).toBeLessThanOrEqual(lp.colUpper[j]! + 1e-7);
        }
        expectDualCertificate(s, lp, `seed ${seed} rep ${rep}`);
        // The inverse updated in place (rows and columns) still inverts the basis.
        expect(s.inverseError(), `seed ${seed} rep ${rep}`).toBeLessThanOrEqual(1e-9);
      }
    }
    // Warm starts pay off: far fewer pivots than starting from the slack basis.
    expect(warmIterations / 300).toBeLessThan(coldIterations / 60);
  });

  it('reports row duals with the sign HiGHS uses (d objective / d row bound)', async () => {
    const highs = await loadHighs();
    // min 2a + 3b, a + b = 4, a ≤ 1: a = 1, b = 3; the balance row's dual is 3 (the marginal b).
    const b = new LpBuilder('duals');
    const row = b.addRow('bal', 4, 4);
    const a = b.addCol('a', 2, 0, 1);
    const c = b.addCol('b', 3, 0, 10);
    b.add(row, a, 1);
    b.add(row, c, 1);
    const { lp } = b.finish();
    const s = new BoundedDualSimplex(lp);
    expect(s.solve()).toBe('optimal');
    expect(s.y[0]).toBeCloseTo(3, 12);
    expect(solveFromScratch(highs, lp).rowDual[0]).toBeCloseTo(3, 12);
  });

  it('takes over a basis from HiGHS and says when a problem is infeasible', async () => {
    const highs = await loadHighs();
    const lp = randomLp(99);
    const h = solveFromScratch(highs, lp);
    const s = new BoundedDualSimplex(lp);
    expect(s.setBasis(h.basis!.colStatus, h.basis!.rowStatus)).toBe(true);
    expect(s.solve()).toBe('optimal');
    expect(s.iterations).toBeLessThanOrEqual(2);
    expect(relGap(s.objective, h.objective)).toBeLessThanOrEqual(1e-9);

    // x + y = 10 with x, y ≤ 2 has no solution.
    const b = new LpBuilder('infeasible');
    const row = b.addRow('r', 10, 10);
    b.add(row, b.addCol('x', 1, 0, 2), 1);
    b.add(row, b.addCol('y', 1, 0, 2), 1);
    expect(new BoundedDualSimplex(b.finish().lp).solve()).toBe('infeasible');
  });
});

describe('LP and MPS writers', () => {
  function glpsolObjective(file: string, format: 'lp' | 'mps'): number {
    const out = `${file}.sol`;
    execFileSync('glpsol', [format === 'lp' ? '--lp' : '--freemps', file, '-w', out], { stdio: 'ignore', timeout: 30_000 });
    return Number(execFileSync('grep', ['^s ', out], { encoding: 'utf8' }).trim().split(/\s+/)[6]);
  }

  it('write equality, ranged, one-sided rows and fixed, free, negative bounds that solvers read back identically', async () => {
    const highs = await loadHighs();
    // min -x - 2y + 0.5z + 1e-7 w  s.t.  x + y ∈ [1, 3], x - z ≥ -150, y + z ≤ 7, w - x = 0.25,
    // 0 ≤ x ≤ 2, y ≤ 10, z ∈ [-3, 4], w free, v fixed at 1.5 (no rows).
    const b = new LpBuilder('writers');
    const rr = b.addRow('range', 1, 3);
    const rg = b.addRow('ge', -150, Infinity);
    const rl = b.addRow('le', -Infinity, 7);
    const re = b.addRow('eq', 0.25, 0.25);
    const x = b.addCol('x', -1, 0, 2);
    const y = b.addCol('y', -2, 0, 10);
    const z = b.addCol('z', 0.5, -3, 4);
    const w = b.addCol('w', 1e-7, -Infinity, Infinity);
    b.addCol('v', 2, 1.5, 1.5);
    b.add(rr, x, 1);
    b.add(rr, y, 1);
    b.add(rg, x, 1);
    b.add(rg, z, -1);
    b.add(rl, y, 1);
    b.add(rl, z, 1);
    b.add(re, w, 1);
    b.add(re, x, -1);
    const { lp } = b.finish();
    const ref = solveFromScratch(highs, lp);
    expect(ref.optimal).toBe(true);
    const lpFile = join(dir, 'writers.lp');
    const mpsFile = join(dir, 'writers.mps');
    writeFileSync(lpFile, writeCplexLp(lp, ['comment line']));
    writeFileSync(mpsFile, writeMps(lp, ['comment line']));
    expect(relGap(glpsolObjective(lpFile, 'lp'), ref.objective)).toBeLessThanOrEqual(1e-9);
    expect(relGap(glpsolObjective(mpsFile, 'mps'), ref.objective)).toBeLessThanOrEqual(1e-9);
    const m = highs.createModel({ format: 'lp', data: writeCplexLp(lp) });
    try {
      m.options.set({ output_flag: false });
      m.run();
      expect(relGap(m.getObjectiveValue(), ref.objective)).toBeLessThanOrEqual(1e-12);
    } finally {
      m.dispose();
    }
  });
});

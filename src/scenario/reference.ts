/**
 * Independent check: the year LP exactly as solved, written as CPLEX LP and solved by GLPK's
 * `glpsol` (Debian glpk-utils) with its interior-point method — another implementation and
 * another algorithm than HiGHS's dual simplex. GLPK's simplex takes about a minute on a year of
 * hourly periods; its interior point a few seconds.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LpProblem } from '../coupling/lp/problem.ts';
import { writeCplexLp } from '../coupling/lp/write.ts';

export interface GlpsolResult {
  objective: number;
  status: string;
  wallS: number;
  method: 'interior' | 'simplex';
}

/** Solves the LP with glpsol and returns its objective; throws when glpsol is missing or fails. */
export async function solveWithGlpsol(lp: LpProblem, o: { method?: 'interior' | 'simplex'; timeoutMs?: number } = {}): Promise<GlpsolResult> {
  const method = o.method ?? 'interior';
  const dir = await mkdtemp(join(tmpdir(), 'qs-glpsol-'));
  try {
    const lpFile = join(dir, 'problem.lp');
    const solFile = join(dir, 'solution.txt');
    await writeFile(lpFile, writeCplexLp(lp, ['querstrom scenario year LP (independent check)']));
    const t0 = performance.now();
    const log = await new Promise<string>((resolve, reject) => {
      const args = ['--lp', lpFile, method === 'interior' ? '--interior' : '--simplex', '-w', solFile];
      const child = spawn('glpsol', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 300_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run glpsol (Debian package glpk-utils): ${err.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`glpsol ${signal ? `killed by ${signal}` : `exited with ${code}`}: ${out.split('\n').slice(-5).join(' | ')}`));
      });
    });
    const wallS = (performance.now() - t0) / 1000;
    // First non-comment line: "s ipt ROWS COLS STATUS OBJ" (interior) or "s bas ROWS COLS PST DST OBJ" (simplex).
    const text = await readFile(solFile, 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('s '));
    if (!line) throw new Error(`glpsol wrote no solution line; log: ${log.slice(-300)}`);
    const parts = line.trim().split(/\s+/);
    const objective = Number(parts[parts.length - 1]);
    const status = method === 'interior' ? parts[4]! : `${parts[4]}/${parts[5]}`;
    const optimal = method === 'interior' ? status === 'o' : status === 'f/f';
    if (!optimal || !Number.isFinite(objective)) throw new Error(`glpsol did not find an optimum (status ${status}); log: ${log.slice(-300)}`);
    return { objective, status: 'optimal', wallS, method };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `querstrom scenario` and `querstrom bench scenario` through commander, in this process. */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerBenchScenario } from '../src/cli/commands/bench-scenario.ts';
import { registerScenarioCommand } from '../src/cli/commands/scenario.ts';
import { formatProgress, shippedScenarioDir } from '../src/scenario/index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qs-scenario-cli-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function capture(): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += typeof c === 'string' ? c : Buffer.from(c).toString()), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += typeof c === 'string' ? c : Buffer.from(c).toString()), true));
  return { out: () => out, err: () => err };
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

async function run(args: string[]): Promise<void> {
  const program = new Command('querstrom').exitOverride();
  registerScenarioCommand(program);
  registerBenchScenario(program.command('bench'));
  await program.parseAsync(['node', 'querstrom', ...args]);
}

const week = (co2: number) => `extends: ${join(shippedScenarioDir, 'district-heating-2019.yaml')}
name: week-${co2}
horizon: { from: 2019-02-04, to: 2019-02-11 }
co2PriceEurPerT: ${co2}
`;

describe('querstrom scenario', () => {
  it('run: progress on stderr, summary on stdout, outputs in --out', async () => {
    await writeFile(join(dir, 'week-0.yaml'), week(0));
    const io = capture();
    await run(['scenario', 'run', join(dir, 'week-0.yaml'), '--mode', 'both', '--out', join(dir, 'out-0'), '--window-h', '12']);
    expect(io.err()).toMatch(/\[#+\.*\]\s+\d+%/);
    expect(io.err()).toMatch(/done in/);
    expect(io.out()).toMatch(/week-0 .*content [0-9a-f]{12}/);
    expect(io.out()).toMatch(/gap to perfect foresight/);
    for (const f of ['kpis.json', 'run.json', 'hourly.csv', 'hourly.parquet', 'hourly-rolling.csv', 'report.html', 'charts/dispatch.svg', 'charts/co2-path.svg']) expect(existsSync(join(dir, 'out-0', f)), f).toBe(true);
    const k = JSON.parse(readFileSync(join(dir, 'out-0', 'kpis.json'), 'utf8'));
    expect(k.modes.rolling.rolling.windowH).toBe(12);
  });

  it('compare: a side-by-side table of KPIs with differences, from run directories and scenario files', async () => {
    await writeFile(join(dir, 'week-90.yaml'), week(90));
    const io = capture();
    await run(['scenario', 'compare', join(dir, 'out-0'), join(dir, 'week-90.yaml'), '--svg', join(dir, 'cmp.svg')]);
    const lines = io.out().trim().split('\n');
    expect(lines[0]).toMatch(/^KPI\s+unit\s+week-0\s+week-90\s+Δ week-90\s+Δ% week-90$/);
    const co2Cost = lines.find((l) => l.startsWith('CO2 cost'))!;
    expect(co2Cost).toMatch(/0\.00\s+\d+/);
    expect(lines.some((l) => l.startsWith('levelised cost of heat'))).toBe(true);
    expect(readFileSync(join(dir, 'cmp.svg'), 'utf8')).toMatch(/^<svg /);
  });

  it('validate: errors name the field and exit 1; export-lp writes the year LP', async () => {
    await writeFile(join(dir, 'bad.yaml'), `${week(0)}units:\n  - { id: gas_boiler }\n  - { id: heat_pump }\n  - { id: grid, phaseOut: 2019-02-30 }\n`);
    const io = capture();
    vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Exit(code);
    }) as never);
    await expect(run(['scenario', 'validate', join(dir, 'bad.yaml')])).rejects.toThrow(Exit);
    expect(io.err()).toMatch(/units\[2\]\.phaseOut: expected a year/);
    await run(['scenario', 'validate', join(dir, 'week-0.yaml')]);
    expect(io.out()).toMatch(/valid\. week-0: 1 year\(s\) 2019, 168 periods of 1h/);
    await run(['scenario', 'export-lp', join(dir, 'week-0.yaml'), '--out', join(dir, 'week.lp')]);
    const lp = readFileSync(join(dir, 'week.lp'), 'utf8');
    expect(lp).toMatch(/^\\ querstrom scenario week-0 year 2019/);
    expect(lp).toContain('storage.start');
    expect(lp).toContain('bal.heat.t167');
  });

  it('formats progress with years, windows and time left', () => {
    const line = formatProgress({ fraction: 0.5, phase: 'rolling', year: 2027, yearsDone: 2, yearsTotal: 6, windowsDone: 900, windowsTotal: 2191, elapsedS: 10, etaS: 75 });
    expect(line).toBe('[############............]  50%  rolling horizon 2027 (2/6 years done)  windows 900/2191  ETA 1 min 15 s');
  });
});

describe('querstrom bench scenario', () => {
  it('prints one JSON object last with the issue fields', async () => {
    const io = capture();
    vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    await run(['bench', 'scenario', '--repeat', '1', '--skip-reference', '--json']);
    const last = io.out().trim().split('\n').pop()!;
    const r = JSON.parse(last);
    for (const f of ['hours', 'perfect_foresight_wall_s', 'rolling_wall_s', 'objective', 'reference_objective', 'rel_gap', 'rolling_gap_vs_perfect', 'rss_mb']) expect(r, f).toHaveProperty(f);
    expect(r.hours).toBe(8760);
    expect(r.objective).toBeGreaterThan(1e6);
    expect(r.rolling_gap_vs_perfect).toBeGreaterThan(0);
    expect(r.reference_objective).toBeNull();
  });
});

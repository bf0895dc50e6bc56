import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { benchDispatch } from '../bench/dispatch.ts';
import { registerBenchDispatch } from '../src/cli/commands/bench-dispatch.ts';
import { parseInputsFile, registerDispatchCommand } from '../src/cli/commands/dispatch.ts';
import { dispatchResultSchema } from '../src/coupling/result.ts';

const dir = mkdtempSync(join(tmpdir(), 'qs-dispatch-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function captureStdout(): { text: () => string } {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return { text: () => out };
}

async function run(register: (p: Command) => unknown, args: string[]): Promise<void> {
  const program = new Command('querstrom').exitOverride();
  register(program);
  await program.parseAsync(['node', 'querstrom', ...args]);
}

describe('querstrom dispatch', () => {
  const at = '2026-01-15T07:00:00Z';
  const inputs = join(dir, 'inputs.json');
  writeFileSync(inputs, JSON.stringify({ 'hm-zone01-001': { heat_power: 4000, supply_temp: 95 }, 'hm-zone01-002': { heat_power: 3200, supply_temp: 93 }, 'grid-1': { price: 140 }, 'tes-1': { soc: 80 } }));

  it('parses readings as a list or as device → metric → value, and says what is wrong otherwise', () => {
    expect(parseInputsFile('[{"device":"d","metric":"m","value":1,"ts":5}]', 9)).toEqual([{ device: 'd', metric: 'm', value: 1, ts: 5 }]);
    expect(parseInputsFile('{"d":{"m":2}}', 9)).toEqual([{ device: 'd', metric: 'm', value: 2, ts: 9 }]);
    expect(() => parseInputsFile('{', 0)).toThrow(/not valid JSON/);
    expect(() => parseInputsFile('{"d": 3}', 0)).toThrow(/must be \[\{device, metric, value, ts\?\}/);
  });

  it('once --json prints a DispatchResult that uses the given readings', async () => {
    const out = captureStdout();
    await run(registerDispatchCommand, ['dispatch', 'once', '--city', 'config/demo-city.yaml', '--at', at, '--inputs', inputs, '--json']);
    const r = dispatchResultSchema.parse(JSON.parse(out.text().trim()));
    expect(r.status).toBe('optimal');
    expect(r.buses.zone_north!.demandMw).toBeCloseTo(7.2, 12);
    expect(r.inputs['grid1.importPriceEurPerMWh']).toEqual({ value: 140, state: 'fresh' });
    expect(r.storage.tank1!.socStartMWh).toBeCloseTo(32, 12);
    expect(Object.keys(r.explanations)).toContain('chp1');
  });

  it('export-lp writes the tick problem; glpsol re-solves it to the same objective', async () => {
    let out = captureStdout();
    await run(registerDispatchCommand, ['dispatch', 'once', '--city', 'config/demo-city.yaml', '--at', at, '--inputs', inputs, '--json']);
    const objective = (JSON.parse(out.text().trim()) as { objective: number }).objective;
    vi.restoreAllMocks();
    for (const format of ['lp', 'mps'] as const) {
      const file = join(dir, `demo.${format}`);
      out = captureStdout();
      await run(registerDispatchCommand, ['dispatch', 'export-lp', '--city', 'config/demo-city.yaml', '--at', at, '--inputs', inputs, '--format', format, '--out', file]);
      vi.restoreAllMocks();
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(format === 'lp' ? /^\\ Querstrom dispatch tick 1 of city "demo-city"/ : /^\* Querstrom dispatch tick 1/);
      execFileSync('glpsol', [format === 'lp' ? '--lp' : '--freemps', file, '-w', `${file}.sol`], { stdio: 'ignore' });
      const glpk = Number(execFileSync('grep', ['^s ', `${file}.sol`], { encoding: 'utf8' }).trim().split(/\s+/)[6]);
      expect(Math.abs(glpk - objective) / Math.max(1, Math.abs(objective))).toBeLessThanOrEqual(1e-9);
    }
  });
});

describe('querstrom bench dispatch', () => {
  it('measures the reference city against HiGHS from scratch and prints the JSON fields last', async () => {
    const out = captureStdout();
    vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    await run((p) => registerBenchDispatch(p.command('bench')), ['bench', 'dispatch', '--ticks', '30', '--warmup', '5', '--readings', '20', '--json']);
    const last = out.text().trim().split('\n').pop()!;
    const r = JSON.parse(last) as Record<string, unknown>;
    for (const k of ['units', 'variables', 'constraints', 'tick_p50_us', 'tick_p99_us', 'highs_from_scratch_p50_us', 'speedup', 'max_rel_gap', 'heat_supplied_mean_mw', 'unmet_heat_ticks', 'cpu_s', 'rss_mb']) {
      expect(typeof r[k], k).toBe('number');
    }
    expect(r.reading_to_dispatch_p99_ms as number).toBeGreaterThan(0);
    expect(r.units as number).toBeGreaterThanOrEqual(150);
    expect(r.max_rel_gap as number).toBeLessThanOrEqual(1e-6);
    expect(r.fallbacks).toBe(0);
  });

  it('loads the reference city within its design, and overloads it when asked, saying so', async () => {
    // The first ticks are the night of 7 January: about 37 % of the design peak; five times that is beyond it.
    const design = await benchDispatch({ ticks: 40, warmup: 5, e2eReadings: 0 });
    expect(design.demand_scale).toBe(1);
    expect(design.unmet_heat_ticks).toBe(0);
    expect(design.heat_supplied_mean_mw).toBeGreaterThan(100);
    const overloaded = await benchDispatch({ ticks: 40, warmup: 5, e2eReadings: 0, demandScale: 5 });
    expect(overloaded.unmet_heat_ticks).toBe(40);
    expect(overloaded.unmet_heat_max_mw).toBeGreaterThan(10);
    expect(overloaded.max_rel_gap).toBeLessThanOrEqual(1e-6);
  });

  it('runs on random walks when the shared profiles are absent', async () => {
    const r = await benchDispatch({ ticks: 10, warmup: 2, dataDir: join(dir, 'no-such-dir'), e2eReadings: 0 });
    expect(r.inputs_source).toMatch(/random walk/);
    expect(r.max_rel_gap).toBeLessThanOrEqual(1e-6);
  });
});

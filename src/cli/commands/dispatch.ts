/**
 * `querstrom dispatch`: one dispatch tick from the command line.
 *   dispatch once --city config/demo-city.yaml [--inputs inputs.json] [--json]
 *   dispatch export-lp --city config/demo-city.yaml [--format lp|mps] [--out file] [--inputs inputs.json]
 *
 * inputs.json: readings as the engine receives them after ingest (canonical units), either
 *   [{ "device": "hm-zone01", "metric": "heat_power", "value": 5200, "ts": 1763719200000 }, ...]
 * or { "hm-zone01": { "heat_power": 5200, "supply_temp": 92 }, ... } (ts = now). Inputs without a
 * reading use their configured safe default.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { createDispatchEngine, type DispatchEngine } from '../../coupling/engine.ts';
import { CityConfigError, loadCity } from '../../coupling/model/load.ts';
import type { DispatchResult } from '../../coupling/result.ts';

const readingListSchema = z.array(
  z.object({ device: z.string().min(1), metric: z.string().min(1), value: z.number(), ts: z.number().optional() }).strict(),
);
const readingMapSchema = z.record(z.string(), z.record(z.string(), z.number()));

export interface Reading {
  device: string;
  metric: string;
  value: number;
  ts: number;
}

/** Parses an inputs file (list or device → metric → value map). Throws with the reason. */
export function parseInputsFile(text: string, now: number): Reading[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`inputs file is not valid JSON: ${(err as Error).message}`);
  }
  const list = readingListSchema.safeParse(json);
  if (list.success) return list.data.map((r) => ({ device: r.device, metric: r.metric, value: r.value, ts: r.ts ?? now }));
  const map = readingMapSchema.safeParse(json);
  if (map.success) {
    const out: Reading[] = [];
    for (const [device, metrics] of Object.entries(map.data)) for (const [metric, value] of Object.entries(metrics)) out.push({ device, metric, value, ts: now });
    return out;
  }
  throw new Error('inputs file must be [{device, metric, value, ts?}, ...] or {device: {metric: value}}');
}

interface Common {
  city: string;
  inputs?: string;
  at?: string;
  co2Price?: string;
}

function die(message: string): never {
  process.stderr.write(`querstrom dispatch: ${message}\n`);
  process.exit(1);
}

/** Loads the city, feeds the readings, plans storage, runs one tick. */
async function runOnce(o: Common): Promise<{ engine: DispatchEngine; result: DispatchResult }> {
  let city;
  try {
    city = loadCity(o.city);
  } catch (err) {
    die(err instanceof CityConfigError ? err.message : `cannot load ${o.city}: ${(err as Error).message}`);
  }
  const now = o.at ? Date.parse(o.at) : Date.now();
  if (!Number.isFinite(now)) die(`--at "${o.at}" is not a date`);
  const co2 = o.co2Price !== undefined ? Number(o.co2Price) : undefined;
  if (co2 !== undefined && !(co2 >= 0)) die(`--co2-price must be a non-negative number, got "${o.co2Price}"`);
  const engine = await createDispatchEngine(city, { now: () => now, ...(co2 !== undefined ? { co2PriceEurPerT: co2 } : {}) });
  if (o.inputs) {
    let readings: Reading[];
    try {
      readings = parseInputsFile(readFileSync(o.inputs, 'utf8'), now);
    } catch (err) {
      die(`${o.inputs}: ${(err as Error).message}`);
    }
    for (const r of readings) {
      const out = engine.ingest(r.device, r.metric, r.value, r.ts);
      if ('rejected' in out) process.stderr.write(`reading rejected: ${out.rejected}\n`);
    }
  }
  const result = engine.tick(now);
  return { engine, result };
}

function summary(r: DispatchResult): string {
  const lines = [
    `${r.city} at ${new Date(r.ts).toISOString()}: ${r.status} (${r.solver}, ${r.iterations} iterations, ${r.solveUs.toFixed(0)} µs)`,
    `objective ${r.objective === null ? 'n/a' : r.objective.toFixed(2)} EUR/h; cost ${r.kpis.costEurPerH.toFixed(2)} EUR/h; CO2 ${r.kpis.co2TPerH.toFixed(3)} t/h; heat ${r.kpis.heatSuppliedMw.toFixed(2)} MW (waste heat ${(100 * r.kpis.wasteHeatShare).toFixed(1)} %, fossil ${(100 * r.kpis.fossilShare).toFixed(1)} %); unmet ${r.kpis.unmetDemandMw.toFixed(3)} MW; curtailed ${r.kpis.curtailmentMw.toFixed(3)} MW`,
    `prices: electricity ${r.prices.electricity === null ? 'n/a' : r.prices.electricity.toFixed(2)} EUR/MWh; heat ${Object.entries(r.prices.heat)
      .map(([z, p]) => `${z} ${p.toFixed(2)}`)
      .join(', ')}`,
    ...Object.values(r.explanations).map((e) => `  ${e.text}`),
    ...r.alarms.map((a) => `  [${a.level}] ${a.message}`),
  ];
  return lines.join('\n') + '\n';
}

export function registerDispatchCommand(program: Command): Command {
  const dispatch = program.command('dispatch').description('run the coupling engine for one tick: results, explanations, or the LP itself');
  const common = (c: Command) =>
    c
      .requiredOption('--city <file>', 'city model (YAML)', 'config/demo-city.yaml')
      .option('--inputs <file>', 'readings as JSON (canonical units); missing inputs use their safe defaults')
      .option('--at <time>', 'tick time (ISO 8601); default now')
      .option('--co2-price <eur>', 'CO2 price in EUR/t (overrides the city)');

  common(dispatch.command('once').description('solve one tick and print the dispatch (with --json: one DispatchResult)'))
    .option('--json', 'print the DispatchResult as JSON')
    .action(async (o: Common & { json?: boolean }) => {
      const { engine, result } = await runOnce(o);
      process.stdout.write(o.json ? JSON.stringify(result) + '\n' : summary(result));
      engine.dispose();
    });

  common(dispatch.command('export-lp').description("solve one tick and write its LP (CPLEX LP or free MPS) for an auditor's solver"))
    .option('--format <fmt>', 'lp or mps', 'lp')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (o: Common & { format: string; out?: string }) => {
      if (o.format !== 'lp' && o.format !== 'mps') die(`--format must be lp or mps, got "${o.format}"`);
      const { engine, result } = await runOnce(o);
      const text = engine.exportLp(o.format);
      if (o.out) {
        writeFileSync(o.out, text);
        process.stderr.write(`wrote ${o.out}: ${engine.lastLp().numCols} columns, ${engine.lastLp().numRows} rows; engine objective ${result.objective} EUR/h\n`);
      } else process.stdout.write(text);
      engine.dispose();
    });
  return dispatch;
}

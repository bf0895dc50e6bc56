import type { Command } from 'commander';
import { benchDispatch } from '../../../bench/dispatch.ts';
import { emitBenchResult } from './bench.ts';
import { numberOption } from './common.ts';

/** Adds `querstrom bench dispatch` to the `bench` command. */
export function registerBenchDispatch(bench: Command): Command {
  return bench
    .command('dispatch')
    .description('dispatch tick on the reference city vs HiGHS building and solving the same LP from scratch (same run), then reading → dispatch end to end over MQTT in a real server')
    .option('--city <file>', 'city model', 'config/reference-city.yaml')
    .option('--ticks <n>', 'measured ticks', '2000')
    .option('--warmup <n>', 'ticks run before measuring', '50')
    .option('--step-s <s>', 'simulated seconds between ticks (default: the city tickS)')
    .option('--seed <n>', 'seed for noise and offsets', '42')
    .option('--demand-scale <x>', 'heat demand relative to the zones\' design peak (above 1 overloads the city)', '1')
    .option('--readings <n>', 'end to end: readings published over MQTT to a real server, each timed until its updated dispatch arrives on MQTT (0 skips)', '300')
    .option('--json', 'print the result as JSON on the last line')
    .option('--save', 'also write bench/results/dispatch.json')
    .action(async (o: { city: string; ticks: string; warmup: string; stepS?: string; seed: string; demandScale: string; readings: string; json?: boolean; save?: boolean }) => {
      const num = (name: string, v: string, min: number) => numberOption(name, v, { min });
      const result = await benchDispatch({
        city: o.city,
        ticks: Math.floor(num('ticks', o.ticks, 1)),
        warmup: Math.floor(num('warmup', o.warmup, 0)),
        ...(o.stepS !== undefined ? { stepS: num('step-s', o.stepS, 0.001) } : {}),
        seed: Math.floor(num('seed', o.seed, 0)),
        demandScale: num('demand-scale', o.demandScale, 0),
        e2eReadings: Math.floor(num('readings', o.readings, 0)),
        log: (line) => process.stderr.write(line + '\n'),
      });
      await emitBenchResult('dispatch', result, o);
      process.exit(0);
    });
}

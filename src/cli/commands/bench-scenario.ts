import type { Command } from 'commander';
import { benchScenario } from '../../../bench/scenario.ts';
import { emitBenchResult } from './bench.ts';
import { numberOption } from './common.ts';

/** Adds `querstrom bench scenario` to the `bench` command. */
export function registerBenchScenario(bench: Command): Command {
  return bench
    .command('scenario')
    .description('planning year of the district-heating reference case: perfect foresight and a rolling horizon, checked against glpsol')
    .option('--scenario <file>', 'scenario file (default: config/scenarios/district-heating-2019.yaml)')
    .option('--window-h <h>', 'rolling horizon window (hours committed per step)', '24')
    .option('--overlap-h <h>', 'rolling horizon look-ahead beyond the window', '0')
    .option('--repeat <n>', 'perfect-foresight repetitions (median reported)', '3')
    .option('--cold', 'also time perfect foresight without the chunked warm start')
    .option('--skip-reference', 'do not run glpsol')
    .option('--json', 'print the result as JSON on the last line')
    .option('--save', 'also write bench/results/scenario.json')
    .action(async (o: { scenario?: string; windowH: string; overlapH: string; repeat: string; cold?: boolean; skipReference?: boolean; json?: boolean; save?: boolean }) => {
      const num = (name: string, v: string, min: number) => numberOption(name, v, { min });
      const result = await benchScenario({
        ...(o.scenario ? { scenario: o.scenario } : {}),
        windowH: num('window-h', o.windowH, 1),
        overlapH: num('overlap-h', o.overlapH, 0),
        repeat: Math.floor(num('repeat', o.repeat, 1)),
        cold: o.cold === true,
        skipReference: o.skipReference === true,
        log: (line) => process.stderr.write(line + '\n'),
      });
      await emitBenchResult('scenario', result, o);
      process.exit(0);
    });
}

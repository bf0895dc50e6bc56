import type { Command } from 'commander';
import { benchMemory } from '../../../bench/memory.ts';
import { emitBenchResult } from './bench.ts';
import { fail, numberOption } from './common.ts';

/** Adds `querstrom bench memory` to the `bench` command. */
export function registerBenchMemory(bench: Command): Command {
  return bench
    .command('memory')
    .description('resident set of a real `querstrom serve` with thousands of raw-socket devices connected and publishing QoS 1 (target: ≤ 400 MB steady at 10,000 devices); CPU-seconds per million readings; every acknowledged reading checked in the store')
    .option('--devices <n>', 'simulated devices, each registered with its own credentials', '10000')
    .option('--rate <r>', 'data messages per second per device', '0.1')
    .option('--duration <s>', 'seconds of steady publishing after all devices connected', '60')
    .option('--connect-window <s>', 'devices connect at random times within this many seconds (default: 1 s per 350 devices, at least 2: each first login costs the server a scrypt check)')
    .option('--server-node-args <flags>', 'extra Node/V8 flags for the server process, space-separated (e.g. "--max-old-space-size=512"), to compare tunings')
    .option('--json', 'print the result as JSON on the last line')
    .option('--save', 'also write bench/results/memory.json')
    .action(async (o: { devices: string; rate: string; duration: string; connectWindow?: string; serverNodeArgs?: string; json?: boolean; save?: boolean }) => {
      const devices = numberOption('devices', o.devices, { integer: true, min: 1 });
      const rate = numberOption('rate', o.rate, { above: 0, unit: 'messages per second per device' });
      const durationS = numberOption('duration', o.duration, { above: 0, unit: 'seconds' });
      const connectWindowS = o.connectWindow === undefined ? undefined : numberOption('connect-window', o.connectWindow, { min: 0, unit: 'seconds' });
      const result = await benchMemory({
        devices,
        rate,
        durationS,
        ...(connectWindowS !== undefined ? { connectWindowS } : {}),
        ...(o.serverNodeArgs ? { serverNodeArgs: o.serverNodeArgs.split(/\s+/).filter(Boolean) } : {}),
        log: (line) => process.stderr.write(line + '\n'),
      }).catch((err: Error) => fail(`bench memory failed: ${err.message}`));
      await emitBenchResult('memory', result, o);
      process.exit(0);
    });
}

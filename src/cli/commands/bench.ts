import { mkdir, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { benchIngest } from '../../../bench/ingest.ts';

/** Benchmarks print human lines on stderr and, with --json, one JSON object as the last stdout line. */
export async function emitBenchResult(name: string, result: object, o: { json?: boolean; save?: boolean }): Promise<void> {
  const record = { bench: name, at: new Date().toISOString(), node: process.version, ...result };
  if (o.save) {
    await mkdir('bench/results', { recursive: true });
    await writeFile(`bench/results/${name}.json`, JSON.stringify(record, null, 2) + '\n');
  }
  process.stdout.write(o.json ? JSON.stringify(record) + '\n' : Object.entries(result).map(([k, v]) => `${k}: ${String(v)}`).join('\n') + '\n');
}

export function registerBenchCommand(program: Command): Command {
  const bench = program.command('bench').description('measure speed and footprint; --json prints one JSON object last');
  bench
    .command('ingest')
    .description('raw aedes QoS 1 rate vs the durable ingest pipeline, single and 100-reading messages')
    .option('--messages <n>', 'single-reading messages per run', '40000')
    .option('--batch-messages <n>', '100-reading messages', '6000')
    .option('--clients <n>', 'publishing clients', '20')
    .option('--inflight <n>', 'unacknowledged QoS 1 messages per client', '32')
    .option('--json', 'print the result as JSON on the last line')
    .option('--save', 'also write bench/results/ingest.json')
    .action(async (o: { messages: string; batchMessages: string; clients: string; inflight: string; json?: boolean; save?: boolean }) => {
      const result = await benchIngest({
        messages: Number(o.messages),
        batchMessages: Number(o.batchMessages),
        clients: Number(o.clients),
        inflight: Number(o.inflight),
        log: (line) => process.stderr.write(line + '\n'),
      });
      await emitBenchResult('ingest', result, o);
      process.exit(0);
    });
  return bench;
}

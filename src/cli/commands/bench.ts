import { mkdir, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { benchIngest } from '../../../bench/ingest.ts';
import { INFLUX_ENV } from '../../store/influx/index.ts';
import { fail } from './common.ts';

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
    .description('raw aedes QoS 1 rate vs the durable ingest pipeline, single and 100-reading messages; --store influx adds a store outage')
    .option('--messages <n>', 'single-reading messages per run', '40000')
    .option('--batch-messages <n>', '100-reading messages', '6000')
    .option('--clients <n>', 'publishing clients', '20')
    // 20 clients × 64 in flight stand for ~1,300 gateways with one message each awaiting its durable PUBACK.
    .option('--inflight <n>', 'unacknowledged QoS 1 messages per client', '64')
    .option('--store <kind>', 'duckdb (embedded) or influx', 'duckdb')
    .option('--influx-url <url>', `--store influx: an existing server (token, org, bucket from ${INFLUX_ENV.token}, ${INFLUX_ENV.org}, ${INFLUX_ENV.bucket}); default: start victoria-metrics for the run`)
    .option('--outage-ms <ms>', '--store influx: how long the started store server is stopped during the outage run', '5000')
    .option('--json', 'print the result as JSON on the last line')
    .option('--save', 'also write bench/results/ingest.json (ingest-influx.json with --store influx)')
    .action(async (o: { messages: string; batchMessages: string; clients: string; inflight: string; store: string; influxUrl?: string; outageMs: string; json?: boolean; save?: boolean }) => {
      if (o.store !== 'duckdb' && o.store !== 'influx') fail(`--store must be duckdb or influx, got "${o.store}"`);
      if (o.influxUrl && o.store !== 'influx') fail('--influx-url needs --store influx');
      const outageMs = Number(o.outageMs);
      if (!Number.isInteger(outageMs) || outageMs < 0) fail(`--outage-ms must be a whole number of milliseconds, got "${o.outageMs}"`);
      const result = await benchIngest({
        messages: Number(o.messages),
        batchMessages: Number(o.batchMessages),
        clients: Number(o.clients),
        inflight: Number(o.inflight),
        store: o.store,
        outageMs,
        ...(o.influxUrl
          ? { influx: { url: o.influxUrl, token: process.env[INFLUX_ENV.token] ?? '', org: process.env[INFLUX_ENV.org] ?? 'querstrom', bucket: process.env[INFLUX_ENV.bucket] ?? 'readings' } }
          : {}),
        log: (line) => process.stderr.write(line + '\n'),
      });
      await emitBenchResult(o.store === 'influx' ? 'ingest-influx' : 'ingest', result, o);
      process.exit(0);
    });
  return bench;
}

/**
 * `querstrom bench ingest`: raw aedes publish→subscribe rate versus the durable pipeline,
 * measured in the same run against the same load generator (a child process).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Aedes } from 'aedes';
import { configSchema } from '../src/config/schema.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startServer, type RunningServer } from '../src/server/index.ts';

const run = promisify(execFile);
const generator = new URL('./load-generator.ts', import.meta.url).pathname;

export interface IngestBenchOptions {
  messages: number;
  clients: number;
  inflight: number;
  batchMessages: number;
  log?: (line: string) => void;
}

interface LoadResult { sent: number; acked: number; delivered: number; seconds: number; ackSeconds: number }

async function load(job: object): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', generator, JSON.stringify(job)], { maxBuffer: 1 << 20, timeout: 600_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult;
}

async function rawBrokerRate(o: IngestBenchOptions): Promise<number> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const clients = Array.from({ length: o.clients }, (_, i) => ({ tenant: 'bench', device: `raw-${i}` }));
    const r = await load({ url: `mqtt://127.0.0.1:${port}`, clients, messagesPerClient: Math.ceil(o.messages / o.clients), readingsPerMessage: 1, inflight: o.inflight, subscribe: true });
    if (r.delivered < r.sent) throw new Error(`raw broker delivered ${r.delivered} of ${r.sent}`);
    return r.delivered / r.seconds;
  } finally {
    await new Promise((r) => server.close(r));
    await new Promise<void>((r) => broker.close(() => r()));
  }
}

async function countStored(server: RunningServer, tenant: string, devices: string[]): Promise<number> {
  let total = 0;
  for (const device of devices) {
    const buckets = await server.store.queryAggregate({ tenant, device, metric: 'heat_power', from: 0, to: Date.now() + 86_400_000, bucketMs: 10 * 365 * 86_400_000, fns: ['last'] });
    for (const b of buckets) total += b.count;
  }
  return total;
}

export async function benchIngest(o: IngestBenchOptions) {
  const say = o.log ?? (() => undefined);
  say(`raw aedes QoS 1 publish→subscribe, ${o.messages} messages from ${o.clients} clients…`);
  const raw = await rawBrokerRate(o);
  say(`  ${Math.round(raw)} msg/s`);

  const dataDir = await mkdtemp(join(tmpdir(), 'qs-bench-'));
  const config = configSchema.parse({ dataDir, broker: { tcp: { host: '127.0.0.1', port: 0 }, ws: { enabled: false }, limits: { ratePerDevice: { messagesPerSecond: 1e9, burst: 1e9 } } }, api: { enabled: false }, log: { level: 'warn' } });
  const server = await startServer(config, { log: createLogger('warn') });
  try {
    const tenant = 'bench';
    const devices = Array.from({ length: o.clients }, (_, i) => `dev-${i}`);
    const clients = await Promise.all(devices.map(async (device) => ({ tenant, device, password: (await server.registry.addDevice(tenant, device)).password })));
    const url = `mqtt://127.0.0.1:${server.broker.tcpPort}`;

    say('durable pipeline, one reading per QoS 1 message…');
    const cpu0 = process.cpuUsage();
    const single = await load({ url, clients, messagesPerClient: Math.ceil(o.messages / o.clients), readingsPerMessage: 1, inflight: o.inflight });
    const singleCpu = process.cpuUsage(cpu0);
    const pipelineRate = single.acked / single.ackSeconds;
    say(`  ${Math.round(pipelineRate)} msg/s`);

    say('durable pipeline, 100 readings per QoS 1 message…');
    const cpu1 = process.cpuUsage();
    const batched = await load({ url, clients, messagesPerClient: Math.ceil(o.batchMessages / o.clients), readingsPerMessage: 100, inflight: o.inflight, firstSeq: 1_000_000 });
    const batchedCpu = process.cpuUsage(cpu1);
    const batchedRate = (batched.acked * 100) / batched.ackSeconds;
    say(`  ${Math.round(batchedRate)} readings/s`);

    await server.writer.flush();
    const expected = single.acked + batched.acked * 100;
    const stored = await countStored(server, tenant, devices);
    const cpuS = (singleCpu.user + singleCpu.system + batchedCpu.user + batchedCpu.system) / 1e6;
    return {
      raw_broker_msgs_per_s: Math.round(raw),
      pipeline_msgs_per_s: Math.round(pipelineRate),
      ratio: Number((pipelineRate / raw).toFixed(3)),
      batched_readings_per_s: Math.round(batchedRate),
      acknowledged_readings: expected,
      stored_readings: stored,
      lost: Math.max(0, expected - stored),
      duplicated: Math.max(0, stored - expected),
      cpu_s_per_million_readings: Number(((cpuS / expected) * 1e6).toFixed(2)),
      rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
      messages: o.messages,
      clients: o.clients,
      inflight: o.inflight,
    };
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

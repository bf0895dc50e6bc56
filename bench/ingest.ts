/**
 * `querstrom bench ingest`: raw aedes publish→subscribe rate versus the durable pipeline,
 * measured in the same run against the same load generator (a child process).
 * `--store influx` runs the same against the influx store (victoria-metrics started here unless
 * --influx-url is given) and adds a store outage: how many readings went through the disk
 * spool, and whether any acknowledged reading is missing from the store server afterwards.
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
import { VictoriaMetrics } from '../src/scaleout/testing.ts';
import { INFLUX_ENV, type InfluxStore } from '../src/store/influx/index.ts';

const run = promisify(execFile);
const generator = new URL('./load-generator.ts', import.meta.url).pathname;

export interface IngestBenchOptions {
  messages: number;
  clients: number;
  inflight: number;
  batchMessages: number;
  log?: (line: string) => void;
  /** Default duckdb (embedded). */
  store?: 'duckdb' | 'influx';
  /** influx: an existing server; without it a victoria-metrics is started for the run. */
  influx?: { url: string; token: string; org: string; bucket: string };
  /** influx with a server started here: how long it is stopped during the outage run. */
  outageMs?: number;
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
  return o.store === 'influx' ? benchIngestInflux(o) : benchIngestDuckDb(o);
}

interface PipelineRun {
  raw: number;
  single: LoadResult;
  batched: LoadResult;
  singleRate: number;
  batchedRate: number;
  cpuS: number;
  tenant: string;
  devices: string[];
  clients: Array<{ tenant: string; device: string; password: string }>;
}

/** The raw aedes baseline, then single-reading and 100-reading QoS 1 runs against `server`. */
async function measurePipeline(o: IngestBenchOptions, server: RunningServer, say: (line: string) => void, onBatchedStart?: () => void): Promise<PipelineRun> {
  say(`raw aedes QoS 1 publish→subscribe, ${o.messages} messages from ${o.clients} clients…`);
  const raw = await rawBrokerRate(o);
  say(`  ${Math.round(raw)} msg/s`);

  const tenant = 'bench';
  const devices = Array.from({ length: o.clients }, (_, i) => `dev-${i}`);
  const clients = await Promise.all(devices.map(async (device) => ({ tenant, device, password: (await server.registry.addDevice(tenant, device)).password })));
  const url = `mqtt://127.0.0.1:${server.broker.tcpPort}`;

  say('durable pipeline, one reading per QoS 1 message…');
  const cpu0 = process.cpuUsage();
  const single = await load({ url, clients, messagesPerClient: Math.ceil(o.messages / o.clients), readingsPerMessage: 1, inflight: o.inflight });
  const singleCpu = process.cpuUsage(cpu0);
  const singleRate = single.acked / single.ackSeconds;
  say(`  ${Math.round(singleRate)} msg/s`);

  say('durable pipeline, 100 readings per QoS 1 message…');
  onBatchedStart?.();
  const cpu1 = process.cpuUsage();
  const batched = await load({ url, clients, messagesPerClient: Math.ceil(o.batchMessages / o.clients), readingsPerMessage: 100, inflight: o.inflight, firstSeq: 1_000_000 });
  const batchedCpu = process.cpuUsage(cpu1);
  const batchedRate = (batched.acked * 100) / batched.ackSeconds;
  say(`  ${Math.round(batchedRate)} readings/s`);
  const cpuS = (singleCpu.user + singleCpu.system + batchedCpu.user + batchedCpu.system) / 1e6;
  return { raw, single, batched, singleRate, batchedRate, cpuS, tenant, devices, clients };
}

function benchConfig(dataDir: string, store: 'duckdb' | 'influx') {
  return configSchema.parse({ dataDir, store: { kind: store }, broker: { tcp: { host: '127.0.0.1', port: 0 }, ws: { enabled: false }, limits: { ratePerDevice: { messagesPerSecond: 1e9, burst: 1e9 } } }, api: { enabled: false }, log: { level: 'warn' } });
}

async function benchIngestDuckDb(o: IngestBenchOptions) {
  const say = o.log ?? (() => undefined);
  const dataDir = await mkdtemp(join(tmpdir(), 'qs-bench-'));
  const server = await startServer(benchConfig(dataDir, 'duckdb'), { log: createLogger('warn') });
  try {
    const run = await measurePipeline(o, server, say);
    await server.writer.flush();
    const expected = run.single.acked + run.batched.acked * 100;
    const stored = await countStored(server, run.tenant, run.devices);
    return {
      raw_broker_msgs_per_s: Math.round(run.raw),
      pipeline_msgs_per_s: Math.round(run.singleRate),
      ratio: Number((run.singleRate / run.raw).toFixed(3)),
      batched_readings_per_s: Math.round(run.batchedRate),
      acknowledged_readings: expected,
      stored_readings: stored,
      lost: Math.max(0, expected - stored),
      duplicated: Math.max(0, stored - expected),
      cpu_s_per_million_readings: Number(((run.cpuS / expected) * 1e6).toFixed(2)),
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

/** Raw and distinct samples of `tenant` through victoria-metrics' export API; undefined if the server lacks it. */
async function countInVictoriaMetrics(url: string, tenant: string): Promise<{ raw: number; distinct: number } | undefined> {
  await fetch(`${url}/internal/force_flush`).catch(() => undefined);
  const res = await fetch(`${url}/api/v1/export`, { method: 'POST', body: new URLSearchParams({ 'match[]': `reading_value{tenant="${tenant}",metric="heat_power"}`, start: '0', end: String(Math.floor(Date.now() / 1000) + 10 * 86_400) }) }).catch(() => undefined);
  if (!res?.ok) return undefined;
  let raw = 0;
  let distinct = 0;
  for (const line of (await res.text()).split('\n')) {
    if (!line) continue;
    const { timestamps } = JSON.parse(line) as { timestamps: number[] };
    raw += timestamps.length;
    distinct += new Set(timestamps).size;
  }
  return { raw, distinct };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function benchIngestInflux(o: IngestBenchOptions) {
  const say = o.log ?? (() => undefined);
  const vm = o.influx ? undefined : await VictoriaMetrics.start();
  const target = o.influx ?? { url: vm!.url, token: '', org: 'querstrom', bucket: 'readings' };
  if (vm) say(`victoria-metrics started on ${vm.url} (data in ${vm.dataDir})`);
  // The same QS_INFLUX_* settings `querstrom serve` reads from its environment.
  const env = { ...process.env, [INFLUX_ENV.url]: target.url, [INFLUX_ENV.token]: target.token, [INFLUX_ENV.org]: target.org, [INFLUX_ENV.bucket]: target.bucket };
  const dataDir = await mkdtemp(join(tmpdir(), 'qs-bench-influx-'));
  let server: RunningServer | undefined;
  try {
    server = await startServer(benchConfig(dataDir, 'influx'), { log: createLogger('warn'), env });
    const store = server.store as InfluxStore;

    let batchedStart = 0;
    let writtenAtBatched = 0;
    const run = await measurePipeline(o, server, say, () => {
      batchedStart = performance.now();
      writtenAtBatched = store.stats().written;
    });
    await server.writer.flush();
    const influxSeconds = (performance.now() - batchedStart) / 1000;
    const influxLinesPerS = (store.stats().written - writtenAtBatched) / influxSeconds;
    say(`  influx store: ${Math.round(influxLinesPerS)} lines/s accepted by the server (batched run, until everything was in it)`);

    let outage: { ms: number; acked: number; spooled: number; resent: number } | undefined;
    if (vm) {
      const outageMs = o.outageMs ?? 5_000;
      say(`store outage: single-reading run while the store server is stopped for ${outageMs} ms…`);
      const before = store.stats();
      const url = `mqtt://127.0.0.1:${server.broker.tcpPort}`;
      const loadRun = load({ url, clients: run.clients, messagesPerClient: Math.ceil(o.messages / o.clients), readingsPerMessage: 1, inflight: o.inflight, firstSeq: 3_000_000 });
      await sleep(300);
      const stoppedAt = performance.now();
      await vm.stop('SIGTERM');
      await sleep(Math.max(0, outageMs - (performance.now() - stoppedAt)));
      await vm.start();
      const downMs = performance.now() - stoppedAt;
      const outageLoad = await loadRun;
      await server.writer.flush();
      for (const deadline = Date.now() + 120_000; store.stats().spoolLines > 0 && Date.now() < deadline; ) await sleep(100);
      const after = store.stats();
      outage = { ms: Math.round(downMs), acked: outageLoad.acked, spooled: after.spooled - before.spooled, resent: after.resent - before.resent };
      say(`  ${outage.acked} readings acknowledged during the run, ${outage.spooled} spooled, ${outage.resent} resent from the spool`);
    } else {
      say('store outage skipped: the store server was given with --influx-url, so this run cannot stop it');
    }

    const acknowledged = run.single.acked + run.batched.acked * 100 + (outage?.acked ?? 0);
    const counted = await countInVictoriaMetrics(target.url, run.tenant);
    if (!counted) say('stored readings not counted: the store server has no victoria-metrics export API');
    const stats = store.stats();
    return {
      store: 'influx',
      raw_broker_msgs_per_s: Math.round(run.raw),
      pipeline_msgs_per_s: Math.round(run.singleRate),
      ratio: Number((run.singleRate / run.raw).toFixed(3)),
      batched_readings_per_s: Math.round(run.batchedRate),
      influx_lines_per_s: Math.round(influxLinesPerS),
      outage_ms: outage?.ms ?? null,
      outage_acknowledged_readings: outage?.acked ?? null,
      spooled_readings: outage?.spooled ?? null,
      spool_recovered_readings: outage?.resent ?? null,
      acknowledged_readings: acknowledged,
      stored_readings: counted?.distinct ?? null,
      lost: counted ? Math.max(0, acknowledged - counted.distinct) : null,
      duplicated: counted ? counted.raw - counted.distinct : null,
      influx_write_errors: stats.writeErrors,
      cpu_s_per_million_readings: Number(((run.cpuS / (run.single.acked + run.batched.acked * 100)) * 1e6).toFixed(2)),
      store_server_cpu_s: vm ? Number((await vm.cpuSeconds()).toFixed(1)) : null,
      rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
      messages: o.messages,
      clients: o.clients,
      inflight: o.inflight,
    };
  } finally {
    await server?.close();
    await vm?.remove();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Graceful shutdown under load: SIGTERM during a QoS 1 stream. The process exits 0 well within
 * the drain timeout, and everything it acknowledged is in the store (DuckDB: without replaying
 * the WAL; influx: in the server, or in the spool when the server is down).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/schema.ts';
import { IdentityRegistry } from '../src/identity/index.ts';
import { identityFile } from '../src/server/index.ts';
import { AckedStream, compareStored, VictoriaMetrics, type ExactlyOnceReport, type ExportedSample, type StreamDevice } from '../src/scaleout/testing.ts';
import { openDuckDbStore } from '../src/store/index.ts';
import { INFLUX_SPOOL_SUBDIR } from '../src/store/influx/index.ts';
import { spawnServer, startTestServer, tempDir, waitFor, type SpawnedServer } from './helpers/server.ts';

const TENANT = 'term';
const DRAIN_TIMEOUT_MS = configSchema.parse({}).broker.limits.drainTimeoutMs;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function registerDevices(dataDir: string, n: number): Promise<StreamDevice[]> {
  const registry = await IdentityRegistry.open(identityFile(dataDir));
  const out: StreamDevice[] = [];
  for (let i = 0; i < n; i++) {
    const c = await registry.addDevice(TENANT, `dev-${i}`, 'heat_meter');
    out.push({ tenant: TENANT, device: c.device, password: c.password });
  }
  return out;
}

function influxEnv(vm: VictoriaMetrics): NodeJS.ProcessEnv {
  return { QS_STORE: 'influx', QS_INFLUX_URL: vm.url, QS_INFLUX_TOKEN: '', QS_INFLUX_ORG: 'querstrom', QS_INFLUX_BUCKET: 'readings' };
}

async function spawn(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const s = await spawnServer(['--data-dir', dataDir], env);
  cleanups.push(async () => void s.child.kill('SIGKILL'));
  return s;
}

/** Streams for `ms`, then SIGTERMs the server; acknowledgements up to its exit count. */
async function sigtermDuringStream(server: SpawnedServer, devices: StreamDevice[], ms: number): Promise<{ stream: AckedStream; code: number | null; exitMs: number }> {
  const stream = new AckedStream(`mqtt://127.0.0.1:${server.mqtt}`, devices, { inflight: 8 });
  await stream.start();
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise<number | null>((r) => server.child.once('exit', r));
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  const code = await exited;
  const exitMs = Date.now() - t0;
  stream.close();
  await stream.finished();
  return { stream, code, exitMs };
}

function describeReport(r: ExactlyOnceReport): string {
  return `acked ${r.acked}, stored ${r.stored}, missing ${r.missing.length} ${JSON.stringify(r.missing.slice(0, 5))}, duplicates ${r.duplicates.length} ${JSON.stringify(r.duplicates.slice(0, 5))}, unexpected ${r.unexpected}`;
}

function expectExactlyOnce(r: ExactlyOnceReport): void {
  expect(r.missing, describeReport(r)).toEqual([]);
  expect(r.duplicates, describeReport(r)).toEqual([]);
  expect(r.unexpected, describeReport(r)).toBe(0);
}

describe('SIGTERM during QoS 1 ingest', () => {
  it('embedded store: exits 0 in time, and the store already holds every acknowledged reading', async () => {
    const dir = await tempDir('qs-term-duck-');
    cleanups.push(dir.remove);
    const devices = await registerDevices(dir.path, 4);
    const server = await spawn(dir.path);
    const { stream, code, exitMs } = await sigtermDuringStream(server, devices, 1500);
    expect(code, server.stderr()).toBe(0);
    expect(exitMs).toBeLessThan(DRAIN_TIMEOUT_MS);
    expect(stream.total).toBeGreaterThan(300);

    // The DuckDB file on its own, without the WAL: graceful shutdown moved everything into it.
    const store = await openDuckDbStore({ path: join(dir.path, 'readings.duckdb') });
    const samples: ExportedSample[] = [];
    for (const d of devices) {
      const rows = await store.queryRange({ tenant: TENANT, device: d.device, metric: 'heat_power', from: stream.base, to: stream.base + 10_000_000, limit: 100_000 });
      for (const r of rows) samples.push({ device: r.device, metric: r.metric, unit: r.unit, ts: r.ts, value: r.value });
    }
    await store.close();
    expectExactlyOnce(compareStored(samples, stream.acked, stream.base, stream.sentUpTo()));

    // A restart finds nothing left to apply and stores nothing twice.
    const restarted = await startTestServer(dir.path);
    await restarted.writer.flush();
    const after = await restarted.store.queryRange({ tenant: TENANT, metric: 'heat_power', from: stream.base, to: stream.base + 10_000_000, limit: 100_000 });
    await restarted.close();
    expect(after.length).toBe(samples.length);
  });

  it('influx store: the queue goes into the server, or into the spool while the server is down', async () => {
    const vm = await VictoriaMetrics.start();
    cleanups.push(() => vm.remove());

    // Server up: right after the exit, the server holds everything acknowledged.
    const upDir = await tempDir('qs-term-influx-');
    cleanups.push(upDir.remove);
    const upDevices = await registerDevices(upDir.path, 3);
    const up = await sigtermDuringStream(await spawn(upDir.path, influxEnv(vm)), upDevices, 1500);
    expect(up.code).toBe(0);
    expect(up.exitMs).toBeLessThan(DRAIN_TIMEOUT_MS);
    expect(up.stream.total).toBeGreaterThan(300);
    expectExactlyOnce(compareStored((await vm.samples(TENANT)).filter((s) => s.device.startsWith('dev-')), up.stream.acked, up.stream.base, up.stream.sentUpTo()));

    // Server down: the exit leaves the readings in the spool; they arrive after a restart.
    await vm.stop();
    const downDir = await tempDir('qs-term-spool-');
    cleanups.push(downDir.remove);
    const registry = await IdentityRegistry.open(identityFile(downDir.path));
    const downDevices: StreamDevice[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await registry.addDevice(TENANT, `spool-${i}`, 'heat_meter');
      downDevices.push({ tenant: TENANT, device: c.device, password: c.password });
    }
    const down = await sigtermDuringStream(await spawn(downDir.path, influxEnv(vm)), downDevices, 1500);
    expect(down.code).toBe(0);
    expect(down.exitMs).toBeLessThan(DRAIN_TIMEOUT_MS);
    expect(down.stream.total).toBeGreaterThan(300);
    const spoolDir = join(downDir.path, INFLUX_SPOOL_SUBDIR, 'spool');
    let spoolBytes = 0;
    for (const f of await readdir(spoolDir)) spoolBytes += (await stat(join(spoolDir, f))).size;
    expect(spoolBytes, 'nothing was spooled').toBeGreaterThan(down.stream.total * 40);

    await vm.start();
    const again = await spawn(downDir.path, influxEnv(vm));
    const report = await waitFor(async () => {
      const r = compareStored((await vm.samples(TENANT)).filter((s) => s.device.startsWith('spool-')), down.stream.acked, down.stream.base, down.stream.sentUpTo());
      return r.missing.length === 0 ? r : undefined;
    }, 20_000, 250).catch(() => undefined);
    expect(report, 'spooled readings did not arrive').toBeDefined();
    expectExactlyOnce(report!);
    again.child.kill('SIGTERM');
  });
});

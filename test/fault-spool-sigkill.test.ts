/**
 * The spool survives a kill: with the store server down, `querstrom serve` (QS_STORE=influx)
 * acknowledges QoS 1 data by spooling it to disk; it is SIGKILLed, the store server comes back,
 * the server restarts on the same data dir, and every acknowledged reading arrives, once as a
 * point (see the replay note below).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IdentityRegistry } from '../src/identity/index.ts';
import { identityFile } from '../src/server/index.ts';
import { AckedStream, beyondKillReplay, compareStored, VictoriaMetrics, type ExactlyOnceReport, type StreamDevice } from '../src/scaleout/testing.ts';
import { INFLUX_SPOOL_SUBDIR } from '../src/store/influx/index.ts';
import { spawnServer, tempDir, waitFor } from './helpers/server.ts';

const TENANT = 'spoolkill';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir).catch(() => [] as string[])) n += (await stat(join(dir, f))).size;
  return n;
}

function describeReport(r: ExactlyOnceReport): string {
  return `acked ${r.acked}, stored ${r.stored}, missing ${r.missing.length} ${JSON.stringify(r.missing.slice(0, 5))}, duplicates ${r.duplicates.length} ${JSON.stringify(r.duplicates.slice(0, 5))}, unexpected ${r.unexpected}`;
}

describe('spool across SIGKILL', () => {
  it('delivers every reading acknowledged into the spool after a kill and a restart', async () => {
    const vm = await VictoriaMetrics.start();
    cleanups.push(() => vm.remove());
    const dir = await tempDir('qs-spoolkill-');
    cleanups.push(dir.remove);
    await vm.stop();
    const registry = await IdentityRegistry.open(identityFile(dir.path));
    const devices: StreamDevice[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await registry.addDevice(TENANT, `m-${i}`, 'heat_meter');
      devices.push({ tenant: TENANT, device: c.device, password: c.password });
    }
    const env = { QS_STORE: 'influx', QS_INFLUX_URL: vm.url, QS_INFLUX_TOKEN: '', QS_INFLUX_ORG: 'querstrom', QS_INFLUX_BUCKET: 'readings' };
    const server = await spawnServer(['--data-dir', dir.path], env);
    cleanups.push(async () => void server.child.kill('SIGKILL'));

    const stream = new AckedStream(`mqtt://127.0.0.1:${server.mqtt}`, devices, { inflight: 8 });
    await stream.start();
    const spoolDir = join(dir.path, INFLUX_SPOOL_SUBDIR, 'spool');
    await waitFor(async () => stream.total > 2000 && (await dirBytes(spoolDir)) > 0, 15_000, 50);
    await new Promise((r) => setTimeout(r, 500));
    // Acknowledgements after this line do not count: the kill is the cut.
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGKILL');
    stream.cut();
    await exited;
    stream.close();
    await stream.finished();
    expect(await dirBytes(spoolDir)).toBeGreaterThan(0);

    await vm.start();
    const restarted = await spawnServer(['--data-dir', dir.path], env);
    cleanups.push(async () => void restarted.child.kill('SIGKILL'));
    let report: ExactlyOnceReport | undefined;
    await waitFor(async () => {
      report = compareStored(await vm.samples(TENANT), stream.acked, stream.base, stream.sentUpTo());
      return report.missing.length === 0;
    }, 20_000, 250).catch(() => undefined);
    expect(report!.missing, describeReport(report!)).toEqual([]);
    // A kill between spooling a batch and recording its WAL marker spools that batch again on
    // the restart (same points; InfluxDB keeps one). Anything beyond that one replay fails.
    if (report!.duplicates.length > 0) console.info(`SIGKILL window: ${report!.duplicates.length} reading(s) spooled again after the restart (same points)`);
    expect(beyondKillReplay(report!, 200), describeReport(report!)).toBeNull();
    expect(report!.unexpected).toBe(0);
    expect(report!.acked).toBeGreaterThan(2000);
    await waitFor(async () => (await dirBytes(spoolDir)) === 0, 10_000, 100);

    const stopped = new Promise<number | null>((r) => restarted.child.once('exit', r));
    restarted.child.kill('SIGTERM');
    expect(await stopped).toBe(0);
  });
});

/**
 * Mission reliability case: the production store is down during ingest. `querstrom serve`
 * (QS_STORE=influx → victoria-metrics) takes a steady QoS 1 stream; the store server is stopped
 * for 30 s and started again on the same data dir and port. Acknowledgements never stop, every
 * acknowledged reading arrives once, and the disk spool empties.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { IdentityRegistry } from '../src/identity/index.ts';
import { identityFile } from '../src/server/index.ts';
import { AckedStream, compareStored, VictoriaMetrics, type ExactlyOnceReport, type StreamDevice } from '../src/scaleout/testing.ts';
import { spawnServer, tempDir, waitFor } from './helpers/server.ts';

const TENANT = 'outage';
const OUTAGE_MS = 30_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(apiPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} missing`);
  return Number(line.split(' ')[1]);
}

function describeReport(r: ExactlyOnceReport): string {
  return `acked ${r.acked}, stored ${r.stored}, missing ${r.missing.length} ${JSON.stringify(r.missing.slice(0, 5))}, duplicates ${r.duplicates.length} ${JSON.stringify(r.duplicates.slice(0, 5))}, unexpected ${r.unexpected}`;
}

describe('store outage during ingest', () => {
  it(`spools for ${OUTAGE_MS / 1000} s and delivers every acknowledged reading once when the store returns`, async () => {
    const vm = await VictoriaMetrics.start();
    cleanups.push(() => vm.remove());
    const dir = await tempDir('qs-outage-');
    cleanups.push(dir.remove);
    const registry = await IdentityRegistry.open(identityFile(dir.path));
    const devices: StreamDevice[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await registry.addDevice(TENANT, `gw-${i}`, 'heat_meter');
      devices.push({ tenant: TENANT, device: c.device, password: c.password });
    }
    const server = await spawnServer(['--data-dir', dir.path], { QS_STORE: 'influx', QS_INFLUX_URL: vm.url, QS_INFLUX_TOKEN: '', QS_INFLUX_ORG: 'querstrom', QS_INFLUX_BUCKET: 'readings' });
    cleanups.push(async () => void server.child.kill('SIGKILL'));

    // 5 devices x 40 messages/s, QoS 1.
    const stream = new AckedStream(`mqtt://127.0.0.1:${server.mqtt}`, devices, { inflight: 4, ratePerDevice: 40 });
    await stream.start();
    await sleep(3_000);
    expect(await metric(server.api, 'querstrom_influx_up')).toBe(1);

    await vm.stop('SIGTERM');
    const ackedAtOutage = stream.total;
    await sleep(OUTAGE_MS / 2);
    // Mid-outage: still acknowledging, writes going to the spool.
    expect(stream.total - ackedAtOutage, 'acknowledgements stopped while the store was down').toBeGreaterThan(1000);
    expect(await metric(server.api, 'querstrom_influx_up')).toBe(0);
    expect(await metric(server.api, 'querstrom_influx_spool_bytes')).toBeGreaterThan(0);
    await sleep(OUTAGE_MS / 2);
    const spooledAtReturn = await metric(server.api, 'querstrom_influx_lines_spooled_total');

    await vm.start();
    await sleep(3_000);
    await stream.stop();
    expect(server.child.exitCode, server.stderr()).toBeNull();

    // The spool drains and the server reports the store up again.
    await waitFor(async () => (await metric(server.api, 'querstrom_influx_spool_bytes')) === 0 && (await metric(server.api, 'querstrom_influx_up')) === 1, 30_000, 250);
    expect(await metric(server.api, 'querstrom_influx_lines_resent_total')).toBeGreaterThanOrEqual(spooledAtReturn);

    let report: ExactlyOnceReport | undefined;
    await waitFor(async () => {
      report = compareStored(await vm.samples(TENANT), stream.acked, stream.base, stream.sentUpTo());
      return report.missing.length === 0;
    }, 15_000, 250).catch(() => undefined);
    expect(report!.missing, describeReport(report!)).toEqual([]);
    expect(report!.duplicates, describeReport(report!)).toEqual([]);
    expect(report!.unexpected).toBe(0);
    expect(report!.acked).toBeGreaterThan(6_000);

    const exited = new Promise<number | null>((r) => server.child.once('exit', r));
    server.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);
});

import { afterAll, describe, expect, it } from 'vitest';
import { IdentityRegistry } from '../src/identity/index.ts';
import { identityFile } from '../src/server/index.ts';
import { connectDevice, spawnServer, startTestServer, tempDir } from './helpers/server.ts';

/**
 * Mission reliability case: kill -9 during QoS 1 ingest, restart, and every acknowledged
 * reading is there. The server runs as a real `querstrom serve` process.
 */
describe('durable acknowledgement', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('keeps every acknowledged reading across SIGKILL, exactly once', async () => {
    const dir = await tempDir('qs-kill-');
    cleanups.push(dir.remove);
    const registry = await IdentityRegistry.open(identityFile(dir.path));
    const devices = ['kill-a', 'kill-b', 'kill-c'];
    const creds = await Promise.all(devices.map((d) => registry.addDevice('muni', d, 'heat_meter')));

    const server = await spawnServer(['--data-dir', dir.path]);
    cleanups.push(async () => void server.child.kill('SIGKILL'));
    const acked = new Map<string, Set<number>>(devices.map((d) => [d, new Set()]));
    const base = Date.now() - 3_600_000;
    let killed = false;

    const streams = creds.map(async (c) => {
      const client = await connectDevice(server.mqtt, 'muni', c.device, c.password);
      client.on('error', () => undefined);
      let seq = 0;
      const inflight = async () => {
        while (!killed && seq < 50_000) {
          const s = seq++;
          const payload = JSON.stringify({ seq: s, samples: [{ ts: base + s, metrics: { heat_power: s } }, { ts: base + s, metrics: { flow: 1 } }], units: { heat_power: 'kW', flow: 'm3/h' } });
          try {
            await client.publishAsync(`qs/v1/muni/${c.device}/data`, payload, { qos: 1 });
            if (!killed) acked.get(c.device)!.add(s);
          } catch {
            return;
          }
        }
      };
      await Promise.race([Promise.all(Array.from({ length: 16 }, inflight)), new Promise((r) => setTimeout(r, 3000))]);
      client.end(true);
    });

    await new Promise((r) => setTimeout(r, 1500));
    // An acknowledgement that arrives after this point is not counted: the kill is the cut.
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGKILL');
    killed = true;
    await exited;
    await Promise.all(streams);
    const total = [...acked.values()].reduce((n, s) => n + s.size, 0);
    expect(total).toBeGreaterThan(500);

    const restarted = await startTestServer(dir.path);
    cleanups.push(() => restarted.close());
    await restarted.writer.flush();
    for (const device of devices) {
      const rows = await restarted.store.queryRange({ tenant: 'muni', device, metric: 'heat_power', from: base, to: base + 1_000_000, limit: 100_000 });
      const stored = rows.map((r) => r.ts - base);
      const storedSet = new Set(stored);
      expect(stored.length, `${device}: a reading was stored twice`).toBe(storedSet.size);
      const missing = [...acked.get(device)!].filter((s) => !storedSet.has(s));
      if (missing.length) console.log(device, "stored", stored.length, "max", Math.max(...stored), "acked", acked.get(device)!.size, "missing sample", missing.slice(0, 5), missing.slice(-5));
      expect(missing, `${device}: acknowledged but lost`).toEqual([]);
    }
  }, 60_000);
});

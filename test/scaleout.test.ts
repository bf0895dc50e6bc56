/**
 * Scale-out: two `querstrom serve --broker` workers share one Mosquitto shared-subscription
 * group and one store server (victoria-metrics via the influx store). Every reading lands once,
 * both workers take a share, and a SIGKILLed worker's share waits in its persistent session
 * until it restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckedStream, beyondKillReplay, compareStored, Mosquitto, VictoriaMetrics, type ExactlyOnceReport } from '../src/scaleout/testing.ts';
import { spawnServer, tempDir, waitFor, type SpawnedServer } from './helpers/server.ts';

const TENANT = 'scale';
const WORKER_USER = 'qs-worker';
const WORKER_PASSWORD = 'worker-secret';
const devices = Array.from({ length: 6 }, (_, i) => ({ tenant: TENANT, device: `hm-${i}`, password: `pw-${i}` }));

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

let broker: Mosquitto;
let vm: VictoriaMetrics;

beforeAll(async () => {
  [broker, vm] = await Promise.all([
    Mosquitto.start({ users: [...devices.map((d) => ({ username: `${d.tenant}/${d.device}`, password: d.password })), { username: WORKER_USER, password: WORKER_PASSWORD }], workerUser: WORKER_USER }),
    VictoriaMetrics.start(),
  ]);
  cleanups.push(() => broker.remove(), () => vm.remove());
});

async function startWorker(id: string, dataDir: string): Promise<SpawnedServer> {
  const w = await spawnServer(['--broker', broker.url, '--worker-id', id, '--broker-username', WORKER_USER, '--data-dir', dataDir], {
    QS_STORE: 'influx',
    QS_INFLUX_URL: vm.url,
    QS_INFLUX_TOKEN: '',
    QS_INFLUX_ORG: 'querstrom',
    QS_INFLUX_BUCKET: 'readings',
    QS_BROKER_PASSWORD: WORKER_PASSWORD,
  });
  cleanups.push(async () => void w.child.kill('SIGKILL'));
  return w;
}

async function acked(w: SpawnedServer): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${w.api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('querstrom_worker_messages_acked_total{'));
  if (!line) throw new Error('worker metric querstrom_worker_messages_acked_total missing');
  return Number(line.split(' ').pop());
}

function describeReport(r: ExactlyOnceReport): string {
  return `acked ${r.acked}, stored ${r.stored}, missing ${r.missing.length} ${JSON.stringify(r.missing.slice(0, 5))}, duplicates ${r.duplicates.length} ${JSON.stringify(r.duplicates.slice(0, 5))}, unexpected ${r.unexpected}`;
}

/** Waits until the store holds every acknowledged reading, then compares exactly. */
async function storedExactly(stream: AckedStream, timeoutMs = 20_000): Promise<ExactlyOnceReport> {
  let report: ExactlyOnceReport | undefined;
  try {
    await waitFor(async () => {
      report = compareStored(await vm.samples(TENANT), stream.acked, stream.base, stream.sentUpTo());
      return report.missing.length === 0;
    }, timeoutMs, 250);
  } catch {
    /* the assertions below say what is missing */
  }
  return report!;
}

/**
 * A SIGKILL between the store server accepting a batch and the store recording its WAL marker
 * makes the restart send that batch again: the same points (series, time, value), which InfluxDB
 * stores once and victoria-metrics (deduplication off here) shows twice. Only such a replay of
 * the last batch before the kill is tolerated.
 */
function expectKillReplaysOnly(r: ExactlyOnceReport): void {
  if (r.duplicates.length > 0) console.info(`SIGKILL window: ${r.duplicates.length} reading(s) re-sent after the restart (same points)`);
  expect(beyondKillReplay(r, 200), describeReport(r)).toBeNull();
}

describe('ingest workers behind an external broker', () => {
  it('shares the load between two workers, each reading stored once; a SIGKILLed worker loses nothing it was given', async () => {
    const dirs = [await tempDir('qs-w1-'), await tempDir('qs-w2-')];
    cleanups.push(...dirs.map((d) => d.remove));
    let w1 = await startWorker('w1', dirs[0]!.path);
    const w2 = await startWorker('w2', dirs[1]!.path);

    // Phase 1: 2,040 QoS 1 messages from 6 devices.
    const stream = new AckedStream(broker.url, devices, { inflight: 8 });
    await stream.start(340);
    await stream.finished();
    expect(stream.total).toBe(2040);
    const first = await storedExactly(stream);
    expect(first.missing, describeReport(first)).toEqual([]);
    expect(first.duplicates, describeReport(first)).toEqual([]);
    expect(first.unexpected).toBe(0);
    expect(first.stored).toBe(2040);
    const [a1, a2] = [await acked(w1), await acked(w2)];
    expect(a1, 'worker 1 handled no share').toBeGreaterThan(0);
    expect(a2, 'worker 2 handled no share').toBeGreaterThan(0);
    expect(a1 + a2).toBe(2040);

    // Phase 2: a paced stream; worker 1 is killed in the middle of it.
    const paced = new AckedStream(broker.url, devices, { inflight: 4, base: stream.base, firstSeq: 10_000, ratePerDevice: 150 });
    await paced.start(450);
    await new Promise((r) => setTimeout(r, 1000));
    w1.child.kill('SIGKILL');
    const w2BeforeKill = await acked(w2);
    await paced.finished();
    // The surviving worker kept storing while the other was gone.
    const w2AfterStream = await acked(w2);
    expect(w2AfterStream).toBeGreaterThan(w2BeforeKill);
    await stream.stop();
    await paced.stop();

    w1 = await startWorker('w1', dirs[0]!.path);
    const second = await storedExactly(paced, 30_000);
    expect(second.missing, describeReport(second)).toEqual([]);
    expectKillReplaysOnly(second);
    expect(second.unexpected).toBe(0);
    expect(second.acked).toBe(6 * 450);

    // Phase 1's readings are still there once each, next to phase 2's.
    const all = compareStored(await vm.samples(TENANT), new Map(devices.map((d) => [d.device, new Set([...stream.acked.get(d.device)!, ...paced.acked.get(d.device)!])])), stream.base);
    expect(all.stored, describeReport(all)).toBe(2040 + 6 * 450);
    expect(all.duplicates.filter((d) => d.seq < 10_000)).toEqual([]);

    for (const w of [w1, w2]) {
      const exited = new Promise<number | null>((r) => w.child.once('exit', r));
      w.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 60_000);
});

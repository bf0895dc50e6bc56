/**
 * Scale-out: two `querstrom serve --broker` workers share one Mosquitto shared-subscription
 * group and one store server (victoria-metrics via the influx store). Every reading lands once,
 * both workers take a share, and a SIGKILLed worker's share waits in its persistent session
 * until it restarts.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.ts';
import { resolveWorkerOptions, routeBrokerMessage, SharedSubscriber, sharedFilters } from '../src/scaleout/index.ts';
import { AckedStream, beyondKillReplay, compareStored, Mosquitto, VictoriaMetrics, type ExactlyOnceReport } from '../src/scaleout/testing.ts';
import { spawnServer, tempDir, waitFor, type SpawnedServer } from './helpers/server.ts';

const TENANT = 'scale';
const WORKER_USER = 'qs-worker';
const WORKER_PASSWORD = 'worker-secret';
const devices = Array.from({ length: 6 }, (_, i) => ({ tenant: TENANT, device: `hm-${i}`, password: `pw-${i}` }));
const PROBE = { tenant: 'unit', device: 'probe', password: 'probe-secret' };

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

let broker: Mosquitto;
let vm: VictoriaMetrics;

beforeAll(async () => {
  const started = VictoriaMetrics.start().then((v) => (cleanups.push(() => v.remove()), v));
  broker = await Mosquitto.start({ users: [...[...devices, PROBE].map((d) => ({ username: `${d.tenant}/${d.device}`, password: d.password })), { username: WORKER_USER, password: WORKER_PASSWORD }], workerUser: WORKER_USER }).finally(() => started.catch(() => undefined));
  cleanups.push(() => broker.remove());
  vm = await started;
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

async function metricOf(w: SpawnedServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${w.api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} missing`);
  return Number(line.split(' ')[1]);
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

describe('worker options and routing', () => {
  it('names every bad option at once', () => {
    expect(() => resolveWorkerOptions({ broker: 'http://x:1', workerId: 'a/b', shareGroup: '+', inflight: '0', protocolVersion: '3' }, {})).toThrow(
      /mqtt:\/\/, mqtts:\/\/[\s\S]*--worker-id "a\/b"[\s\S]*--share-group "\+"[\s\S]*--broker-mqtt-version[\s\S]*--broker-inflight/,
    );
    expect(() => resolveWorkerOptions({ broker: 'mqtt://u:p@host:1883' }, {})).toThrow(/must not carry credentials/);
    expect(() => resolveWorkerOptions({ broker: 'mqtt://host' }, { QS_BROKER_PASSWORD: 'x' })).toThrow(/no username/);
    const o = resolveWorkerOptions({ broker: 'mqtt://host:1883', workerId: 'w1' }, { QS_BROKER_USERNAME: 'u', QS_BROKER_PASSWORD: 'p' });
    expect(o).toMatchObject({ brokerUrl: 'mqtt://host:1883', clientId: 'querstrom-querstrom-w1', username: 'u', password: 'p', protocolVersion: 5, shareGroup: 'querstrom' });
    expect(sharedFilters('g')).toEqual(['$share/g/qs/v1/+/+/+', '$share/g/qs/v1/+/+/+/+']);
  });

  it('takes the identity from the topic, skips server traffic, refuses broken topics with a reason', () => {
    expect(routeBrokerMessage('qs/v1/muni/gw1/data', 8)).toMatchObject({ kind: 'device', identity: { tenant: 'muni', device: 'gw1' }, parsed: { kind: 'data' } });
    expect(routeBrokerMessage('qs/v1/muni/gw1/hm2/data', 8)).toMatchObject({ kind: 'device', identity: { tenant: 'muni', device: 'gw1' }, parsed: { subdevice: 'hm2' } });
    expect(routeBrokerMessage('qs/v1/muni/gw1/cmd', 8).kind).toBe('ignore');
    expect(routeBrokerMessage('qs/v1/muni/dispatch/latest', 8).kind).toBe('ignore');
    expect(routeBrokerMessage('qs/v1/muni/gw1/bogus', 8)).toMatchObject({ kind: 'refuse', identity: { tenant: 'muni', device: 'gw1' }, reason: expect.stringMatching(/unknown message kind "bogus"/) });
    expect(routeBrokerMessage('qs/v2/muni/gw1/data', 8)).toMatchObject({ kind: 'refuse', reason: expect.stringMatching(/unsupported topic version/) });
  });
});

describe('durable acknowledgement towards the external broker', () => {
  const log = createLogger('silent');
  // One share group per client: an offline session in the same group would take a share.
  const subscriberOptions = (clientId: string) => ({
    url: broker.url,
    clientId,
    username: WORKER_USER,
    password: WORKER_PASSWORD,
    protocolVersion: 5 as const,
    filters: sharedFilters(`unit-${clientId}`),
    inflight: 50,
    sessionExpirySeconds: 60,
    reconnectPeriodMs: 100,
    log,
  });
  const publishProbe = async (bodies: string[]) => {
    const c = await mqtt.connectAsync(broker.url, { username: `${PROBE.tenant}/${PROBE.device}`, password: PROBE.password, reconnectPeriod: 0 });
    for (const b of bodies) await c.publishAsync(`qs/v1/${PROBE.tenant}/${PROBE.device}/data`, b, { qos: 1 });
    await c.endAsync();
  };

  it('acknowledges only what the handler finished, in arrival order; the rest comes again after a crash', async () => {
    const seen: string[] = [];
    const first = await SharedSubscriber.start(subscriberOptions('ack-order'), (_topic, payload) => {
      seen.push(payload.toString());
      return payload.toString() === 'hold' ? new Promise<void>(() => undefined) : Promise.resolve();
    });
    await publishProbe(['a', 'hold', 'b']);
    await waitFor(() => seen.length === 3, 5_000);
    await waitFor(() => first.stats().acked === 1, 2_000);
    // 'b' is done, but its PUBACK waits behind 'hold' (MQTT orders acknowledgements).
    expect(first.stats()).toMatchObject({ received: 3, acked: 1, inFlight: 1 });
    first.abort();

    const again: string[] = [];
    const second = await SharedSubscriber.start(subscriberOptions('ack-order'), async (_topic, payload) => void again.push(payload.toString()));
    await waitFor(() => again.length >= 2, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(again).toEqual(['hold', 'b']);
    await second.close();
  });

  it('a handler failure withholds the PUBACK and reconnects; the redelivery is acknowledged once handled', async () => {
    let calls = 0;
    const sub = await SharedSubscriber.start(subscriberOptions('ack-fail'), async () => {
      if (++calls === 1) throw new Error('disk full (simulated)');
    });
    await publishProbe(['x']);
    await waitFor(() => sub.stats().acked === 1, 5_000);
    expect(calls).toBe(2);
    expect(sub.stats()).toMatchObject({ failed: 1, connects: 2 });
    await sub.close();
    // Nothing left in the session: a new connection gets no redelivery.
    let late = 0;
    const check = await SharedSubscriber.start(subscriberOptions('ack-fail'), async () => void late++);
    await new Promise((r) => setTimeout(r, 500));
    expect(late).toBe(0);
    await check.close();
  });
});

describe('ingest workers behind an external broker', () => {
  it('shares the load between two workers, each reading stored once; a SIGKILLed worker loses nothing it was given', async () => {
    const dirs = [await tempDir('qs-w1-'), await tempDir('qs-w2-')];
    cleanups.push(...dirs.map((d) => d.remove));
    let w1 = await startWorker('w1', dirs[0]!.path);
    const w2 = await startWorker('w2', dirs[1]!.path);
    // A worker has no MQTT listener: its served contract names none, and says where gateways connect.
    const doc = (await (await fetch(`http://127.0.0.1:${w2.api}/asyncapi.json`)).json()) as { servers: object; info: { description: string } };
    expect(doc.servers).toEqual({});
    expect(doc.info.description).toContain("connect to the deployment's own broker");

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

    // Bad input through the external broker: dead-lettered by whichever worker got it, and the
    // device hears why on its command topic (the worker user may write there, the device read).
    const dev = devices[0]!;
    const probe = await mqtt.connectAsync(broker.url, { username: `${dev.tenant}/${dev.device}`, password: dev.password, reconnectPeriod: 0 });
    await probe.subscribeAsync(`qs/v1/${dev.tenant}/${dev.device}/cmd`, { qos: 1 });
    const notice = new Promise<{ type: string; reason: string }>((r) => probe.once('message', (_t, p) => r(JSON.parse(p.toString()))));
    await probe.publishAsync(`qs/v1/${dev.tenant}/${dev.device}/data`, '{not json', { qos: 1 });
    expect(await notice).toMatchObject({ type: 'reject', reason: expect.stringMatching(/JSON/i) });
    await probe.endAsync();
    expect((await metricOf(w1, 'querstrom_dead_letters_total')) + (await metricOf(w2, 'querstrom_dead_letters_total'))).toBe(1);

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

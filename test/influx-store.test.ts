/**
 * The influx store against a real server: Debian's victoria-metrics, which implements
 * InfluxDB's /api/v2/write, started here on 127.0.0.1 with a temp data dir. Data is read back
 * raw through /api/v1/export (VictoriaMetrics keeps duplicate samples unless deduplication is
 * switched on, so a line sent twice shows up twice).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInfluxStore, QueryNotSupportedError, readingToLine, type InfluxStore, type StoreLog } from '../src/store/influx/index.ts';
import type { Reading } from '../src/store/types.ts';
import { freePort, until, VictoriaMetrics } from '../src/scaleout/testing.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qs-influx-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every sample of the tenant grouped by device|metric|unit, as [ts, value] pairs. */
async function samplesOf(vm: VictoriaMetrics, tenant: string): Promise<Map<string, Array<[number, number]>>> {
  const out = new Map<string, Array<[number, number]>>();
  for (const s of await vm.samples(tenant)) {
    const key = `${s.device}|${s.metric}|${s.unit}`;
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push([s.ts, s.value]);
  }
  return out;
}

/** Polls until at least `expected` samples are visible, then returns them. */
function waitForSamples(vm: VictoriaMetrics, tenant: string, expected: number, timeoutMs = 20_000): Promise<Map<string, Array<[number, number]>>> {
  return until(`${expected} samples of ${tenant}`, async () => {
    const s = await samplesOf(vm, tenant);
    let n = 0;
    for (const list of s.values()) n += list.length;
    return n >= expected ? s : undefined;
  }, timeoutMs, 200);
}

async function startVm(): Promise<VictoriaMetrics> {
  const vm = await VictoriaMetrics.start();
  cleanups.push(() => vm.remove());
  return vm;
}

/** `n` readings from index `from`: 4 devices x 3 metrics, distinct timestamps per series, value encodes the index. */
function makeReadings(tenant: string, from: number, n: number, baseTs: number): Reading[] {
  const out: Reading[] = [];
  for (let i = from; i < from + n; i++) {
    out.push({ tenant, device: `gw${i % 4}/hm${i % 2}`, metric: ['heat_power', 'supply_temp', 'flow'][i % 3]!, unit: ['kW', 'degC', 'm3/h'][i % 3]!, ts: baseTs + i, value: i * 0.5 + 0.25 });
  }
  return out;
}

/** Asserts the exported samples are exactly the readings: each once, with its value. */
function expectExactly(samples: Map<string, Array<[number, number]>>, readings: readonly Reading[]): void {
  const seen = new Map<string, number>();
  for (const [key, list] of samples) {
    for (const [ts, value] of list) {
      const k = `${key}|${ts}`;
      expect(seen.has(k), `sample ${k} stored twice`).toBe(false);
      seen.set(k, value);
    }
  }
  expect(seen.size).toBe(readings.length);
  for (const r of readings) expect(seen.get(`${r.device}|${r.metric}|${r.unit}|${r.ts}`), `${r.device} ${r.metric} ${r.ts}`).toBe(r.value);
}

function captureLog(): StoreLog & { entries: Array<{ level: string; msg: string; obj: object }> } {
  const entries: Array<{ level: string; msg: string; obj: object }> = [];
  const at = (level: string) => (obj: object, msg?: string) => entries.push({ level, msg: msg ?? '', obj });
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

async function metricValue(reg: Registry, name: string): Promise<number> {
  const m = await reg.getSingleMetricAsString(name);
  const line = m.split('\n').find((l) => l.startsWith(name + ' '));
  if (!line) throw new Error(`metric ${name} has no value: ${m}`);
  return Number(line.split(' ')[1]);
}

/** An HTTP server on 127.0.0.1 that hands each request to `handle`. */
async function httpServer(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => handle(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const influxOpts = { token: 'test-token', org: 'querstrom', bucket: 'readings' };
const baseTs = Date.now() - 3_600_000;

describe('influx store against victoria-metrics', () => {
  let vm: VictoriaMetrics;
  beforeAll(async () => {
    vm = await startVm();
  });

  it('writes N readings, each visible exactly once with its value; markers and dead letters persist', async () => {
    const dir = await tempDir();
    const reg = new Registry();
    const store = await openInfluxStore({ url: vm.url, ...influxOpts, spoolDir: dir, batchLines: 2_000, metrics: reg });
    expect(store.kind).toBe('influx');
    const readings = makeReadings('t-basic', 0, 30_000, baseTs);
    for (let i = 0; i < readings.length; i += 3_000) await store.writeReadings(readings.slice(i, i + 3_000), { segment: 1, batch: i / 3_000 });
    // Tag escaping survives the round trip (spaces, commas, equals signs).
    const odd: Reading = { tenant: 't-basic', device: 'gw 9,a=b', metric: 'odd metric', unit: 'kW', ts: baseTs, value: -0.125 };
    await store.writeReadings([odd]);

    const stats = store.stats();
    expect(stats).toMatchObject({ written: 30_001, spooled: 0, resent: 0, failed: 0, queued: 0, inFlight: 0, spoolBytes: 0, serverUp: true });
    expect(await metricValue(reg, 'querstrom_influx_lines_written_total')).toBe(30_001);
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 1, batch: 9 }]);
    expect(await store.healthy()).toBe(true);

    expectExactly(await waitForSamples(vm, 't-basic', 30_001), [...readings, odd]);

    // Bad input: a clear error, nothing half-written, the store keeps working.
    await expect(store.writeReadings([{ ...odd, value: Number.NaN }])).rejects.toThrow(/value must be a finite number/);
    await expect(store.writeReadings([odd], { segment: 1.5, batch: 0 })).rejects.toThrow(/walMarker/);
    expect(store.stats().written).toBe(30_001);

    await expect(store.queryRange({ tenant: 't', from: 0, to: 1 })).rejects.toBeInstanceOf(QueryNotSupportedError);
    await expect(store.latest({ tenant: 't' })).rejects.toThrow(/not supported by the influx store; query InfluxDB/);
    await expect(store.queryAggregate({ tenant: 't', device: 'd', metric: 'm', from: 0, to: 1, bucketMs: 1000, fns: ['avg'] })).rejects.toThrow(/not supported/);

    const letter = { tenant: 't-basic', device: 'gw1', topic: 'qs/v1/t-basic/gw1/data', receivedAt: 1_000, reason: 'samples[0].ts: expected number', excerpt: '{"seq":1' };
    await store.writeDeadLetters([letter, { ...letter, receivedAt: 2_000 }, { ...letter, tenant: 'other', receivedAt: 3_000 }]);
    expect((await store.deadLetters({ tenant: 't-basic' })).map((l) => l.receivedAt)).toEqual([2_000, 1_000]);

    // close() flushes a write that is still in flight.
    const late = store.writeReadings(makeReadings('t-basic', 30_000, 500, baseTs));
    await store.close();
    await expect(late).resolves.toBeUndefined();
    await expect(store.writeReadings(readings.slice(0, 1))).rejects.toThrow(/closed/);

    const again = await openInfluxStore({ url: vm.url, ...influxOpts, spoolDir: dir, metrics: reg });
    expect(await again.appliedWalMarkers()).toEqual([{ segment: 1, batch: 9 }]);
    expect(await again.deadLetters({ tenant: 't-basic', since: 1_500 })).toEqual([{ ...letter, receivedAt: 2_000 }]);
    expect(await again.applyRetention(2_500)).toBe(2);
    expect(await again.deadLetters({ tenant: 'other' })).toHaveLength(1);
    expect(await again.deadLetters({ tenant: 't-basic' })).toEqual([]);
    await again.close();
    expectExactly(await waitForSamples(vm, 't-basic', 30_501), [...readings, odd, ...makeReadings('t-basic', 30_000, 500, baseTs)]);
  });

  it('404 trap: a server answering 404 gets nothing counted as written; everything is spooled and later resent once', async () => {
    let requests = 0;
    let linesSeen = 0;
    const notFound = await httpServer((_req, body, res) => {
      requests++;
      linesSeen += body.split('\n').filter((l) => l.startsWith('reading,')).length;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"not found","message":"bucket \\"readings\\" not found"}');
    });
    const dir = await tempDir();
    const reg = new Registry();
    const log = captureLog();
    const store = await openInfluxStore({ url: notFound.url, ...influxOpts, spoolDir: dir, batchLines: 500, probeMinMs: 50, probeMaxMs: 100, metrics: reg, log });
    const readings = makeReadings('t-404', 0, 3_000, baseTs);
    await Promise.all([store.writeReadings(readings.slice(0, 1_000)), store.writeReadings(readings.slice(1_000, 2_000))]);
    await store.writeReadings(readings.slice(2_000));
    await sleep(300); // a few resend probes, all answered 404

    const s = store.stats();
    expect(requests).toBeGreaterThan(0);
    expect(linesSeen).toBeGreaterThan(0); // the lines really went to the server
    expect(s).toMatchObject({ written: 0, resent: 0, spooled: 3_000, spoolLines: 3_000, serverUp: false });
    expect(s.spoolBytes).toBeGreaterThan(3_000 * 50);
    expect(await metricValue(reg, 'querstrom_influx_lines_written_total')).toBe(0);
    expect(await metricValue(reg, 'querstrom_influx_lines_resent_total')).toBe(0);
    expect(await metricValue(reg, 'querstrom_influx_lines_spooled_total')).toBe(3_000);
    expect(await metricValue(reg, 'querstrom_influx_write_errors_total')).toBeGreaterThanOrEqual(2);
    expect(await metricValue(reg, 'querstrom_influx_spool_bytes')).toBe(s.spoolBytes);
    expect(log.entries.some((e) => e.level === 'warn' && /HTTP 404/.test(String((e.obj as { reason?: string }).reason)))).toBe(true);
    expect(await store.healthy()).toBe(true); // the spool still takes writes
    await store.close();

    // A server that takes two batches and then fails: those two are marked resent (fsynced) and
    // must never be sent again, not even after a restart.
    let accepted = 0;
    const flakyLines = new Set<string>();
    const flaky = await httpServer((_req, body, res) => {
      if (accepted < 2) {
        accepted++;
        for (const l of body.split('\n')) flakyLines.add(l);
        res.writeHead(204).end();
      } else res.writeHead(503).end('overloaded');
    });
    const partly = await openInfluxStore({ url: flaky.url, ...influxOpts, spoolDir: dir, probeMinMs: 50, probeMaxMs: 100 });
    await until('two batches resent', () => (partly.stats().resent === 1_000 && !partly.stats().serverUp ? true : undefined));
    expect(partly.stats().spoolLines).toBe(2_000);
    await partly.close();
    expect(flakyLines.size).toBe(1_000);

    // Pointed at the right server, the rest of the spool drains, in order, each batch once.
    const fixed = await openInfluxStore({ url: vm.url, ...influxOpts, spoolDir: dir, metrics: reg });
    await until('spool drained', () => (fixed.stats().spoolBytes === 0 ? true : undefined));
    expect(fixed.stats()).toMatchObject({ resent: 2_000, spoolLines: 0, written: 0 });
    expect(await readdir(join(dir, 'spool'))).toEqual([]);
    await fixed.close();
    const rest = readings.filter((r) => !flakyLines.has(readingToLine(r)));
    expect(rest).toHaveLength(2_000);
    expectExactly(await waitForSamples(vm, 't-404', 2_000), rest);
  });

  it('backpressure: writeReadings awaits while the queue is full, and the bound holds', async () => {
    let hold = true;
    const held: Array<() => void> = [];
    const received: string[] = [];
    const slow = await httpServer((_req, body, res) => {
      const answer = () => {
        received.push(...body.split('\n'));
        res.writeHead(204).end();
      };
      if (hold) held.push(answer);
      else answer();
    });
    const dir = await tempDir();
    const maxQueueLines = 1_000;
    const store = await openInfluxStore({ url: slow.url, ...influxOpts, spoolDir: dir, maxQueueLines, batchLines: 100, concurrency: 1, flushIntervalMs: 0 });
    const readings = makeReadings('t-bp', 0, 4_500, baseTs);
    let resolved = 0;
    let maxQueued = 0;
    const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, store.stats().queued)), 1);
    const calls = [];
    for (let i = 0; i < 20; i++) calls.push(store.writeReadings(readings.slice(i * 100, i * 100 + 100)).then(() => resolved++));
    calls.push(store.writeReadings(readings.slice(2_000)).then(() => resolved++)); // one call bigger than the whole queue

    await until('first batch at the server', () => (held.length === 1 ? true : undefined));
    await sleep(100);
    const s = store.stats();
    expect(s.inFlight).toBe(100);
    expect(s.queued).toBe(maxQueueLines);
    expect(s.waitingCalls).toBeGreaterThanOrEqual(10); // 9 small calls and the big one cannot enqueue
    expect(resolved).toBe(0);

    hold = false;
    for (const answer of held.splice(0)) answer();
    await Promise.all(calls);
    clearInterval(sampler);
    expect(resolved).toBe(21);
    expect(maxQueued).toBeLessThanOrEqual(maxQueueLines);
    expect(new Set(received).size).toBe(4_500);
    expect(received.length).toBe(4_500);
    expect(new Set(received)).toEqual(new Set(readings.map(readingToLine)));
    expect(store.stats()).toMatchObject({ written: 4_500, spooled: 0, queued: 0, waitingCalls: 0 });
    await store.close();
  });

  it('lines the server refuses as invalid (400) are kept in rejected.lp, counted as failed, never retried', async () => {
    let requests = 0;
    const strict = await httpServer((_req, _body, res) => {
      requests++;
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":"invalid","message":"unable to parse line"}');
    });
    const dir = await tempDir();
    const reg = new Registry();
    const store = await openInfluxStore({ url: strict.url, ...influxOpts, spoolDir: dir, batchLines: 100, probeMinMs: 20, metrics: reg });
    const readings = makeReadings('t-400', 0, 250, baseTs);
    await store.writeReadings(readings, { segment: 4, batch: 0 });
    await sleep(100);
    expect(requests).toBe(3); // three batches, no retries
    expect(store.stats()).toMatchObject({ written: 0, spooled: 0, failed: 250, spoolBytes: 0, serverUp: true });
    expect(await metricValue(reg, 'querstrom_influx_lines_rejected_total')).toBe(250);
    const kept = readFileSync(join(dir, 'rejected.lp'), 'utf8').split('\n').filter((l) => l.startsWith('reading,'));
    expect(new Set(kept)).toEqual(new Set(readings.map(readingToLine)));
    expect(readFileSync(join(dir, 'rejected.lp'), 'utf8')).toMatch(/^# .*HTTP 400 .*unable to parse line/m);
    await store.close();
  });

  it('rejects writes only when the spool cannot take them (spool full), so the WAL keeps them', async () => {
    const dir = await tempDir();
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const store = await openInfluxStore({ url: deadUrl, ...influxOpts, spoolDir: dir, batchLines: 100, maxSpoolBytes: 30_000, probeMinMs: 10_000 });
    const readings = makeReadings('t-full', 0, 2_000, baseTs);
    await store.writeReadings(readings.slice(0, 100));
    expect(store.stats()).toMatchObject({ spooled: 100, serverUp: false });
    let error: Error | undefined;
    for (let i = 100; i < 2_000 && !error; i += 100) await store.writeReadings(readings.slice(i, i + 100)).catch((e: Error) => (error = e));
    expect(error?.message).toMatch(/influx spool is full/);
    expect(store.stats().spoolBytes).toBeLessThanOrEqual(30_000);
    expect(await store.healthy()).toBe(false);
    await store.close();
  });
});

describe('influx store: outage and crash', () => {
  it('store down mid-stream: writes keep resolving through the spool; after the restart every reading arrives once', async () => {
    const vm = await startVm();
    const dir = await tempDir();
    const reg = new Registry();
    const store = await openInfluxStore({ url: vm.url, ...influxOpts, spoolDir: dir, batchLines: 1_000, probeMinMs: 100, probeMaxMs: 800, timeoutMs: 2_000, metrics: reg });
    const tenant = 't-outage';
    const perCall = 500;
    const written: Reading[] = [];
    let resolvedWhileDown = 0;
    let down = false;
    let stop = false;

    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const batch = makeReadings(tenant, i * perCall, perCall, baseTs);
        await store.writeReadings(batch, { segment: 2, batch: i });
        written.push(...batch);
        if (down) resolvedWhileDown++;
        await sleep(20);
      }
    })();

    await sleep(1_000);
    await vm.stop('SIGTERM');
    down = true;
    await sleep(6_000);
    const during = store.stats();
    await vm.start(); // same data dir, same port
    down = false;
    await sleep(1_500);
    stop = true;
    await writer;

    expect(resolvedWhileDown).toBeGreaterThan(20);
    expect(during.serverUp).toBe(false);
    expect(during.spooled).toBeGreaterThan(resolvedWhileDown * perCall * 0.9);
    await until('spool drained', () => (store.stats().spoolBytes === 0 && store.stats().spoolLines === 0 ? true : undefined), 20_000);
    const s = store.stats();
    expect(s.serverUp).toBe(true);
    expect(s.written + s.spooled).toBe(written.length);
    expect(s.resent).toBe(s.spooled);
    expect(await metricValue(reg, 'querstrom_influx_spool_bytes')).toBe(0);
    expect(await metricValue(reg, 'querstrom_influx_lines_resent_total')).toBe(s.spooled);
    await store.close();
    expectExactly(await waitForSamples(vm, tenant, written.length), written);
  });

  it('SIGKILL with a full spool: a new store on the same spool dir resends everything acknowledged, once; torn tails are cut', async () => {
    const dir = await tempDir();
    const port = await freePort(); // nothing listens here yet
    const script = join(dir, 'spool-writer.mts'); // .mts: the temp dir has no package.json saying "module"
    await writeFile(
      script,
      `import { openInfluxStore } from ${JSON.stringify(join(projectRoot, 'src/store/influx/index.ts'))};
const [spoolDir, url, baseTs] = process.argv.slice(2);
const store = await openInfluxStore({ url, token: 't', org: 'o', bucket: 'b', spoolDir, batchLines: 250, probeMinMs: 60000, timeoutMs: 1000 });
for (let i = 0; ; i++) {
  const readings = [];
  for (let j = i * 250; j < (i + 1) * 250; j++) readings.push({ tenant: 't-kill', device: 'gw' + (j % 5), metric: 'heat_power', unit: 'kW', ts: Number(baseTs) + j, value: j });
  await store.writeReadings(readings, { segment: 3, batch: i });
  process.stdout.write('acked ' + (i + 1) * 250 + '\\n');
}
`,
    );
    const spoolDir = join(dir, 'spool-store');
    const child = spawn(process.execPath, ['--import', 'tsx', script, spoolDir, `http://127.0.0.1:${port}`, String(baseTs)], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(async () => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let acked = 0;
    createInterface({ input: child.stdout! }).on('line', (l) => (acked = Number(l.split(' ')[1])));
    await until(() => `child acks (${stderr})`, () => (acked >= 5_000 ? true : undefined), 30_000, 20);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const ackedAtKill = acked;

    // A torn tail, as a crash in the middle of an append leaves it: a whole frame whose payload
    // never fully reached the disk (length fits, CRC does not).
    const segments = (await readdir(join(spoolDir, 'spool'))).sort();
    expect(segments.length).toBeGreaterThan(0);
    const payload = Buffer.from(`reading,tenant=t-kill,device=torn,metric=heat_power,unit=kW value=1 ${baseTs}`);
    const torn = Buffer.alloc(20 + payload.length);
    torn.write('QSP1', 0, 'latin1');
    torn.writeUInt32LE(payload.length, 4);
    torn.writeUInt32LE(1, 8);
    torn.writeUInt32LE(0xdeadbeef, 12); // not the payload's CRC
    payload.copy(torn, 20);
    await appendFile(join(spoolDir, 'spool', segments.at(-1)!), torn);

    const vm = await VictoriaMetrics.start({ port });
    cleanups.push(() => vm.remove());
    const log = captureLog();
    const store: InfluxStore = await openInfluxStore({ url: vm.url, ...influxOpts, spoolDir, log });
    const markers = await store.appliedWalMarkers();
    expect(markers[0]!.batch).toBeGreaterThanOrEqual(ackedAtKill / 250 - 1);
    await until('spool drained', () => (store.stats().spoolBytes === 0 ? true : undefined), 20_000);
    expect(log.entries.some((e) => e.level === 'warn' && /torn tail/.test(e.msg))).toBe(true);
    const resent = store.stats().resent;
    expect(resent).toBeGreaterThanOrEqual(ackedAtKill);
    expect(resent % 250).toBe(0); // whole batches only
    await store.close();

    // Every acknowledged reading is there exactly once; batches spooled but not yet acknowledged may be there too, also once.
    const samples = await waitForSamples(vm, 't-kill', resent);
    const expected: Reading[] = [];
    for (let j = 0; j < resent; j++) expected.push({ tenant: 't-kill', device: 'gw' + (j % 5), metric: 'heat_power', unit: 'kW', ts: baseTs + j, value: j });
    expectExactly(samples, expected);

    // Reopening finds nothing left to send.
    const third = await openInfluxStore({ url: vm.url, ...influxOpts, spoolDir });
    expect(third.stats()).toMatchObject({ spoolLines: 0, spoolBytes: 0 });
    await third.close();
  });
});

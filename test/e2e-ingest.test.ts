import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/index.ts';
import { api, connectDevice, startTestServer, tempDir, waitFor } from './helpers/server.ts';

const execFileAsync = promisify(execFile);

/** The whole ingest path over real sockets: broker → validation → WAL → DuckDB → HTTP API. */
describe('gateway to store, end to end', () => {
  let server: RunningServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let mqttPort: number;
  let apiPort: number;
  const creds: Record<string, { username: string; password: string }> = {};
  const tokens: Record<string, string> = {};
  const clients: MqttClient[] = [];

  const connect = async (tenant: string, device: string, opts = {}) => {
    const c = await connectDevice(mqttPort, tenant, device, creds[`${tenant}/${device}`]!.password, opts);
    clients.push(c);
    return c;
  };
  const deadLetters = async (tenant: string, device: string) =>
    (await api(apiPort, `/api/v1/dead-letters?device=${device}`, tokens[tenant]!)).body.deadLetters as Array<{ reason: string; topic: string; excerpt: string }>;

  beforeAll(async () => {
    dir = await tempDir('qs-e2e-');
    // A non-default limit, to see the served contract quote this server's settings.
    server = await startTestServer(dir.path, { broker: { limits: { maxPacketBytes: 128 * 1024 } } });
    mqttPort = server.broker.tcpPort!;
    apiPort = server.apiPort!;
    for (const [tenant, device] of [['stadt-a', 'hm-1'], ['stadt-a', 'hm-2'], ['stadt-a', 'foreign-1'], ['stadt-b', 'hm-1']] as const) {
      creds[`${tenant}/${device}`] = await server.registry.addDevice(tenant, device, 'heat_meter');
    }
    tokens['stadt-a'] = (await server.registry.addToken('stadt-a', 'read')).token;
    tokens['stadt-b'] = (await server.registry.addToken('stadt-b', 'read')).token;
  });

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await server?.close();
    await dir?.remove();
  });

  it('stores a valid batch with normalised units and reports it through the API', async () => {
    const c = await connect('stadt-a', 'hm-1');
    await c.publishAsync('qs/v1/stadt-a/hm-1/birth', JSON.stringify({ type: 'heat_meter', firmware: '1.0.0', interval_s: 10, metrics: { heat_power: { unit: 'MW' }, supply_temp: { unit: 'K' } } }), { qos: 1 });
    const t0 = Date.now() - 60_000;
    await c.publishAsync('qs/v1/stadt-a/hm-1/data', JSON.stringify({ seq: 1, samples: [{ ts: t0, metrics: { heat_power: 1.25, supply_temp: 351.15 } }, { ts: t0 + 10_000, metrics: { heat_power: 1.5 } }] }), { qos: 1 });
    // The PUBACK came after the WAL fsync; the store gets it a moment later.
    const series = await waitFor(async () => {
      const r = await api(apiPort, `/api/v1/series?device=hm-1&metric=heat_power&from=${t0 - 1}`, tokens['stadt-a']!);
      return r.body.readings?.length === 2 ? r.body.readings : undefined;
    });
    expect(series.map((r: { value: number; unit: string }) => [r.value, r.unit])).toEqual([[1250, 'kW'], [1500, 'kW']]);
    const latest = await api(apiPort, '/api/v1/latest?device=hm-1&metric=supply_temp', tokens['stadt-a']!);
    expect(latest.body.readings[0].value).toBeCloseTo(78, 6);
    expect(latest.body.readings[0].unit).toBe('degC');
    const device = await api(apiPort, '/api/v1/devices/hm-1', tokens['stadt-a']!);
    expect(device.body).toMatchObject({ status: 'online', type: 'heat_meter', firmware: '1.0.0', messages: 1, readings: 3, rejects: 0 });
  });

  it('drops duplicate sequence numbers and accepts late, out-of-order ones', async () => {
    const c = await connect('stadt-a', 'hm-2');
    const t0 = Date.now() - 120_000;
    const send = (seq: number, ts: number) => c.publishAsync('qs/v1/stadt-a/hm-2/data', JSON.stringify({ seq, samples: [{ ts, metrics: { heat_power: seq } }], units: { heat_power: 'kW' } }), { qos: 1 });
    await send(10, t0 + 10);
    await send(10, t0 + 10);
    await send(12, t0 + 12);
    await send(11, t0 + 11); // late, never seen: accepted
    await send(12, t0 + 12);
    await server.writer.flush();
    const r = await api(apiPort, `/api/v1/series?device=hm-2&metric=heat_power&from=${t0}`, tokens['stadt-a']!);
    expect(r.body.readings.map((x: { value: number }) => x.value)).toEqual([10, 11, 12]);
    const status = await api(apiPort, '/api/v1/devices/hm-2', tokens['stadt-a']!);
    expect(status.body).toMatchObject({ messages: 3, duplicates: 2 });
  });

  it('dead-letters malformed JSON and schema violations with a reason, tells the device, and keeps it connected', async () => {
    const c = await connect('stadt-a', 'hm-1', { clientId: 'stadt-a/hm-1-b' });
    const notices: Array<{ type: string; reason: string }> = [];
    await c.subscribeAsync('qs/v1/stadt-a/hm-1/cmd', { qos: 1 });
    c.on('message', (_t, p) => notices.push(JSON.parse(p.toString())));
    await c.publishAsync('qs/v1/stadt-a/hm-1/data', '{"seq": 5, "samples": [', { qos: 1 });
    await c.publishAsync('qs/v1/stadt-a/hm-1/data', JSON.stringify({ seq: 6, samples: [{ ts: Date.now(), metrics: { heat_power: 'hot' } }] }), { qos: 1 });
    await c.publishAsync('qs/v1/stadt-a/hm-1/data', JSON.stringify({ seq: 7, samples: [{ ts: Date.now(), metrics: { heat_power: 1 } }], units: { heat_power: 'horsepower' } }), { qos: 1 });
    const letters = await waitFor(async () => {
      const l = await deadLetters('stadt-a', 'hm-1');
      return l.length >= 3 ? l : undefined;
    });
    const reasons = letters.map((l) => l.reason).join('\n');
    expect(reasons).toMatch(/malformed JSON/);
    expect(reasons).toMatch(/samples\.0\.metrics\.heat_power/);
    expect(reasons).toMatch(/units\.heat_power/);
    expect(letters.some((l) => l.excerpt.includes('"seq": 5'))).toBe(true);
    await waitFor(() => notices.filter((n) => n.type === 'reject').length >= 3);
    expect(notices[0]!.reason).toMatch(/malformed JSON/);
    expect(c.connected).toBe(true);
    const status = await api(apiPort, '/api/v1/devices/hm-1', tokens['stadt-a']!);
    expect(status.body.rejects).toBeGreaterThanOrEqual(3);
    expect(status.body.lastReject.reason).toBeTruthy();
  });

  it('refuses publishing outside the own prefix, with a dead letter, and the connection stays', async () => {
    const c = await connect('stadt-a', 'hm-2', { clientId: 'stadt-a/hm-2-acl' });
    await c.publishAsync('qs/v1/stadt-a/hm-1/data', JSON.stringify({ seq: 99, samples: [{ ts: Date.now(), metrics: { heat_power: 666 } }], units: { heat_power: 'kW' } }), { qos: 1 });
    await c.publishAsync('qs/v1/stadt-b/hm-1/data', JSON.stringify({ seq: 99, samples: [{ ts: Date.now(), metrics: { heat_power: 666 } }], units: { heat_power: 'kW' } }), { qos: 1 });
    const letters = await waitFor(async () => {
      const l = await deadLetters('stadt-a', 'hm-2');
      return l.filter((x) => /stadt-b\/hm-1|hm-1\/data/.test(x.topic)).length >= 2 ? l : undefined;
    });
    expect(letters.map((l) => l.reason).join('\n')).toMatch(/may only publish/);
    expect(c.connected).toBe(true);
    await server.writer.flush();
    const b = await api(apiPort, '/api/v1/series?device=hm-1&metric=heat_power&from=0', tokens['stadt-b']!);
    expect(b.body.readings).toEqual([]);
  });

  it('keeps tenants apart: same device id in two tenants, neither token sees the other', async () => {
    const c = await connect('stadt-b', 'hm-1');
    const ts = Date.now() - 5000;
    await c.publishAsync('qs/v1/stadt-b/hm-1/data', JSON.stringify({ seq: 1, samples: [{ ts, metrics: { heat_power: 42 } }], units: { heat_power: 'kW' } }), { qos: 1 });
    await server.writer.flush();
    const b = await api(apiPort, '/api/v1/series?device=hm-1&metric=heat_power&from=0', tokens['stadt-b']!);
    expect(b.body.readings.map((r: { value: number }) => r.value)).toEqual([42]);
    const a = await api(apiPort, '/api/v1/series?device=hm-1&metric=heat_power&from=0', tokens['stadt-a']!);
    expect(a.body.readings.map((r: { value: number }) => r.value)).not.toContain(42);
    const aDevices = (await api(apiPort, '/api/v1/devices', tokens['stadt-a']!)).body.devices.map((d: { device: string }) => d.device);
    expect(aDevices).not.toContain('foreign-1-b');
    const bDevices = (await api(apiPort, '/api/v1/devices', tokens['stadt-b']!)).body.devices.map((d: { device: string }) => d.device);
    expect(bDevices).toEqual(['hm-1']);
    const bLetters = await api(apiPort, '/api/v1/dead-letters', tokens['stadt-b']!);
    expect(bLetters.body.deadLetters.every((l: { topic: string }) => !l.topic.includes('stadt-a'))).toBe(true);
  });

  it('refuses wrong passwords and unknown devices at CONNECT; the server stays up', async () => {
    await expect(connectDevice(mqttPort, 'stadt-a', 'hm-1', 'not-the-password')).rejects.toThrow(/Not authorized|Bad username or password/i);
    await expect(connectDevice(mqttPort, 'stadt-a', 'ghost', 'x')).rejects.toThrow(/Not authorized|Bad username or password/i);
    const ok = await connect('stadt-a', 'hm-2', { clientId: 'stadt-a/hm-2-after' });
    expect(ok.connected).toBe(true);
  });

  it('accepts a sample from mosquitto_pub, a foreign client, and flags far-future timestamps', async () => {
    const { password } = creds['stadt-a/foreign-1']!;
    const ts = new Date(Date.now() - 30_000).toISOString();
    const future = Date.now() + 6 * 3600_000;
    const payload = JSON.stringify({ seq: 1, samples: [{ ts, metrics: { heat_power: 2.5 } }, { ts: future, metrics: { heat_power: 9 } }], units: { heat_power: 'MW' } });
    await execFileAsync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-V', 'mqttv311', '-q', '1', '-i', 'stadt-a/foreign-1', '-u', 'stadt-a/foreign-1', '-P', password, '-t', 'qs/v1/stadt-a/foreign-1/data', '-m', payload], { timeout: 10_000 });
    await server.writer.flush();
    const r = await api(apiPort, `/api/v1/series?device=foreign-1&metric=heat_power&from=0&to=${future + 1}`, tokens['stadt-a']!);
    expect(r.body.readings.map((x: { value: number }) => x.value)).toEqual([2500, 9000]);
    const status = await api(apiPort, '/api/v1/devices/foreign-1', tokens['stadt-a']!);
    expect(status.body.flagged).toBe(1);
    expect(status.body.lastWarning.warning).toMatch(/in the future/);
    // mosquitto_pub disconnected cleanly without announcing offline: a device that connects only
    // to send, online while it keeps its interval.
    const foreign = async () => (await api(apiPort, '/api/v1/devices/foreign-1', tokens['stadt-a']!)).body;
    await waitFor(async () => (await foreign()).connected === false);
    expect(await foreign()).toMatchObject({ status: 'online', online: true, connected: false, lastDisconnect: { reason: 'disconnect' } });
  });

  it('a gateway that announces offline before its clean DISCONNECT is offline at once', async () => {
    creds['stadt-a/bye-1'] = await server.registry.addDevice('stadt-a', 'bye-1', 'heat_meter');
    const c = await connect('stadt-a', 'bye-1');
    const device = async () => (await api(apiPort, '/api/v1/devices/bye-1', tokens['stadt-a']!)).body;
    expect(await device()).toMatchObject({ status: 'online', connected: true });
    await c.publishAsync('qs/v1/stadt-a/bye-1/state', '{"state":"offline"}', { qos: 1, retain: true });
    await c.endAsync();
    await waitFor(async () => (await device()).status === 'offline');
    expect(await device()).toMatchObject({ online: false, connected: false, lastDisconnect: { reason: 'disconnect' } });
  });

  it("serves an AsyncAPI document naming this server's listeners, and a gateway connects with only what it says", async () => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/asyncapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    // TLS is off here: only the TCP and WebSocket listeners, at their bound (ephemeral) ports.
    expect(Object.keys(doc.servers).sort()).toEqual(['mqtt', 'ws']);
    expect(doc.servers.mqtt.host).toBe(`{host}:${mqttPort}`);
    expect(doc.servers.ws.host).toBe(`{host}:${server.broker.wsPort}`);
    expect(doc['x-querstrom-limits'].maxPacketBytes).toBe(128 * 1024);
    const url = (s: any) => `${s.protocol}://${s.host.replace('{host}', s.variables.host.default)}${s.pathname ?? ''}`;
    expect(url(doc.servers.mqtt)).toBe(`mqtt://127.0.0.1:${mqttPort}`);

    const { password } = (creds['stadt-a/doc-1'] = await server.registry.addDevice('stadt-a', 'doc-1', 'heat_meter'));
    const ts = Date.now() - 10_000;
    const tcp = doc.servers.mqtt;
    await execFileAsync('mosquitto_pub', ['-h', tcp.variables.host.default, '-p', tcp.host.split(':')[1], '-V', 'mqttv311', '-q', '1', '-i', 'stadt-a/doc-1', '-u', 'stadt-a/doc-1', '-P', password, '-t', 'qs/v1/stadt-a/doc-1/data', '-m', JSON.stringify({ seq: 1, samples: [{ ts, metrics: { heat_power: 100 } }], units: { heat_power: 'kW' } })], { timeout: 10_000 });
    const ws = await mqtt.connectAsync(url(doc.servers.ws), { clientId: 'stadt-a/doc-1', username: 'stadt-a/doc-1', password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    clients.push(ws);
    await ws.publishAsync('qs/v1/stadt-a/doc-1/data', JSON.stringify({ seq: 2, samples: [{ ts: ts + 1000, metrics: { heat_power: 200 } }], units: { heat_power: 'kW' } }), { qos: 1 });
    await server.writer.flush();
    const r = await api(apiPort, `/api/v1/series?device=doc-1&metric=heat_power&from=${ts - 1}`, tokens['stadt-a']!);
    expect(r.body.readings.map((x: { value: number }) => x.value)).toEqual([100, 200]);

    // The host name comes from the request; a Host header that is not a host name is not echoed.
    const asHost = (host: string) =>
      new Promise<any>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: apiPort, path: '/asyncapi.json', headers: { host } }, (response) => {
          let body = '';
          response.on('data', (d: Buffer) => (body += d.toString()));
          response.on('end', () => resolve(JSON.parse(body)));
        });
        req.on('error', reject);
        req.end();
      });
    expect((await asHost(`waerme.example:${apiPort}`)).servers.mqtt.variables.host.default).toBe('waerme.example');
    expect((await asHost('"><script>')).servers.mqtt.variables.host.default).toBe('localhost');
  });

  it('marks a device offline through its last will when the connection drops', async () => {
    creds['stadt-a/will-1'] = await server.registry.addDevice('stadt-a', 'will-1', 'pv');
    const c = await connect('stadt-a', 'will-1', { will: { topic: 'qs/v1/stadt-a/will-1/state', payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true } });
    const status = async () => (await api(apiPort, '/api/v1/devices/will-1', tokens['stadt-a']!)).body.status;
    expect(await status()).toBe('online');
    c.stream.destroy();
    await waitFor(async () => (await status()) === 'offline');
    expect((await api(apiPort, '/api/v1/devices/will-1', tokens['stadt-a']!)).body.lastDisconnect.reason).toBe('connection lost');
  });
});

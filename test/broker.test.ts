import { connect as tcpConnect } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerRejection, type DevicePublish, type RunningBroker } from '../src/broker/index.ts';
import { encodeConnect, encodePublish, localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';
import type { DeviceIdentity } from '../src/identity/types.ts';
import { waitForCondition } from './helpers/wait.ts';

const log = pino({ level: 'silent' });

/** Granted QoS per filter; mqtt.js rejects a SUBACK holding any 0x80 but keeps the packet. */
async function granted(client: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted: number[] } }).packet;
    if (!packet) throw err;
    return packet.granted;
  }
}

describe('broker', () => {
  const auth = new MapAuthenticator().add('t1', 'd1', 's1').add('t1', 'd2', 's2').add('t2', 'd1', 's3').add('t1', 'rev', 'sr');
  const published: DevicePublish[] = [];
  const rejections: BrokerRejection[] = [];
  const connects: Array<{ identity: DeviceIdentity; clientId: string }> = [];
  const disconnects: Array<{ identity: DeviceIdentity; clientId: string; reason: string }> = [];
  let hookDelayMs = 0;
  let hookSettledAt: number[] = [];
  let broker: RunningBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startBroker(
      localBrokerConfig(),
      {
        authenticator: auth,
        async onDevicePublish(msg) {
          if (hookDelayMs > 0) await new Promise((r) => setTimeout(r, hookDelayMs));
          published.push(msg);
          hookSettledAt.push(Date.now());
        },
        onReject: (r) => rejections.push(r),
        onConnect: (identity, clientId) => connects.push({ identity, clientId }),
        onDisconnect: (identity, clientId, reason) => disconnects.push({ identity, clientId, reason }),
      },
      log,
    );
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true);
    hookDelayMs = 0;
  });

  afterAll(async () => {
    await broker.close();
  });

  const url = (): string => `mqtt://127.0.0.1:${broker.tcpPort}`;

  async function connect(opts: IClientOptions, where = url()): Promise<MqttClient> {
    const client = await mqtt.connectAsync(where, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    clients.push(client);
    return client;
  }

  async function connackCode(opts: IClientOptions): Promise<number> {
    try {
      const c = await connect(opts);
      c.end(true);
      return 0;
    } catch (err) {
      return (err as { code: number }).code;
    }
  }

  async function retainedState(tenant: string, device: string): Promise<{ state: string } | undefined> {
    const persistence = (broker.aedes as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<{ payload: Buffer }> } }).persistence;
    let found: { state: string } | undefined;
    for await (const packet of persistence.createRetainedStream(`qs/v1/${tenant}/${device}/state`)) found = JSON.parse(packet.payload.toString());
    return found;
  }

  it('accepts a device with the right secret and reports the connect', async () => {
    await connect({ username: 't1/d1', password: 's1', clientId: 'gw-1' });
    await waitForCondition(() => connects.some((c) => c.clientId === 'gw-1'), 'onConnect');
    expect(connects.find((c) => c.clientId === 'gw-1')!.identity).toEqual({ tenant: 't1', device: 'd1' });
  });

  it('refuses wrong passwords, unknown devices, bad usernames and anonymous clients with a reason', async () => {
    rejections.length = 0;
    expect(await connackCode({ username: 't1/d1', password: 'nope', clientId: 'bad-1' })).toBe(4);
    expect(await connackCode({ username: 't1/ghost', password: 'x', clientId: 'bad-2' })).toBe(4);
    expect(await connackCode({ username: 'no-slash', password: 'x', clientId: 'bad-3' })).toBe(4);
    expect(await connackCode({ clientId: 'bad-4' })).toBe(5);
    const reasons = rejections.map((r) => r.reason);
    expect(reasons.find((r) => r.includes('wrong password'))).toContain('t1/d1');
    expect(reasons.some((r) => r.includes('unknown device') && r.includes('t1/ghost'))).toBe(true);
    expect(reasons.some((r) => r.includes('{tenant}/{device}'))).toBe(true);
    expect(reasons.some((r) => r.includes('anonymous access is disabled'))).toBe(true);
    expect(rejections.find((r) => r.clientId === 'bad-1')!.identity).toEqual({ tenant: 't1', device: 'd1' });
    // The broker is still fine.
    await connect({ username: 't1/d1', password: 's1' });
  });

  it('feeds device publishes into onDevicePublish with identity and parsed topic', async () => {
    published.length = 0;
    const c = await connect({ username: 't1/d1', password: 's1', clientId: 'pub-1' });
    await c.publishAsync('qs/v1/t1/d1/data', '{"seq":1}', { qos: 1 });
    await c.publishAsync('qs/v1/t1/d1/sub7/birth', 'b', { qos: 0 });
    await c.publishAsync('qs/v1/t1/d1/state', 's', { qos: 2 });
    await waitForCondition(() => published.length === 3, 'three publishes');
    const byTopic = new Map(published.map((p) => [p.topic, p]));
    const data = byTopic.get('qs/v1/t1/d1/data')!;
    expect(data.identity).toEqual({ tenant: 't1', device: 'd1' });
    expect(data.clientId).toBe('pub-1');
    expect(data.parsed).toEqual({ tenant: 't1', gateway: 'd1', kind: 'data' });
    expect(data.payload.toString()).toBe('{"seq":1}');
    expect(data.qos).toBe(1);
    expect(Math.abs(data.receivedAt - Date.now())).toBeLessThan(5000);
    expect(byTopic.get('qs/v1/t1/d1/sub7/birth')!.parsed).toEqual({ tenant: 't1', gateway: 'd1', subdevice: 'sub7', kind: 'birth' });
    expect(byTopic.get('qs/v1/t1/d1/state')!.qos).toBe(2);
  });

  it('sends the PUBACK/PUBREC only after onDevicePublish settles', async () => {
    const c = await connect({ username: 't1/d1', password: 's1' });
    hookDelayMs = 300;
    for (const qos of [1, 2] as const) {
      hookSettledAt = [];
      const start = Date.now();
      await c.publishAsync('qs/v1/t1/d1/data', `durable-${qos}`, { qos });
      const acked = Date.now();
      expect(acked - start).toBeGreaterThanOrEqual(295);
      expect(hookSettledAt).toHaveLength(1);
      expect(acked).toBeGreaterThanOrEqual(hookSettledAt[0]!);
    }
  });

  it('stores a resent QoS 2 message (DUP, same id) only once', async () => {
    published.length = 0;
    const socket = tcpConnect(broker.tcpPort!, '127.0.0.1');
    const received: number[] = [];
    socket.on('data', (d: Buffer) => received.push(...d));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(encodeConnect('q2-raw', 't1/d1', 's1'));
    await waitForCondition(() => received.length >= 4, 'CONNACK');
    expect(received.splice(0, 4)).toEqual([0x20, 0x02, 0x00, 0x00]);
    const message = encodePublish('qs/v1/t1/d1/data', Buffer.from('exactly-once'), 2, 77);
    socket.write(message);
    await waitForCondition(() => received.length >= 4, 'PUBREC');
    // The PUBREC "got lost": the device resends with DUP set, before releasing it.
    socket.write(encodePublish('qs/v1/t1/d1/data', Buffer.from('exactly-once'), 2, 77, true));
    await waitForCondition(() => received.length >= 8, 'second PUBREC');
    expect(received.splice(0, 8)).toEqual([0x50, 0x02, 0x00, 77, 0x50, 0x02, 0x00, 77]);
    socket.write(Buffer.from([0x62, 0x02, 0x00, 77])); // PUBREL
    await waitForCondition(() => received.length >= 4, 'PUBCOMP');
    expect(received.splice(0, 4)).toEqual([0x70, 0x02, 0x00, 77]);
    expect(published.map((p) => p.payload.toString())).toEqual(['exactly-once']);
    socket.destroy();
  });

  it('drops publishes outside the device prefix, keeps the connection and still acknowledges', async () => {
    published.length = 0;
    rejections.length = 0;
    const c = await connect({ username: 't1/d1', password: 's1', clientId: 'acl-1' });
    await c.publishAsync('qs/v1/t1/d2/data', 'spoof', { qos: 1 }); // resolves = PUBACK received
    await c.publishAsync('qs/v1/t2/d1/data', 'cross-tenant', { qos: 1 });
    await c.publishAsync('qs/v1/t1/d1/cmd', 'self-command', { qos: 1 });
    await c.publishAsync('elsewhere/topic', 'x', { qos: 0 });
    await c.publishAsync('qs/v1/t1/d2/state', 'qos2-spoof', { qos: 2 }); // full PUBREC/PUBREL/PUBCOMP
    await c.publishAsync('qs/v1/t1/d1/data', 'legit', { qos: 1 });
    expect(c.connected).toBe(true);
    expect(published.map((p) => p.payload.toString())).toEqual(['legit']);
    await waitForCondition(() => rejections.length >= 1, 'rejections');
    // One report per device and kind per second: the first goes out at once, the rest are summed up.
    expect(rejections[0]!.reason).toContain('may only publish under qs/v1/t1/d1/');
    expect(rejections[0]!.topic).toBe('qs/v1/t1/d2/data');
    expect(rejections[0]!.payload!.toString()).toBe('spoof');
    expect(rejections[0]!.identity).toEqual({ tenant: 't1', device: 'd1' });
    expect(rejections[0]!.clientId).toBe('acl-1');
    await waitForCondition(() => rejections.length >= 2, 'summary', 3000);
    expect(rejections[1]!.reason).toMatch(/4 more like this/);
  });

  it('refuses the cmd kind with its own reason', async () => {
    rejections.length = 0;
    const c = await connect({ username: 't1/d2', password: 's2' });
    await c.publishAsync('qs/v1/t1/d2/cmd', 'x', { qos: 1 });
    await waitForCondition(() => rejections.length === 1, 'rejection');
    expect(rejections[0]!.reason).toContain('may not publish kind "cmd"');
  });

  it('grants only the own command topics on SUBSCRIBE (0x80 otherwise) and delivers server commands', async () => {
    published.length = 0;
    const c = await connect({ username: 't1/d1', password: 's1' });
    const filters = ['qs/v1/t1/d1/cmd', 'qs/v1/t1/d1/+/cmd', 'qs/v1/t1/d2/cmd', '#', 'qs/v1/t1/d1/data', 'qs/v1/+/d1/cmd', 'qs/v1/t1/d1/#'];
    expect(await granted(c, filters)).toEqual([1, 1, 128, 128, 128, 128, 128]);
    expect(c.connected).toBe(true);
    const received: string[] = [];
    c.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
    await broker.publish('qs/v1/t1/d1/cmd', '{"type":"setpoint"}', { qos: 1 });
    await broker.publish('qs/v1/t1/d1/pump3/cmd', 'sub', { qos: 1 });
    await broker.publish('qs/v1/t1/d2/cmd', 'not for d1', { qos: 1 });
    await broker.publish('qs/v1/t1/dispatch/zone1', 'dispatch', { qos: 1 });
    await waitForCondition(() => received.length === 2, 'two commands');
    await new Promise((r) => setTimeout(r, 100));
    expect(received.sort()).toEqual(['qs/v1/t1/d1/cmd {"type":"setpoint"}', 'qs/v1/t1/d1/pump3/cmd sub']);
    // Server-originated publishes never reach onDevicePublish.
    expect(published).toHaveLength(0);
  });

  it('publishes retained presence: online at connect, the will on a dropped connection, offline on DISCONNECT', async () => {
    const will = { topic: 'qs/v1/t1/d2/state', payload: Buffer.from('{"state":"offline","by":"will"}'), qos: 1 as const, retain: true };
    const c = await connect({ username: 't1/d2', password: 's2', clientId: 'pres-1', will });
    await waitForCondition(() => connects.some((x) => x.clientId === 'pres-1'), 'connect');
    await new Promise((r) => setTimeout(r, 50));
    expect((await retainedState('t1', 'd2'))?.state).toBe('online');
    // Drop the TCP connection without DISCONNECT: aedes publishes the will.
    c.stream.destroy();
    await waitForCondition(() => disconnects.some((x) => x.clientId === 'pres-1'), 'disconnect');
    expect(disconnects.find((x) => x.clientId === 'pres-1')!.reason).toBe('connection lost');
    await waitForCondition(() => published.some((p) => p.topic === 'qs/v1/t1/d2/state' && p.payload.toString().includes('"by":"will"')), 'will reaches onDevicePublish');
    // Wait for the retained write to land.
    await new Promise((r) => setTimeout(r, 50));
    expect(await retainedState('t1', 'd2')).toEqual({ state: 'offline', by: 'will' });

    // No will: the server publishes offline itself when the connection drops.
    const c2 = await connect({ username: 't1/d2', password: 's2', clientId: 'pres-2' });
    await waitForCondition(() => connects.some((x) => x.clientId === 'pres-2'), 'connect 2');
    await new Promise((r) => setTimeout(r, 50));
    expect((await retainedState('t1', 'd2'))?.state).toBe('online');
    c2.stream.destroy();
    await waitForCondition(() => disconnects.some((x) => x.clientId === 'pres-2'), 'disconnect 2');
    await new Promise((r) => setTimeout(r, 50));
    expect((await retainedState('t1', 'd2'))?.state).toBe('offline');

    // Clean DISCONNECT with a will: no will, server publishes offline.
    published.length = 0;
    const c3 = await connect({ username: 't1/d2', password: 's2', clientId: 'pres-3', will });
    await new Promise((r) => setTimeout(r, 50));
    expect((await retainedState('t1', 'd2'))?.state).toBe('online');
    await c3.endAsync();
    await waitForCondition(() => disconnects.some((x) => x.clientId === 'pres-3'), 'disconnect 3');
    expect(disconnects.find((x) => x.clientId === 'pres-3')!.reason).toBe('disconnect');
    await new Promise((r) => setTimeout(r, 50));
    const state = await retainedState('t1', 'd2');
    expect(state?.state).toBe('offline');
    expect(state).not.toHaveProperty('by');
    expect(published.some((p) => p.topic.endsWith('/state'))).toBe(false);
  });

  it('refuses a last will outside the device prefix at CONNECT', async () => {
    rejections.length = 0;
    const code = await connackCode({ username: 't1/d1', password: 's1', clientId: 'will-bad', will: { topic: 'qs/v1/t1/d2/state', payload: Buffer.from('x'), qos: 0, retain: false } });
    expect(code).toBe(5);
    expect(rejections.some((r) => r.reason.includes('last will refused') && r.reason.includes('may only publish under qs/v1/t1/d1/'))).toBe(true);
  });

  it('serves MQTT over WebSocket', async () => {
    published.length = 0;
    const c = await connect({ username: 't2/d1', password: 's3', clientId: 'ws-1' }, `ws://127.0.0.1:${broker.wsPort}/mqtt`);
    await c.publishAsync('qs/v1/t2/d1/data', 'over-ws', { qos: 1 });
    expect(published.map((p) => [p.identity.tenant, p.payload.toString()])).toEqual([['t2', 'over-ws']]);
    expect(await granted(c, ['qs/v1/t2/d1/cmd'])).toEqual([1]);
    const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
    await broker.publish('qs/v1/t2/d1/cmd', 'ws-cmd', { qos: 1 });
    expect(await got).toBe('ws-cmd');
  });

  it('takes over the session of a duplicate client id of the same device, but never across devices', async () => {
    const first = await connect({ username: 't1/d1', password: 's1', clientId: 'dup' });
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    const other = await connect({ username: 't1/d2', password: 's2', clientId: 'dup' });
    await new Promise((r) => setTimeout(r, 100));
    expect(first.connected).toBe(true);
    const second = await connect({ username: 't1/d1', password: 's1', clientId: 'dup' });
    await closed;
    expect(second.connected).toBe(true);
    expect(other.connected).toBe(true);
    await waitForCondition(() => disconnects.some((d) => d.clientId === 'dup' && d.reason.includes('taken over')), 'takeover reason');
    // The device is connected again, so its retained state says online.
    await new Promise((r) => setTimeout(r, 50));
    expect((await retainedState('t1', 'd1'))?.state).toBe('online');
  });

  it('keeps queued QoS 1 commands of a persistent session across reconnects', async () => {
    const opts = { username: 't1/d1', password: 's1', clientId: 'persist-1', clean: false };
    const c = await connect(opts);
    await c.subscribeAsync('qs/v1/t1/d1/cmd', { qos: 1 });
    await c.endAsync();
    await broker.publish('qs/v1/t1/d1/cmd', 'queued-while-away', { qos: 1 });
    const received: string[] = [];
    const c2 = mqtt.connect(url(), { reconnectPeriod: 0, ...opts });
    clients.push(c2);
    c2.on('message', (_t, p) => received.push(p.toString()));
    await waitForCondition(() => received.length === 1, 'queued command');
    expect(received).toEqual(['queued-while-away']);
  });

  it('disconnects the live clients of a revoked device at once', async () => {
    const c = await connect({ username: 't1/rev', password: 'sr', clientId: 'rev-1' });
    const closed = new Promise<number>((resolve) => c.once('close', () => resolve(Date.now())));
    const before = Date.now();
    auth.revoke('t1', 'rev');
    expect((await closed) - before).toBeLessThan(1000);
    await waitForCondition(() => disconnects.some((d) => d.clientId === 'rev-1'), 'revocation disconnect');
    expect(disconnects.find((d) => d.clientId === 'rev-1')!.reason).toBe('revoked');
    rejections.length = 0;
    expect(await connackCode({ username: 't1/rev', password: 'sr' })).toBe(5);
    expect(rejections[0]!.reason).toContain('revoked');
    await new Promise((r) => setTimeout(r, 50));
    expect((await retainedState('t1', 'rev'))?.state).toBe('offline');
  });

  it('counts connected clients', async () => {
    const before = broker.connectedClients();
    await connect({ username: 't1/d1', password: 's1' });
    await connect({ username: 't1/d2', password: 's2' });
    expect(broker.connectedClients()).toBe(before + 2);
  });
});

describe('broker with allowAnonymous', () => {
  it('lets clients without username publish for the device their topic names, but not commands', async () => {
    const published: DevicePublish[] = [];
    const rejections: BrokerRejection[] = [];
    const auth = new MapAuthenticator().add('t1', 'd1', 's1');
    const broker = await startBroker(localBrokerConfig({ allowAnonymous: true }), { authenticator: auth, onDevicePublish: async (m) => void published.push(m), onReject: (r) => rejections.push(r) }, log);
    try {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0 });
      await c.publishAsync('qs/v1/t9/meter1/data', 'anon', { qos: 1 });
      await c.publishAsync('qs/v1/t9/meter1/cmd', 'nope', { qos: 1 });
      expect(await granted(c, ['qs/v1/t9/meter1/cmd', 'qs/v1/#'])).toEqual([1, 128]);
      expect(published.map((p) => [p.identity, p.payload.toString()])).toEqual([[{ tenant: 't9', device: 'meter1' }, 'anon']]);
      expect(rejections.some((r) => r.reason.includes('may not publish kind "cmd"'))).toBe(true);
      c.end(true);
      // A username is still checked.
      await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, username: 't1/d1', password: 'bad' })).rejects.toMatchObject({ code: 4 });
    } finally {
      await broker.close();
    }
  });
});

describe('authenticators that only say yes or no', () => {
  it('reports the precise login failure and maps revoked to CONNACK 5, the rest to 4', async () => {
    const reasons: Record<string, 'unknown device' | 'wrong password' | 'revoked'> = { 't1/old': 'revoked', 't1/ghost': 'unknown device' };
    const authenticator = {
      verifyDeviceDetailed: async (u: string, p: Buffer | string | undefined) =>
        u === 't1/d1' && String(p) === 's1' ? ({ ok: true, identity: { tenant: 't1', device: 'd1' } } as const) : ({ ok: false, reason: reasons[u] ?? 'wrong password' } as const),
      onRevoked: () => {},
    };
    const rejections: BrokerRejection[] = [];
    const broker = await startBroker(localBrokerConfig(), { authenticator, onDevicePublish: async () => {}, onReject: (r) => rejections.push(r) }, log);
    try {
      const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
      await expect(mqtt.connectAsync(url, { reconnectPeriod: 0, username: 't1/d1', password: 'bad' })).rejects.toMatchObject({ code: 4 });
      await expect(mqtt.connectAsync(url, { reconnectPeriod: 0, username: 't1/ghost', password: 'x' })).rejects.toMatchObject({ code: 4 });
      await expect(mqtt.connectAsync(url, { reconnectPeriod: 0, username: 't1/old', password: 'x' })).rejects.toMatchObject({ code: 5 });
      expect(rejections.map((r) => r.reason)).toEqual([
        'CONNECT refused: wrong password (t1/d1)',
        'CONNECT refused: unknown device (t1/ghost)',
        'CONNECT refused: revoked (t1/old)',
      ]);
      const ok = await mqtt.connectAsync(url, { reconnectPeriod: 0, username: 't1/d1', password: 's1' });
      ok.end(true);
    } finally {
      await broker.close();
    }
  });
});

describe('revocation racing a login', () => {
  it('closes a connection whose credentials were checked just before its device was revoked', async () => {
    const listeners: Array<(r: DeviceIdentity[]) => void> = [];
    const connected: string[] = [];
    // Says yes, then announces the revocation before the broker has finished the CONNECT.
    const racing = {
      async verifyDeviceDetailed(username: string) {
        const [tenant, device] = username.split('/') as [string, string];
        queueMicrotask(() => listeners.forEach((l) => l([{ tenant, device }])));
        return { ok: true, identity: { tenant, device } } as const;
      },
      onRevoked: (l: (r: DeviceIdentity[]) => void) => void listeners.push(l),
    };
    const broker = await startBroker(localBrokerConfig(), { authenticator: racing, onDevicePublish: async () => {}, onReject: () => {}, onConnect: (_i, c) => connected.push(c) }, log);
    try {
      const client = mqtt.connect(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, username: 't1/late', password: 'x', clientId: 'race' });
      const closed = await Promise.race([new Promise<boolean>((resolve) => client.once('close', () => resolve(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
      client.end(true);
      expect(closed).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(broker.connectedClients()).toBe(0);
      expect(connected).toEqual([]);
    } finally {
      await broker.close();
    }
  });
});

describe('broker shutdown', () => {
  it('finishes in-flight publishes before closing and leaves no client behind', async () => {
    const auth = new MapAuthenticator().add('t1', 'd1', 's1');
    const stored: string[] = [];
    const broker = await startBroker(
      localBrokerConfig({ limits: { drainTimeoutMs: 2000 } }),
      {
        authenticator: auth,
        onDevicePublish: async (m) => {
          await new Promise((r) => setTimeout(r, 200));
          stored.push(m.payload.toString());
        },
        onReject: () => {},
      },
      log,
    );
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, username: 't1/d1', password: 's1' });
    const acked = c.publishAsync('qs/v1/t1/d1/data', 'in-flight', { qos: 1 });
    await new Promise((r) => setTimeout(r, 50));
    const start = Date.now();
    await broker.close();
    expect(Date.now() - start).toBeLessThan(2000);
    await acked; // the PUBACK made it out before the connection closed
    expect(stored).toEqual(['in-flight']);
    expect(broker.connectedClients()).toBe(0);
    c.end(true);
  });
});

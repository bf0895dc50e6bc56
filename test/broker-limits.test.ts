import { connect as tcpConnect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerRejection, type DevicePublish, type RunningBroker } from '../src/broker/index.ts';
import { encodeConnect, encodePublishHeader, localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';
import { waitForCondition } from './helpers/wait.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('broker limits', () => {
  const auth = new MapAuthenticator();
  for (let i = 0; i < 1000; i++) auth.add('t1', `dev${i}`, `secret${i}`);
  const published: DevicePublish[] = [];
  const rejections: BrokerRejection[] = [];
  let broker: RunningBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startBroker(
      localBrokerConfig({ limits: { maxPacketBytes: 64 * 1024, maxTopicDepth: 8, ratePerDevice: { messagesPerSecond: 100, burst: 50 } } }),
      { authenticator: auth, onDevicePublish: async (m) => void published.push(m), onReject: (r) => rejections.push(r) },
      log,
    );
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true);
    published.length = 0;
    rejections.length = 0;
  });
  afterAll(async () => {
    await broker.close();
  });

  async function device(i: number, opts: IClientOptions = {}, where = `mqtt://127.0.0.1:${broker.tcpPort}`): Promise<MqttClient> {
    const c = await mqtt.connectAsync(where, { reconnectPeriod: 0, username: `t1/dev${i}`, password: `secret${i}`, clientId: `c${i}`, ...opts });
    clients.push(c);
    return c;
  }

  it('closes a connection announcing a 10 MB packet before buffering it; others are unaffected', async () => {
    const bystander = await device(1);
    const c = await device(0);
    const socket = c.stream as Socket;
    const total = 10 * 1024 * 1024;
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    global.gc?.();
    const before = process.memoryUsage();
    let peakExternal = before.external + before.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
    }, 5);
    const start = Date.now();
    // One PUBLISH header announcing ~10 MB, then the body from one reused 64 KiB chunk, with backpressure.
    socket.write(encodePublishHeader('qs/v1/t1/dev0/data', 1, 7, total));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    while (sent < total && !isClosed && !socket.destroyed) {
      if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
      sent += chunk.length;
    }
    const closedAt = await closed;
    clearInterval(sampler);
    expect(closedAt - start).toBeLessThan(1000);
    // The server read only the first bytes; what the client got rid of sat in kernel buffers.
    expect(peakExternal - (before.external + before.arrayBuffers)).toBeLessThan(2 * 1024 * 1024);
    await waitForCondition(() => rejections.some((r) => r.reason.includes('announced')), 'oversize rejection');
    const rejection = rejections.find((r) => r.reason.includes('announced'))!;
    // fixed header 1 + 4 length bytes, topic 2 + 18, message id 2, payload
    expect(rejection.reason).toContain(`packet of ${1 + 4 + 2 + 18 + 2 + total} bytes announced`);
    expect(rejection.reason).toContain('maxPacketBytes=65536');
    expect(rejection.identity).toEqual({ tenant: 't1', device: 'dev0' });
    expect(published.filter((p) => p.identity.device === 'dev0')).toHaveLength(0);
    // The bystander keeps working.
    await bystander.publishAsync('qs/v1/t1/dev1/data', 'still here', { qos: 1 });
    expect(published.map((p) => p.payload.toString())).toEqual(['still here']);
  });

  it('accepts a packet just under the limit', async () => {
    const c = await device(2);
    await c.publishAsync('qs/v1/t1/dev2/data', Buffer.alloc(60 * 1024, 0x62), { qos: 1 });
    expect(published).toHaveLength(1);
    expect(published[0]!.payload.length).toBe(60 * 1024);
  });

  it('survives a 5,000-level topic: the sender is closed with a reason, others keep working', async () => {
    const bystander = await device(3);
    const c = await device(4);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    const deep = `qs/v1/t1/dev4/${Array.from({ length: 5000 }, (_, i) => `l${i}`).join('/')}`;
    c.publish(deep, 'deep', { qos: 1 });
    await closed;
    await waitForCondition(() => rejections.length > 0, 'deep topic rejection');
    expect(rejections[0]!.reason).toContain('more than 100 levels');
    expect(rejections[0]!.identity).toEqual({ tenant: 't1', device: 'dev4' });
    // Deeper than maxTopicDepth but within aedes' ceiling: dropped with a reason, connection kept.
    const c5 = await device(5);
    await c5.publishAsync(`qs/v1/t1/dev5/${'x/'.repeat(20)}data`, 'too deep', { qos: 1 });
    expect(c5.connected).toBe(true);
    await waitForCondition(() => rejections.some((r) => r.reason.includes('more than 8 levels')), 'depth rejection');
    await bystander.publishAsync('qs/v1/t1/dev3/data', 'fine', { qos: 1 });
    expect(published.map((p) => p.payload.toString())).toEqual(['fine']);
    // New connections still work.
    const fresh = await device(6);
    await fresh.publishAsync('qs/v1/t1/dev6/data', 'fresh', { qos: 1 });
    expect(published).toHaveLength(2);
  });

  it('rate-limits a flooding device, reports drops aggregated, and lets other devices through', async () => {
    const flooder = await device(7);
    const polite = await device(8);
    const floodStart = Date.now();
    let floodSent = 0;
    // ~3,000 messages/s for 2.5 s against a limit of 100/s.
    const flood = (async () => {
      while (Date.now() - floodStart < 2500) {
        for (let i = 0; i < 300; i++) flooder.publish('qs/v1/t1/dev7/data', `f${floodSent++}`, { qos: 0 });
        await sleep(100);
      }
      // A QoS 1 message over the limit waits for the bucket, then is stored: never dropped.
      await flooder.publishAsync('qs/v1/t1/dev7/data', 'last', { qos: 1 });
      floodSent++;
    })();
    const politeSent: string[] = [];
    while (politeSent.length < 20) {
      await polite.publishAsync('qs/v1/t1/dev8/data', `p${politeSent.length}`, { qos: 1 });
      politeSent.push(`p${politeSent.length}`);
      await sleep(50);
    }
    await flood;
    const floodSeconds = (Date.now() - floodStart) / 1000;
    await sleep(1100); // let the last aggregated report go out
    const fromPolite = published.filter((p) => p.identity.device === 'dev8').map((p) => p.payload.toString());
    expect(fromPolite).toEqual(politeSent);
    const fromFlooder = published.filter((p) => p.identity.device === 'dev7').length;
    // burst 50 + 100/s over the flood: far fewer than were sent.
    expect(fromFlooder).toBeGreaterThanOrEqual(50);
    expect(fromFlooder).toBeLessThanOrEqual(50 + 100 * (floodSeconds + 1.2));
    const rateReports = rejections.filter((r) => r.identity?.device === 'dev7');
    expect(rateReports.length).toBeGreaterThanOrEqual(2);
    expect(rateReports.length).toBeLessThanOrEqual(Math.ceil(floodSeconds) + 3);
    expect(rateReports[0]!.reason).toContain('rate limit exceeded: 100 messages/s per device, burst 50');
    const summed = rateReports.slice(1).reduce((n, r) => n + Number(/\((\d+) more like this/.exec(r.reason)?.[1] ?? 0), 0);
    expect(summed + 1 + fromFlooder).toBe(floodSent);
    expect(published.some((p) => p.identity.device === 'dev7' && p.payload.toString() === 'last')).toBe(true);
    expect(flooder.connected).toBe(true);
  });

  it('throttles a QoS 1 flood without losing a message, warns once a second, and others keep their pace', async () => {
    const warnings: string[] = [];
    const throttled = await startBroker(
      localBrokerConfig({ limits: { maxPacketBytes: 64 * 1024, maxTopicDepth: 8, ratePerDevice: { messagesPerSecond: 100, burst: 50 } } }),
      { authenticator: auth, onDevicePublish: async (m) => void published.push(m), onReject: (r) => rejections.push(r), onWarning: (_id, w) => warnings.push(w) },
      log,
    );
    try {
      const where = `mqtt://127.0.0.1:${throttled.tcpPort}`;
      const flooder = await device(9, {}, where);
      const polite = await device(10, {}, where);
      const start = Date.now();
      const flood = Promise.all(Array.from({ length: 300 }, (_, i) => flooder.publishAsync('qs/v1/t1/dev9/data', `q${i}`, { qos: 1 })));
      const politeLatency: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = Date.now();
        await polite.publishAsync('qs/v1/t1/dev10/data', `p${i}`, { qos: 1 });
        politeLatency.push(Date.now() - t);
        await sleep(50);
      }
      await flood;
      const seconds = (Date.now() - start) / 1000;
      // 300 messages, burst 50, then 100/s: at least 2.5 s, and every one stored exactly once.
      expect(seconds).toBeGreaterThanOrEqual(2.3);
      const fromFlooder = published.filter((p) => p.identity.device === 'dev9').map((p) => p.payload.toString());
      expect(new Set(fromFlooder).size).toBe(300);
      expect(fromFlooder).toHaveLength(300);
      expect(rejections.filter((r) => r.identity?.device === 'dev9')).toEqual([]);
      expect(Math.max(...politeLatency)).toBeLessThan(500);
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
      expect(warnings[0]).toMatch(/none dropped/);
      expect(flooder.connected).toBe(true);
    } finally {
      await throttled.close();
    }
  });

  it('closes a WebSocket client sending an oversized packet', async () => {
    const c = await device(9, { clientId: 'ws-big' }, `ws://127.0.0.1:${broker.wsPort}/mqtt`);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish('qs/v1/t1/dev9/data', Buffer.alloc(100 * 1024, 0x63), { qos: 1 });
    await closed;
    await waitForCondition(() => rejections.some((r) => r.clientId === 'ws-big'), 'ws oversize rejection');
    expect(rejections.find((r) => r.clientId === 'ws-big')!.reason).toMatch(/bytes announced|WebSocket message larger/);
    expect(published).toHaveLength(0);
  });

  it('stays up whatever bytes a client sends', async () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const garbage: Buffer[] = [];
    for (let i = 0; i < 40; i++) garbage.push(Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
    garbage.push(encodePublishHeader('qs/v1/t1/dev10/data', 1, 1, 0)); // PUBLISH before CONNECT
    garbage.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])); // remaining length of 5 bytes
    garbage.push(Buffer.from([0x3f, 0x00])); // PUBLISH with QoS 3
    garbage.push(Buffer.concat([encodeConnect('g1', 't1/dev10', 'secret10'), encodeConnect('g1', 't1/dev10', 'secret10')])); // CONNECT twice
    garbage.push(Buffer.concat([encodeConnect('g2', 't1/dev11', 'secret11'), Buffer.from([0x82, 0x04, 0x00, 0x01, 0x00, 0x00])])); // SUBSCRIBE with empty topic
    garbage.push(Buffer.concat([encodeConnect('g3', 't1/dev12', 'secret12'), encodePublishHeader('qs/v1/t1/dev12/#', 0, 0, 0)])); // wildcard in PUBLISH
    await Promise.all(
      garbage.map(
        (bytes) =>
          new Promise<void>((resolve) => {
            const s = tcpConnect(broker.tcpPort!, '127.0.0.1', () => s.write(bytes));
            s.on('error', () => {});
            s.on('close', () => resolve());
            s.setTimeout(1500, () => s.destroy());
          }),
      ),
    );
    const c = await device(13);
    await c.publishAsync('qs/v1/t1/dev13/data', 'alive', { qos: 1 });
    expect(published.map((p) => p.payload.toString())).toEqual(['alive']);
    // Violations by authenticated devices are dead-lettered with a reason.
    await waitForCondition(() => rejections.some((r) => r.identity?.device === 'dev12'), 'wildcard publish rejection');
    expect(rejections.find((r) => r.identity?.device === 'dev12')!.reason).toContain('# is not allowed in PUBLISH');
  });

  it('survives a storm of 1,000 simultaneous logins without blocking the event loop', async () => {
    auth.delayMs = 2;
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const sockets: Socket[] = [];
    const acked = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        new Promise<number>((resolve) => {
          const s = tcpConnect(broker.tcpPort!, '127.0.0.1', () => s.write(encodeConnect(`storm${i}`, `t1/dev${i}`, `secret${i}`)));
          sockets.push(s);
          s.once('data', (d) => resolve(d[0] === 0x20 ? d[3]! : -1));
          s.once('error', () => resolve(-2));
          s.once('close', () => resolve(-3));
        }),
      ),
    );
    lag.disable();
    auth.delayMs = 0;
    expect(acked.filter((code) => code === 0)).toHaveLength(1000);
    expect(broker.connectedClients()).toBeGreaterThanOrEqual(1000);
    // ~1000 × 2 ms of auth latency ran 16 at a time without stalling the loop.
    expect(lag.max / 1e6).toBeLessThan(500);
    const c = await device(999, { clientId: 'after-storm' });
    await c.publishAsync('qs/v1/t1/dev999/data', 'after storm', { qos: 1 });
    expect(published.map((p) => p.payload.toString())).toContain('after storm');
    for (const s of sockets) s.destroy();
    await waitForCondition(() => broker.connectedClients() <= 1, 'storm clients gone');
  });
});

describe('slow consumers', () => {
  it('disconnects a client that stops reading after drainTimeoutMs, without stalling others', async () => {
    const auth = new MapAuthenticator().add('t1', 'slow', 's').add('t1', 'fast', 'f');
    const disconnects: string[] = [];
    const broker = await startBroker(
      localBrokerConfig({ limits: { drainTimeoutMs: 300, maxPacketBytes: 1024 * 1024 } }),
      { authenticator: auth, onDevicePublish: async () => {}, onReject: () => {}, onDisconnect: (i, _c, reason) => disconnects.push(`${i.device}: ${reason}`) },
      log,
    );
    try {
      // A raw subscriber that never reads again after its SUBACK.
      const slow = tcpConnect(broker.tcpPort!, '127.0.0.1');
      slow.on('error', () => {});
      await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
      slow.write(encodeConnect('slow', 't1/slow', 's'));
      const topic = Buffer.from('qs/v1/t1/slow/cmd');
      const body = Buffer.concat([Buffer.from([0, 1, 0, topic.length]), topic, Buffer.from([1])]);
      slow.write(Buffer.concat([Buffer.from([0x82, body.length]), body]));
      await new Promise((r) => setTimeout(r, 100));
      slow.pause();
      const fast = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, username: 't1/fast', password: 'f' });
      await fast.subscribeAsync('qs/v1/t1/fast/cmd', { qos: 1 });
      let fastReceived = 0;
      fast.on('message', () => fastReceived++);
      const big = Buffer.alloc(512 * 1024, 0x64);
      const start = Date.now();
      // ~100 MB towards a client that does not read: more than any socket buffer holds.
      const flood = Promise.all(Array.from({ length: 200 }, () => broker.publish('qs/v1/t1/slow/cmd', big, { qos: 1 }).catch(() => {})));
      await waitForCondition(() => disconnects.some((d) => d.startsWith('slow')), 'slow consumer disconnect', 10_000);
      expect(Date.now() - start).toBeLessThan(5000);
      expect(disconnects.find((d) => d.startsWith('slow'))).toContain('drain timeout');
      await flood;
      for (let i = 0; i < 5; i++) await broker.publish('qs/v1/t1/fast/cmd', `cmd${i}`, { qos: 1 });
      await waitForCondition(() => fastReceived === 5, 'fast consumer commands');
      fast.end(true);
      slow.destroy();
    } finally {
      await broker.close();
    }
  });
});

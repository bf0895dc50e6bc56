import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerRejection, type DevicePublish, type RunningBroker } from '../src/broker/index.ts';
import { localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';

// Debian's mosquitto clients as foreign MQTT implementations against our broker.

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 10_000): { done: Promise<Run> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { done };
}

describe('broker with mosquitto clients', () => {
  const auth = new MapAuthenticator().add('t1', 'd1', 's1');
  const published: DevicePublish[] = [];
  const rejections: BrokerRejection[] = [];
  let broker: RunningBroker;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qs-broker-'));
    broker = await startBroker(localBrokerConfig({ limits: { maxPacketBytes: 64 * 1024 } }), { authenticator: auth, onDevicePublish: async (m) => void published.push(m), onReject: (r) => rejections.push(r) }, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });

  const common = (): string[] => ['-h', '127.0.0.1', '-p', String(broker.tcpPort), '-V', 'mqttv311'];

  it('accepts a QoS 1 publish from mosquitto_pub', async () => {
    const r = await run('mosquitto_pub', [...common(), '-u', 't1/d1', '-P', 's1', '-i', 'mp-1', '-q', '1', '-t', 'qs/v1/t1/d1/data', '-m', '{"seq":1,"samples":[]}']).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const msg = published.find((p) => p.clientId === 'mp-1');
    expect(msg?.payload.toString()).toBe('{"seq":1,"samples":[]}');
    expect(msg?.identity).toEqual({ tenant: 't1', device: 'd1' });
  });

  it('refuses mosquitto_pub with a wrong password', async () => {
    const r = await run('mosquitto_pub', [...common(), '-u', 't1/d1', '-P', 'wrong', '-t', 'qs/v1/t1/d1/data', '-m', 'x']).done;
    expect(r.code).not.toBe(0);
    expect(r.stderr.toLowerCase()).toMatch(/bad user name or password|not authori[sz]ed/);
    expect(rejections.some((x) => x.reason.includes('wrong password'))).toBe(true);
  });

  it('delivers a server command to mosquitto_sub on the device command topic', async () => {
    const subscribed = new Promise<void>((resolve) =>
      broker.aedes.on('subscribe', (subs) => {
        if (subs.some((s) => s.topic === 'qs/v1/t1/d1/cmd')) resolve();
      }),
    );
    const sub = run('mosquitto_sub', [...common(), '-u', 't1/d1', '-P', 's1', '-i', 'ms-1', '-q', '1', '-t', 'qs/v1/t1/d1/cmd', '-C', '1', '-W', '8']);
    await subscribed;
    await broker.publish('qs/v1/t1/d1/cmd', '{"id":"c1","type":"setpoint"}', { qos: 1 });
    const r = await sub.done;
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('{"id":"c1","type":"setpoint"}');
  });

  it('denies mosquitto_sub on another topic (SUBACK 0x80)', async () => {
    const r = await run('mosquitto_sub', [...common(), '-u', 't1/d1', '-P', 's1', '-t', 'qs/v1/#', '-C', '1', '-W', '3']).done;
    // mosquitto_sub gives up (exit 0) once every subscription in the SUBACK was denied.
    expect(r.stderr).toMatch(/All subscription requests were denied/);
    expect(r.stdout).toBe('');
    expect(rejections.some((x) => x.reason.includes('SUBSCRIBE refused') && x.topic === 'qs/v1/#')).toBe(true);
  });

  it('cuts off a 10 MB publish from mosquitto_pub early, with the server heap unaffected', async () => {
    const file = join(dir, 'big.bin');
    await writeFile(file, Buffer.alloc(10 * 1024 * 1024, 0x61));
    global.gc?.();
    const before = process.memoryUsage();
    let peak = before.heapUsed + before.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
    }, 5);
    const start = Date.now();
    const r = await run('mosquitto_pub', [...common(), '-u', 't1/d1', '-P', 's1', '-i', 'big', '-q', '1', '-t', 'qs/v1/t1/d1/data', '-f', file]).done;
    clearInterval(sampler);
    expect(Date.now() - start).toBeLessThan(3000);
    expect(r.code).not.toBe(0);
    expect(peak - (before.heapUsed + before.arrayBuffers)).toBeLessThan(3 * 1024 * 1024);
    expect(rejections.some((x) => x.clientId === 'big' && x.reason.includes('bytes announced'))).toBe(true);
    expect(published.some((p) => p.clientId === 'big')).toBe(false);
  });
});

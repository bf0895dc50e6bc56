import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../src/broker/index.ts';
import { localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';
import { waitForCondition } from './helpers/wait.ts';

const log = pino({ level: 'silent' });


const CMD = 'qs/v1/t1/d1/cmd';
const STATE = 'qs/v1/t1/d1/state';

type Persistence = {
  createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
  getWill(client: { id: string }): Promise<{ topic: string; payload: Buffer } | undefined>;
};
const persistenceOf = (broker: RunningBroker) => (broker.aedes as unknown as { persistence: Persistence }).persistence;

async function retained(broker: RunningBroker, topic: string): Promise<string | undefined> {
  let found: string | undefined;
  for await (const packet of persistenceOf(broker).createRetainedStream(topic)) found = packet.payload.toString();
  return found;
}

interface Reconnected {
  client: MqttClient;
  sessionPresent: boolean;
  commands: string[];
}

/** Connects as the device with a persistent session and records what arrives from the first packet on. */
async function deviceSession(broker: RunningBroker, clientId: string, opts: mqtt.IClientOptions = {}): Promise<Reconnected> {
  const commands: string[] = [];
  const client = mqtt.connect(`mqtt://127.0.0.1:${broker.tcpPort}`, { username: 't1/d1', password: 's1', clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  client.on('message', (topic, payload) => {
    if (topic === CMD) commands.push(payload.toString());
  });
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { client, sessionPresent, commands };
}

/**
 * The reliability case: a device with a persistent session subscribed to its commands goes
 * offline; the server queues three QoS 1 commands; the broker is closed and a new one started on
 * the same session store; the device comes back and gets them. Returns what the device saw.
 */
async function restartScenario(start: (previous: RunningBroker | undefined) => Promise<RunningBroker>, waitMs = 3000) {
  const first = await start(undefined);
  const device = await deviceSession(first, 'gw-1');
  expect(device.sessionPresent).toBe(false);
  await device.client.subscribeAsync(CMD, { qos: 1 });
  await device.client.endAsync();
  // Presence leaves a retained "offline" on the state topic at a clean DISCONNECT.
  await waitForCondition(async () => (await retained(first, STATE))?.includes('"offline"') === true, 'retained offline state');
  const stateBefore = await retained(first, STATE);

  const sent = ['{"id":"c1","setpoint":70}', '{"id":"c2","setpoint":75}', '{"id":"c3","setpoint":80}'];
  for (const payload of sent) await first.publish(CMD, payload, { qos: 1 });
  await first.close();

  const second = await start(first);
  const stateAfterRestart = await retained(second, STATE);
  const back = await deviceSession(second, 'gw-1');
  await waitForCondition(() => back.commands.length >= sent.length, 'queued commands', waitMs).catch(() => undefined);
  // Nothing more is on its way.
  await new Promise((r) => setTimeout(r, 100));
  await back.client.endAsync();
  return { first, second, sent, stateBefore, stateAfterRestart, back };
}

describe('broker restart with persistent sessions', () => {
  const auth = new MapAuthenticator().add('t1', 'd1', 's1');
  const hooks = { authenticator: auth, onDevicePublish: async () => undefined, onReject: () => undefined };
  const brokers: RunningBroker[] = [];
  const dirs: string[] = [];

  afterAll(async () => {
    for (const b of brokers) await b.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const track = (b: RunningBroker): RunningBroker => {
    brokers.push(b);
    return b;
  };

  it('memory persistence: a restart loses queued commands, subscriptions and retained state (what disk fixes)', async () => {
    const r = await restartScenario(async () => track(await startBroker(localBrokerConfig(), hooks, log)), 300);
    expect(r.first.persistence.kind).toBe('memory');
    expect(r.stateBefore).toContain('"offline"');
    expect(r.stateAfterRestart).toBeUndefined();
    expect(r.back.sessionPresent).toBe(false);
    expect(r.back.commands).toEqual([]);
  });

  it('a session store that outlives the broker: queued QoS 1 commands, subscriptions, retained state and wills survive', async () => {
    // The first broker's (memory) store, handed to the next broker as a store that survived.
    const start = async (previous: RunningBroker | undefined) =>
      track(await startBroker(localBrokerConfig(), hooks, log, previous ? { persistence: persistenceOf(previous) } : {}));
    const r = await restartScenario(start);
    expect(r.second.persistence.kind).toBe('external');
    expect(r.back.sessionPresent).toBe(true);
    expect(r.back.commands).toEqual(r.sent);
    expect(r.stateAfterRestart).toBe(r.stateBefore);

    // Acknowledged commands are not delivered again after one more restart.
    await r.second.close();
    const third = await start(r.second);
    const again = await deviceSession(third, 'gw-1');
    await new Promise((r) => setTimeout(r, 200));
    expect(again.sessionPresent).toBe(true);
    expect(again.commands).toEqual([]);

    // A device connected during a graceful shutdown keeps its will in the store for the next broker.
    const willed = await deviceSession(third, 'gw-2', { will: { topic: STATE, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true } });
    willed.client.on('error', () => undefined);
    await third.close();
    const will = await persistenceOf(third).getWill({ id: 't1/d1#gw-2' });
    expect(will?.topic).toBe(STATE);
    willed.client.end(true);
    again.client.end(true);
  });

  it('disk persistence: the reliability case across two broker processes on one directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qs-broker-persist-'));
    dirs.push(dataDir);
    const config = localBrokerConfig({ persistence: { kind: 'disk' } });
    const r = await restartScenario(async () => track(await startBroker(config, hooks, log, { dataDir })));
    expect(r.second.persistence).toEqual({ kind: 'disk', dir: join(dataDir, 'broker') });
    expect(r.back.sessionPresent).toBe(true);
    expect(r.back.commands).toEqual(r.sent);
    expect(r.stateAfterRestart).toBe(r.stateBefore);
    // The directory is locked while a broker uses it.
    await expect(startBroker(config, hooks, log, { dataDir })).rejects.toThrow(/cannot open .*another broker using this directory/);
  });

  it('disk persistence keeps the retained messages of server topics in memory only (a dispatch result per tick is no disk write)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qs-broker-retained-'));
    dirs.push(dataDir);
    const config = localBrokerConfig({ persistence: { kind: 'disk' } });
    const first = track(await startBroker(config, hooks, log, { dataDir }));
    const DISPATCH = 'qs/v1/t1/dispatch/latest';
    await first.publish(DISPATCH, '{"tick":1}', { qos: 0, retain: true });
    await first.publish(DISPATCH, '{"tick":2}', { qos: 0, retain: true });
    await first.publish(STATE, '{"state":"online"}', { qos: 1, retain: true });
    // Served while the broker runs, alone and among a wildcard's device topics.
    expect(await retained(first, DISPATCH)).toBe('{"tick":2}');
    const all: string[] = [];
    for await (const p of persistenceOf(first).createRetainedStream('qs/v1/t1/#')) all.push(`${p.topic} ${p.payload.toString()}`);
    expect(all.sort()).toEqual([`${STATE} {"state":"online"}`, `${DISPATCH} {"tick":2}`]);
    await first.close();
    // Not on disk: after a restart on the same directory only the device's retained state is there.
    const second = track(await startBroker(config, hooks, log, { dataDir }));
    expect(await retained(second, DISPATCH)).toBeUndefined();
    expect(await retained(second, STATE)).toBe('{"state":"online"}');
  });

  it("refuses kind 'disk' without a directory to put it in", async () => {
    await expect(startBroker(localBrokerConfig({ persistence: { kind: 'disk' } }), hooks, log)).rejects.toThrow(/no directory is known/);
  });
});

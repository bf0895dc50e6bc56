import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';

export async function tempDir(prefix = 'qs-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A real server in this process on ephemeral ports of 127.0.0.1. */
export async function startTestServer(dataDir: string, over: ConfigInput = {}): Promise<RunningServer> {
  const config = configSchema.parse({
    dataDir,
    ...over,
    broker: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, ...(over.broker ?? {}) },
    api: { host: '127.0.0.1', port: 0, ...(over.api ?? {}) },
    log: { level: 'silent' },
  });
  return startServer(config, { log: createLogger('silent') });
}

export interface SpawnedServer {
  child: ChildProcess;
  mqtt: number;
  api: number;
  ws: number;
  token?: string;
  stderr: () => string;
}

const bin = new URL('../../src/cli/querstrom.mjs', import.meta.url).pathname;

/** `querstrom serve` as a separate process, for SIGKILL and SIGTERM tests; resolves on its ready line. */
export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [bin, 'serve', '--mqtt-port', '0', '--ws-port', '0', '--api-port', '0', ...args], {
    env: { ...process.env, QS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${err}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const r = JSON.parse(line) as { ready?: boolean; mqtt: number; api: number; ws: number; token?: string };
        if (r.ready) {
          clearTimeout(timer);
          resolve({ child, mqtt: r.mqtt, api: r.api, ws: r.ws, ...(r.token ? { token: r.token } : {}), stderr: () => err });
        }
      } catch {
        /* not the ready line */
      }
    });
  });
}

export function connectDevice(port: number, tenant: string, device: string, password: string, opts: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: `${tenant}/${device}`,
      username: `${tenant}/${device}`,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...opts,
    });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

export async function api<T = any>(port: number, path: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export { waitFor } from './wait.ts';

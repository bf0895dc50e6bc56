import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, startTestServer, tempDir, waitFor } from './helpers/server.ts';

/**
 * The usual reasons a start fails on an engineer's machine, each named with what to change: a
 * Debian mosquitto already on the MQTT port, a taken API port, and a second server on the same
 * data directory. A failed start closes what it opened, so the next start on the same data
 * directory succeeds.
 */
describe('start-up failures', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const freePort = async (): Promise<number> => {
    const s = createServer().listen(0, '127.0.0.1');
    await once(s, 'listening');
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  };
  const accepts = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });

  it('names the MQTT port a running mosquitto holds, and starts on the same data directory once it is free', async () => {
    const dir = await tempDir('qs-port-');
    cleanups.push(dir.remove);
    const port = await freePort();
    const mosquitto: ChildProcess = spawn('mosquitto', ['-p', String(port)], { stdio: 'ignore' });
    cleanups.push(() => void mosquitto.kill('SIGKILL'));
    await waitFor(() => accepts(port), 10_000, 50, 'mosquitto listening');

    await expect(startTestServer(dir.path, { broker: { tcp: { host: '127.0.0.1', port } } })).rejects.toThrow(
      `MQTT TCP listener: port ${port} on 127.0.0.1 is already in use (by another MQTT broker such as mosquitto, or another querstrom); stop it, or choose another port (broker.tcp.port in the config, or serve --mqtt-port)`,
    );
    mosquitto.kill('SIGKILL');
    await once(mosquitto, 'exit');
    // Nothing of the failed start is left open: the store, the WAL and the data directory's lock are free.
    const server = await startTestServer(dir.path, { broker: { tcp: { host: '127.0.0.1', port } } });
    expect(server.broker.tcpPort).toBe(port);
    await server.close();
  });

  it('names a taken API port', async () => {
    const dir = await tempDir('qs-port-');
    cleanups.push(dir.remove);
    const holder = createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    cleanups.push(() => new Promise((r) => holder.close(r)));
    const port = (holder.address() as AddressInfo).port;
    await expect(startTestServer(dir.path, { api: { host: '127.0.0.1', port } })).rejects.toThrow(
      `HTTP API: port ${port} on 127.0.0.1 is already in use (by another program, or another querstrom); stop it, or choose another port (api.port in the config, or serve --api-port)`,
    );
    const server = await startTestServer(dir.path);
    await server.close();
  });

  it('refuses a second server on a data directory in use, naming the first one; after kill -9 a restart takes over at once', async () => {
    const dir = await tempDir('qs-lock-');
    cleanups.push(dir.remove);
    const first = await spawnServer(['--data-dir', dir.path]);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const inUse = `data directory ${dir.path} is in use by another querstrom process (PID ${first.child.pid}); stop it, or give this one another data directory (dataDir in the config, or serve --data-dir)`;
    // The command line, as an operator would start it a second time by mistake.
    await expect(spawnServer(['--data-dir', dir.path])).rejects.toThrow(`querstrom: cannot start: ${inUse}`);
    await expect(startTestServer(dir.path)).rejects.toThrow(inUse);
    expect(await accepts(first.mqtt)).toBe(true);

    const exited = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    await exited;
    const restarted = await startTestServer(dir.path);
    await restarted.close();
  });

  it('takes over a PID file whose number now belongs to another process (a reused PID)', async () => {
    const dir = await tempDir('qs-lock-');
    cleanups.push(dir.remove);
    const pidFile = join(dir.path, 'querstrom.pid');
    // Another Node.js process with that PID, started at another time than the file says.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    cleanups.push(() => void other.kill('SIGKILL'));
    await writeFile(pidFile, `${other.pid} 1\n`);
    let server = await startTestServer(dir.path);
    expect((await readFile(pidFile, 'utf8')).split(' ')[0]).toBe(String(process.pid));
    await server.close();
    // A file from before start times were recorded: a process that is not Node.js does not hold it.
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => void sleeper.kill('SIGKILL'));
    await writeFile(pidFile, `${sleeper.pid}\n`);
    server = await startTestServer(dir.path);
    await server.close();
  });
});

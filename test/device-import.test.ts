/**
 * Rolling out many gateways at once: `querstrom device import` registers a CSV list into a
 * running server's data directory (the server picks up the identity file), and the admin API
 * takes a batch. Both are all or none. Imported credentials are then used by real MQTT clients
 * (mosquitto_pub and mqtt.js) against the real broker.
 */
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/index.ts';
import { api, connectDevice, startTestServer, tempDir, waitFor } from './helpers/server.ts';

const run = promisify(execFile);
const bin = new URL('../src/cli/querstrom.mjs', import.meta.url).pathname;
const TENANT = 'stadt-a';

describe('bulk registration of gateways', () => {
  let server: RunningServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let admin: string;
  let reader: string;

  /** The CLI against the server's data directory; resolves with its exit code and output. */
  const importList = async (name: string, csv: string, out?: string) => {
    const file = join(dir.path, name);
    await writeFile(file, csv);
    return run(process.execPath, [bin, 'device', 'import', file, '--tenant', TENANT, '--data-dir', dir.path, ...(out ? ['--out', join(dir.path, out)] : [])]).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  };
  const registered = async () => {
    await server.registry.reload();
    return server.registry
      .listDevices(TENANT)
      .filter((d) => !d.revokedAt)
      .map((d) => d.device)
      .sort();
  };
  const exists = (name: string) => stat(join(dir.path, name)).then(() => true, () => false);

  beforeAll(async () => {
    dir = await tempDir('qs-import-');
    server = await startTestServer(dir.path);
    admin = (await server.registry.addToken(TENANT, 'admin')).token;
    reader = (await server.registry.addToken(TENANT, 'read')).token;
  });

  afterAll(async () => {
    await server?.close();
    await dir?.remove();
  });

  it('imports a spreadsheet list with the CLI; the credentials file is private and a gateway publishes with it at once', async () => {
    const ok = await importList('rollout.csv', 'Device;Type;Location\nhm-101;heat_meter;Nord\n"hm-102";heat_meter;Süd\nhp-7;heat_pump;\n', 'rollout-credentials.csv');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/3 devices registered in stadt-a; credentials \(shown once\) in .*rollout-credentials\.csv/);
    const credsFile = join(dir.path, 'rollout-credentials.csv');
    expect((await stat(credsFile)).mode & 0o777).toBe(0o600);
    const [header, ...rows] = (await readFile(credsFile, 'utf8')).trim().split('\n');
    expect(header).toBe('device,username,password');
    const creds = Object.fromEntries(rows.map((r) => r.split(',')).map(([device, username, password]) => [device!, { username: username!, password: password! }]));
    expect(Object.keys(creds)).toEqual(['hm-101', 'hm-102', 'hp-7']);
    expect(creds['hm-102']!.username).toBe('stadt-a/hm-102');

    // The running server reads the identity file the CLI wrote; a foreign client publishes with the new password.
    const ts = Date.now() - 1000;
    const payload = JSON.stringify({ seq: 1, samples: [{ ts, metrics: { heat_power: 812.5 } }], units: { heat_power: 'kW' } });
    const pub = ['-h', '127.0.0.1', '-p', String(server.broker.tcpPort), '-V', 'mqttv311', '-q', '1', '-i', 'stadt-a/hm-102', '-u', 'stadt-a/hm-102', '-P', creds['hm-102']!.password, '-t', 'qs/v1/stadt-a/hm-102/data', '-m', payload];
    await waitFor(() => run('mosquitto_pub', pub).then(() => true, () => false), 10_000, 200);
    const latest = await waitFor(async () => (await api(server.apiPort!, '/api/v1/latest?device=hm-102&metric=heat_power', reader)).body.readings?.[0]);
    expect(latest).toMatchObject({ value: 812.5, unit: 'kW', ts });
    expect(await registered()).toEqual(['hm-101', 'hm-102', 'hp-7']);
  });

  it('refuses a list with problems, a list naming an active device, and an existing credentials file, registering none', async () => {
    const bad = await importList('bad.csv', 'device,type\nhm-201,heat_meter\nhm 202,heat_meter\nhm-201,\nhm-203,boiler2\n', 'bad-credentials.csv');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('nothing was registered');
    expect(bad.stderr).toContain('line 3: device "hm 202"');
    expect(bad.stderr).toContain('line 4: device "hm-201" is listed twice (first on line 2)');
    expect(bad.stderr).toContain('line 5: unknown type "boiler2"');
    expect(await exists('bad-credentials.csv')).toBe(false);

    const clash = await importList('clash.csv', 'device\nhm-301\nhm-101\n', 'clash-credentials.csv');
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('nothing was registered: device stadt-a/hm-101 already exists; revoke it first');
    expect(await exists('clash-credentials.csv')).toBe(false);

    const overwrite = await importList('more.csv', 'device\nhm-401\n', 'rollout-credentials.csv');
    expect(overwrite.code).toBe(1);
    expect(overwrite.stderr).toMatch(/nothing was registered: cannot create .*rollout-credentials\.csv: EEXIST/);

    expect(await registered()).toEqual(['hm-101', 'hm-102', 'hp-7']);
  });

  it('device add prints a mosquitto_pub command that, pasted into a shell, sends a sample the server accepts', async () => {
    const { stdout } = await run(process.execPath, [bin, 'device', 'add', 'hm-501', '--tenant', TENANT, '--type', 'heat_meter', '--data-dir', dir.path, '--port', String(server.broker.tcpPort), '--json']);
    const command = (JSON.parse(stdout) as { mosquitto_pub: string }).mosquitto_pub;
    // Until the server has read the identity file the CLI wrote, the CONNECT is refused and mosquitto_pub exits non-zero.
    await waitFor(() => run('bash', ['-c', command]).then(() => true, () => false), 10_000, 200);
    const latest = await waitFor(async () => (await api(server.apiPort!, '/api/v1/latest?device=hm-501&metric=supply_temp', reader)).body.readings?.[0]);
    expect(latest).toMatchObject({ value: 78.2, unit: 'degC' });
    const device = (await api(server.apiPort!, '/api/v1/devices/hm-501', reader)).body;
    expect(device).toMatchObject({ messages: 1, readings: 2 });
    // The only refusals allowed are CONNECTs made before the server had read the new identity.
    if (device.rejects > 0) expect(device.lastReject.reason).toMatch(/^CONNECT refused: unknown device/);
  });

  it('registers a batch through the admin API, all or none; each gateway connects with its password', async () => {
    const batch = (devices: unknown, token = admin) => api(server.apiPort!, '/api/v1/devices/batch', token, { method: 'POST', body: JSON.stringify({ devices }) });
    const created = await batch([{ device: 'gw-1', type: 'gateway' }, { device: 'gw-2' }]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.devices.map((d: { device: string; username: string }) => [d.device, d.username])).toEqual([
      ['gw-1', 'stadt-a/gw-1'],
      ['gw-2', 'stadt-a/gw-2'],
    ]);
    const client = await connectDevice(server.broker.tcpPort!, TENANT, 'gw-2', created.body.devices[1].password);
    client.end(true);
    // Registered ahead of the roll-out, gw-1 is not commissioned yet: no outage, and no alarm.
    const status = async (device: string) => (await api(server.apiPort!, `/api/v1/devices/${device}`, admin)).body.status as string;
    expect(await status('gw-1')).toBe('never_connected');
    await waitFor(async () => (await status('gw-2')) === 'offline', 5000, 50, 'gw-2 offline after its disconnect');

    const conflict = await batch([{ device: 'gw-3' }, { device: 'gw-1' }]);
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toContain('gw-1 already exists');
    const twice = await batch([{ device: 'gw-4' }, { device: 'gw-4' }]);
    expect(twice.status).toBe(400);
    expect(twice.body.field).toBe('devices.1.device');
    const badId = await batch([{ device: 'gw-5' }, { device: 'bad id' }]);
    expect(badId.status).toBe(400);
    expect(badId.body.field).toBe('devices.1.device');
    const reserved = await batch([{ device: 'gw-5' }, { device: 'alarms' }]);
    expect([reserved.status, reserved.body.field]).toEqual([400, 'devices.1.device']);
    expect(reserved.body.message).toContain('"alarms" is reserved for server topics');
    // One gateway: the same answers, naming the body's field.
    const one = (device: string) => api(server.apiPort!, '/api/v1/devices', admin, { method: 'POST', body: JSON.stringify({ device }) });
    const reservedOne = await one('dispatch');
    expect([reservedOne.status, reservedOne.body.field]).toEqual([400, 'device']);
    const existingOne = await one('gw-1');
    expect([existingOne.status, existingOne.body.error]).toEqual([409, 'conflict']);
    expect((await batch([])).status).toBe(400);
    expect((await batch([{ device: 'gw-6' }], reader)).status).toBe(403);
    expect((await registered()).filter((d) => d.startsWith('gw-'))).toEqual(['gw-1', 'gw-2']);
  });

  it('takes the CSV list itself through the admin API, naming every problem by line', async () => {
    const post = (csv: string, token = admin, type = 'text/csv') => api(server.apiPort!, '/api/v1/devices/import', token, { method: 'POST', headers: { 'content-type': type }, body: csv });
    const created = await post('device;type;room\nwm-1;heat_meter;cellar\nwm-2;;\n');
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.devices.map((d: { username: string }) => d.username)).toEqual(['stadt-a/wm-1', 'stadt-a/wm-2']);
    const client = await connectDevice(server.broker.tcpPort!, TENANT, 'wm-1', created.body.devices[0].password);
    client.end(true);

    const bad = await post('device,type\nwm-3,heat_meter\nwm 4,\nwm-3,\n');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('nothing was registered: line 3: device "wm 4": ids are 1-64 chars of A-Z a-z 0-9 _ . - and start with a letter or digit (and 1 more problems)');
    expect(bad.body.issues.map((i: { message: string }) => i.message)).toEqual([expect.stringMatching(/^line 3: /), 'line 4: device "wm-3" is listed twice (first on line 2)']);
    expect((await post('device\nwm-5\nwm-1\n')).status).toBe(409);
    expect((await post('device\nwm-6\n', reader)).status).toBe(403);
    expect((await post('{"devices":[{"device":"wm-7"}]}', admin, 'application/json')).status).toBe(400);
    // A list larger than the API's usual 64 KB body limit is taken (up to 1 MB).
    const csv = ['device', ...Array.from({ length: 1600 }, (_, i) => `district-north-substation-heat-meter-${String(i).padStart(5, '0')}`)].join('\n');
    expect(csv.length).toBeGreaterThan(64 * 1024);
    const many = await post(csv);
    expect(many.status, JSON.stringify(many.body).slice(0, 300)).toBe(201);
    expect(many.body.devices).toHaveLength(1600);
    expect((await registered()).filter((d) => d.startsWith('wm-'))).toEqual(['wm-1', 'wm-2']);
  }, 60_000);
});

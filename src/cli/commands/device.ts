import { open, readFile, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { deviceTypes, formatTopic } from '../../contract/index.ts';
import { parseDeviceList } from '../../identity/index.ts';
import { credentialsCsv } from '../../identity/credentials-file.ts';
import { DEFAULT_DATA_DIR, DEFAULT_TENANT, fail, openRegistry } from './common.ts';

/** A sample the engineer can paste: valid against the contract, with explicit units. */
export function mosquittoPubExample(host: string, port: number, tenant: string, device: string, password: string): string {
  const topic = formatTopic({ tenant, gateway: device, kind: 'data' });
  const payload = JSON.stringify({ seq: 1, samples: [{ ts: '<now>', metrics: { heat_power: 1250.5, supply_temp: 78.2 } }], units: { heat_power: 'kW', supply_temp: 'degC' } });
  // Inside the single-quoted payload: a literal quote, the shell's date, a literal quote.
  const withTs = payload.replace('"<now>"', `"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'"`);
  return `mosquitto_pub -h ${host} -p ${port} -V mqttv311 -q 1 -i '${tenant}/${device}' -u '${tenant}/${device}' -P '${password}' -t '${topic}' -m '${withTs}'`;
}

export function registerDeviceCommand(program: Command): void {
  const device = program.command('device').description('attach, list and revoke sensor gateways');

  device
    .command('add <device>')
    .description('register a device and print its credentials and a ready-to-paste mosquitto_pub command')
    .option('--tenant <tenant>', 'municipality the device belongs to', DEFAULT_TENANT)
    .option('--type <type>', `device type (${deviceTypes.join(', ')})`)
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .option('--host <host>', 'broker host for the example command', '127.0.0.1')
    .option('--port <port>', 'broker port for the example command', '1883')
    .option('--json', 'print credentials as JSON')
    .action(async (id: string, o: { tenant: string; type?: string; dataDir: string; host: string; port: string; json?: boolean }) => {
      if (o.type && !(deviceTypes as readonly string[]).includes(o.type)) fail(`unknown --type "${o.type}"; one of ${deviceTypes.join(', ')}`);
      const registry = await openRegistry(o.dataDir);
      const creds = await registry.addDevice(o.tenant, id, o.type).catch((err: Error) => fail(err.message));
      const example = mosquittoPubExample(o.host, Number(o.port), o.tenant, id, creds.password);
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...creds, mosquitto_pub: example }) + '\n');
        return;
      }
      process.stdout.write(
        [
          `device ${o.tenant}/${id} added. The password is shown once; only its hash is stored.`,
          `  MQTT username: ${creds.username}`,
          `  MQTT password: ${creds.password}`,
          `  publish under: qs/v1/${o.tenant}/${id}/{data|birth|state|ack}   commands on: qs/v1/${o.tenant}/${id}/cmd`,
          '',
          'Send a valid sample:',
          `  ${example}`,
          '',
        ].join('\n'),
      );
    });

  device
    .command('import <file>')
    .description('register every device of a CSV list (header row with "device" and optionally "type"), all or none, and write their credentials')
    .option('--tenant <tenant>', 'municipality the devices belong to', DEFAULT_TENANT)
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .option('--out <file>', 'write the credentials as CSV to this new file (mode 600) instead of stdout')
    .option('--json', 'print the credentials as JSON instead of CSV')
    .action(async (file: string, o: { tenant: string; dataDir: string; out?: string; json?: boolean }) => {
      const text = await readFile(file, 'utf8').catch((err: Error) => fail(`cannot read ${file}: ${err.message}`));
      const list = parseDeviceList(text);
      if (list.problems.length) fail(`${file}: nothing was registered:\n  ${list.problems.join('\n  ')}`);
      // The passwords will exist nowhere else: the file is made first (never over another), private.
      const target = o.out ? await open(o.out, 'wx', 0o600).catch((err: Error) => fail(`nothing was registered: cannot create ${o.out}: ${err.message}`)) : undefined;
      const registry = await openRegistry(o.dataDir);
      const creds = await registry.addDevices(o.tenant, list.devices).catch(async (err: Error) => {
        await target?.close();
        if (o.out) await rm(o.out, { force: true });
        return fail(`nothing was registered: ${err.message}`);
      });
      const out = o.json ? JSON.stringify(creds) + '\n' : credentialsCsv(creds);
      if (target) {
        await target.writeFile(out);
        await target.sync();
        await target.close();
      } else process.stdout.write(out);
      process.stderr.write(`${creds.length} devices registered in ${o.tenant}${o.out ? `; credentials (shown once) in ${o.out}` : ''}\n`);
    });

  device
    .command('list')
    .description('list registered devices')
    .option('--tenant <tenant>', 'only this municipality')
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .option('--json', 'print JSON')
    .action(async (o: { tenant?: string; dataDir: string; json?: boolean }) => {
      const registry = await openRegistry(o.dataDir);
      const list = registry.listDevices(o.tenant);
      if (o.json) return void process.stdout.write(JSON.stringify(list) + '\n');
      for (const d of list) {
        const state = d.revokedAt ? `revoked ${new Date(d.revokedAt).toISOString()}` : 'active';
        process.stdout.write(`${d.tenant}/${d.device}\t${d.type ?? '-'}\t${state}\tadded ${new Date(d.createdAt).toISOString()}\n`);
      }
      if (!list.length) process.stdout.write('no devices registered\n');
    });

  device
    .command('revoke <device>')
    .description('revoke a device: its connections are closed and its credentials stop working')
    .option('--tenant <tenant>', 'municipality the device belongs to', DEFAULT_TENANT)
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .action(async (id: string, o: { tenant: string; dataDir: string }) => {
      const registry = await openRegistry(o.dataDir);
      if (!(await registry.revokeDevice(o.tenant, id))) fail(`no active device ${o.tenant}/${id}`);
      process.stdout.write(`device ${o.tenant}/${id} revoked\n`);
    });

  device
    .command('dead-letters [device]')
    .description("show rejected messages and why, from the running server's API")
    .option('--api <url>', 'API base URL', 'http://127.0.0.1:8080')
    .option('--token <token>', 'API token (or QS_TOKEN)', process.env.QS_TOKEN)
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, o: { api: string; token?: string; limit: string; json?: boolean }) => {
      if (!o.token) fail('an API token is needed: --token or QS_TOKEN (create one with `querstrom token add`)');
      const url = new URL('/api/v1/dead-letters', o.api);
      if (id) url.searchParams.set('device', id);
      url.searchParams.set('limit', o.limit);
      const res = await fetch(url, { headers: { authorization: `Bearer ${o.token}` } }).catch((err: Error) => fail(`cannot reach ${o.api}: ${err.message}`));
      const body = (await res.json()) as { deadLetters?: Array<{ receivedAt: number; device: string; topic: string; reason: string; excerpt: string }>; message?: string };
      if (!res.ok) fail(`API answered ${res.status}: ${body.message ?? ''}`);
      if (o.json) return void process.stdout.write(JSON.stringify(body) + '\n');
      for (const d of body.deadLetters ?? []) {
        process.stdout.write(`${new Date(d.receivedAt).toISOString()}  ${d.device}  ${d.topic}\n  reason:  ${d.reason}\n  payload: ${d.excerpt}\n`);
      }
      if (!body.deadLetters?.length) process.stdout.write('no dead letters\n');
    });
}

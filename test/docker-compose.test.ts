/**
 * docker-compose.yml and what it mounts, checked without a Docker engine: the YAML parses,
 * every QS_* variable given to querstrom is one the program reads, ports and credentials agree
 * across services, the Grafana provisioning files parse and point at each other, and the
 * Mosquitto config really starts Debian's mosquitto with its shipped password file.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { parseDocument, parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { configSchema } from '../src/config/schema.ts';
import { INFLUX_ENV, influxEnvNames, influxOptionsFromEnv, MEASUREMENT } from '../src/store/influx/index.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const rootFile = (p: string) => join(root, p);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

function loadCompose(): { services: Record<string, Service>; volumes: Record<string, unknown> } {
  const doc = parseDocument(readFileSync(rootFile('docker-compose.yml'), 'utf8'));
  expect(doc.errors).toEqual([]);
  expect(doc.warnings).toEqual([]);
  return doc.toJS() as { services: Record<string, Service>; volumes: Record<string, unknown> };
}

/** Compose interpolation as it behaves with nothing set in the environment: `${X:-default}` gives default. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_m, _name: string, dflt: string | undefined) => {
    if (dflt === undefined) throw new Error(`${value}: variable without a default`);
    return dflt;
  });
}

function resolvedEnv(s: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
}

/** The QS_* names src/config/load.ts applies, read from its envOverrides table. */
function configEnvNames(): string[] {
  const src = readFileSync(rootFile('src/config/load.ts'), 'utf8');
  const table = src.slice(src.indexOf('const envOverrides'), src.indexOf('];', src.indexOf('const envOverrides')));
  const names = [...table.matchAll(/\['(QS_[A-Z0-9_]+)'/g)].map((m) => m[1]!);
  expect(names.length).toBeGreaterThan(3);
  return names;
}

/** host:container[:ro] bind mounts with a relative source. */
function bindMounts(s: Service): Array<{ source: string; target: string }> {
  return (s.volumes ?? [])
    .filter((v) => v.startsWith('./'))
    .map((v) => {
      const [source, target] = v.split(':');
      return { source: source!, target: target! };
    });
}

function containerPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => Number(String(p).split(':').at(-1)));
}

const compose = loadCompose();
const services = compose.services;

describe('docker-compose.yml', () => {
  it('has the four services; mosquitto only under the external-broker profile', () => {
    expect(Object.keys(services).sort()).toEqual(['grafana', 'influxdb', 'mosquitto', 'querstrom']);
    expect(services.mosquitto!.profiles).toEqual(['external-broker']);
    for (const name of ['querstrom', 'influxdb', 'grafana']) expect(services[name]!.profiles).toBeUndefined();
    expect(services.influxdb!.image).toMatch(/^influxdb:2\.7/);
    expect(services.grafana!.image).toMatch(/^grafana\/grafana/);
    expect(services.mosquitto!.image).toMatch(/^eclipse-mosquitto:2/);
    // Every named volume used is declared.
    for (const s of Object.values(services)) {
      for (const v of s.volumes ?? []) if (!v.startsWith('./')) expect(compose.volumes, v).toHaveProperty(v.split(':')[0]!);
    }
  });

  it('querstrom: the serve command, the ports the program listens on by default', () => {
    const q = services.querstrom!;
    expect(q.command).toEqual(['node', 'src/cli/querstrom.mjs', 'serve', '--config', '/etc/querstrom/querstrom.yaml']);
    expect(existsSync(rootFile('src/cli/querstrom.mjs'))).toBe(true);
    const defaults = configSchema.parse({});
    expect(containerPorts(q).sort()).toEqual([defaults.broker.tcp.port, defaults.broker.ws.port, defaults.api.port].sort());
    expect(containerPorts(q).sort()).toEqual([1883, 8080, 8083]);
    // The readiness probe hits the API route that exists.
    expect(q.healthcheck!.test.join(' ')).toContain(`:${defaults.api.port}/ready`);
    expect(readFileSync(rootFile('src/api/routes/health.ts'), 'utf8')).toContain("'/ready'");
    expect(q.depends_on?.influxdb?.condition).toBe('service_healthy');
  });

  it('querstrom: every QS_* variable is one the program reads, and the influx ones are all there', async () => {
    const env = resolvedEnv(services.querstrom!);
    const read = new Set([...configEnvNames(), ...influxEnvNames]);
    for (const name of Object.keys(env)) expect(read.has(name), `${name} is not read by the program`).toBe(true);
    for (const name of influxEnvNames) expect(env).toHaveProperty(name);
    expect(env.QS_STORE).toBe('influx');

    // The mounted config plus this environment is a valid config for the influx store.
    const mount = bindMounts(services.querstrom!).find((m) => m.target === '/etc/querstrom/querstrom.yaml');
    expect(mount).toBeDefined();
    const config = await loadConfig(rootFile(mount!.source), {}, env);
    expect(config.store.kind).toBe('influx');
    expect(config.dataDir).toBe('/var/lib/querstrom');
    const influx = influxOptionsFromEnv(env, config.dataDir);
    expect(influx).toEqual({ url: 'http://influxdb:8086', token: expect.any(String), org: 'querstrom', bucket: 'readings', spoolDir: '/var/lib/querstrom/influx-spool' });
    // The data dir (WAL and spool) is on a volume.
    expect(services.querstrom!.volumes!.some((v) => v.endsWith(':/var/lib/querstrom'))).toBe(true);
    expect(() => influxOptionsFromEnv({ QS_INFLUX_URL: 'http://x:8086' }, '/d')).toThrow(/QS_INFLUX_ORG, QS_INFLUX_BUCKET, QS_INFLUX_TOKEN are not set/);
  });

  it('influxdb setup creates exactly the org, bucket and token querstrom and grafana use', () => {
    const q = resolvedEnv(services.querstrom!);
    const i = resolvedEnv(services.influxdb!);
    const g = resolvedEnv(services.grafana!);
    expect(i.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    expect(i.DOCKER_INFLUXDB_INIT_ORG).toBe(q[INFLUX_ENV.org]);
    expect(i.DOCKER_INFLUXDB_INIT_BUCKET).toBe(q[INFLUX_ENV.bucket]);
    expect(i.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN).toBe(q[INFLUX_ENV.token]);
    expect(i.DOCKER_INFLUXDB_INIT_PASSWORD!.length).toBeGreaterThanOrEqual(8); // influx setup refuses shorter ones
    expect(g.INFLUX_TOKEN).toBe(q[INFLUX_ENV.token]);
    expect(g.INFLUX_ORG).toBe(q[INFLUX_ENV.org]);
    expect(g.INFLUX_BUCKET).toBe(q[INFLUX_ENV.bucket]);
    const url = new URL(q[INFLUX_ENV.url]!);
    expect(url.hostname).toBe('influxdb');
    expect(containerPorts(services.influxdb!)).toContain(Number(url.port));
  });

  it('every bind-mounted file or directory exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of bindMounts(s)) expect(existsSync(rootFile(m.source)), `${name}: ${m.source}`).toBe(true);
    }
  });
});

describe('grafana provisioning', () => {
  const grafana = services.grafana!;
  const mounts = bindMounts(grafana);
  const hostPath = (containerPath: string): string => {
    const m = mounts.find((x) => containerPath === x.target || containerPath.startsWith(x.target + '/'));
    if (!m) throw new Error(`${containerPath} is not mounted into grafana`);
    return rootFile(posix.join(m.source, posix.relative(m.target, containerPath)));
  };

  it('mounts the provisioning directory where grafana reads it', () => {
    expect(statSync(hostPath('/etc/grafana/provisioning/datasources')).isDirectory()).toBe(true);
    expect(statSync(hostPath('/etc/grafana/provisioning/dashboards')).isDirectory()).toBe(true);
  });

  it('datasource: InfluxDB with Flux, at the influxdb service, with variables grafana gets', () => {
    const ds = parseYaml(readFileSync(hostPath('/etc/grafana/provisioning/datasources/influxdb.yaml'), 'utf8')) as {
      apiVersion: number;
      datasources: Array<{ uid: string; type: string; url: string; isDefault: boolean; jsonData: Record<string, unknown>; secureJsonData: Record<string, string> }>;
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toHaveLength(1);
    const d = ds.datasources[0]!;
    expect(d).toMatchObject({ type: 'influxdb', url: resolvedEnv(services.querstrom!)[INFLUX_ENV.url], isDefault: true });
    expect(d.jsonData.version).toBe('Flux');
    const env = resolvedEnv(grafana);
    const refs = [String(d.jsonData.organization), String(d.jsonData.defaultBucket), d.secureJsonData.token!];
    for (const ref of refs) {
      const name = /^\$\{?([A-Z_]+)\}?$/.exec(ref)?.[1];
      expect(name, ref).toBeDefined();
      expect(env, `grafana needs ${name} in its environment`).toHaveProperty(name!);
    }
  });

  it('dashboard provider and dashboard: the path is mounted, the JSON parses and queries the store layout', () => {
    const provider = parseYaml(readFileSync(hostPath('/etc/grafana/provisioning/dashboards/querstrom.yaml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(provider.providers).toHaveLength(1);
    expect(provider.providers[0]!.type).toBe('file');
    const dashDir = provider.providers[0]!.options.path;
    const home = resolvedEnv(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(posix.dirname(home)).toBe(dashDir);

    const ds = parseYaml(readFileSync(hostPath('/etc/grafana/provisioning/datasources/influxdb.yaml'), 'utf8')) as { datasources: Array<{ uid: string }> };
    const dash = JSON.parse(readFileSync(hostPath(home), 'utf8')) as {
      uid: string;
      title: string;
      templating: { list: Array<{ name: string; query: unknown; datasource?: { uid: string } }> };
      panels: Array<{ type: string; title: string; datasource?: { uid: string }; targets?: Array<{ query: string; datasource: { uid: string } }> }>;
    };
    expect(dash.uid).toBe('querstrom-live');
    const queryPanels = dash.panels.filter((p) => p.type !== 'row');
    expect(queryPanels.length).toBeGreaterThanOrEqual(5);
    expect(queryPanels.map((p) => p.title).join(' ')).toMatch(/flows/i);
    expect(queryPanels.map((p) => p.title).join(' ')).toMatch(/device/i);
    const variables = new Set(dash.templating.list.map((v) => v.name));
    for (const p of queryPanels) {
      expect(p.datasource?.uid, p.title).toBe(ds.datasources[0]!.uid);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) {
        expect(t.datasource.uid).toBe(ds.datasources[0]!.uid);
        expect(t.query).toContain('from(bucket: v.defaultBucket)');
        expect(t.query).toContain(`r._measurement == "${MEASUREMENT}"`);
        expect(t.query).toContain('r._field == "value"');
        // Every dashboard variable a query uses is defined.
        for (const m of t.query.matchAll(/\$\{([a-z_]+)(?::[a-z]+)?\}/g)) expect(variables.has(m[1]!), `${p.title}: \${${m[1]}}`).toBe(true);
        // Parentheses and brackets balance (a cheap guard against a broken Flux edit).
        for (const [open, close] of [['(', ')'], ['[', ']'], ['{', '}']] as const) expect(t.query.split(open).length, `${p.title} ${open}`).toBe(t.query.split(close).length);
      }
    }
  });
});

describe('mosquitto (external-broker profile)', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('the shipped config starts mosquitto, refuses anonymous clients and accepts the development user', async () => {
    const m = bindMounts(services.mosquitto!);
    const conf = m.find((x) => x.target === '/mosquitto/config/mosquitto.conf')!;
    const passwd = m.find((x) => x.target === '/mosquitto/config/passwd')!;
    expect(conf && passwd).toBeTruthy();
    const text = readFileSync(rootFile(conf.source), 'utf8');
    expect(text).toMatch(/^allow_anonymous false$/m);
    expect(text).toMatch(/^password_file \/mosquitto\/config\/passwd$/m);
    expect(containerPorts(services.mosquitto!)).toContain(Number(/^listener (\d+)/m.exec(text)![1]));

    // Same file, with the container paths and port mapped to this machine.
    const dir = await mkdtemp(join(tmpdir(), 'qs-mosq-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const local = text
      .replace(/^listener \d+$/m, `listener ${port} 127.0.0.1`)
      .replace(/^password_file .*$/m, `password_file ${rootFile(passwd.source)}`)
      .replace(/^persistence_location .*$/m, `persistence_location ${dir}/`);
    await writeFile(join(dir, 'mosquitto.conf'), local);
    const proc = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    cleanups.push(async () => {
      proc.kill('SIGKILL');
    });

    const user = /^#\s+(\S+) \/ (\S+)$/m.exec(text);
    expect(user, 'the config documents the development user').not.toBeNull();
    const connect = async (opts: mqtt.IClientOptions) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
        } catch (err) {
          // Refused TCP while mosquitto is still starting; anything else is the answer.
          if (!/ECONNREFUSED/.test(String(err)) || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const ok = await connect({ username: user![1], password: user![2], clientId: 'compose-test' });
    expect(ok.connected).toBe(true);
    await ok.endAsync();
    await expect(connect({ clientId: 'anon' })).rejects.toThrow(/Not authorized|Connection refused/i);
    await expect(connect({ username: user![1], password: 'wrong', clientId: 'wrong' })).rejects.toThrow(/Not authorized|Connection refused|Bad user/i);
    expect(output).not.toMatch(/Error/);
  });
});

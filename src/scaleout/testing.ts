/**
 * Real Debian servers on 127.0.0.1 for tests and benchmarks: victoria-metrics (speaks InfluxDB's
 * /api/v2/write) and mosquitto (an external MQTT broker), each with a temp dir and a free port,
 * plus a QoS 1 publisher that records which readings were acknowledged.
 * Not used by the server itself.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';

const run = promisify(execFile);
export const VICTORIA_METRICS_BIN = '/usr/bin/victoria-metrics';
export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
export const MOSQUITTO_PASSWD_BIN = '/usr/bin/mosquitto_passwd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

class Fatal extends Error {}

/**
 * Polls fn until it returns a value (not undefined or false). Errors count as "not yet" and the
 * last one is quoted on timeout, except a Fatal one, which ends the wait at once.
 */
export async function until<T>(what: string | (() => string), fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** Seconds of CPU a child used so far (user + system, from /proc); 0 when unknown. */
export async function processCpuSeconds(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** One sample as exported: the reading's series and time. */
export interface ExportedSample {
  device: string;
  metric: string;
  unit: string;
  ts: number;
  value: number;
}

export class VictoriaMetrics {
  private proc: ChildProcess | undefined;
  private cpuBefore = 0;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly ownsDir: boolean,
  ) {}

  /** Starts on a free port with a temp data dir (removed by `remove()`). */
  static async start(opts: { dataDir?: string; port?: number } = {}): Promise<VictoriaMetrics> {
    const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'qs-vm-')));
    const vm = new VictoriaMetrics(dir, opts.port ?? (await freePort()), opts.dataDir === undefined);
    try {
      await vm.start();
    } catch (err) {
      await vm.remove();
      throw err;
    }
    return vm;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** (Re)starts the server on the same data dir and port. */
  async start(): Promise<void> {
    if (this.proc) return;
    const proc = spawn(VICTORIA_METRICS_BIN, [`-storageDataPath=${this.dataDir}`, `-httpListenAddr=127.0.0.1:${this.port}`, '-retentionPeriod=100y', '-loggerLevel=ERROR'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let exited = false;
    proc.once('exit', () => (exited = true));
    proc.once('error', (err) => ((stderr += `${VICTORIA_METRICS_BIN}: ${err.message}`), (exited = true)));
    this.proc = proc;
    try {
      await until(() => `victoria-metrics on ${this.url}`, async () => {
        if (exited) throw new Fatal(`victoria-metrics exited: ${stderr}`);
        return (await fetch(`${this.url}/health`)).ok || undefined;
      }, 20_000);
    } catch (err) {
      proc.kill('SIGKILL');
      this.proc = undefined;
      throw err;
    }
  }

  /** CPU seconds of the server process since it (re)started, summed over restarts. */
  async cpuSeconds(): Promise<number> {
    return this.cpuBefore + (await processCpuSeconds(this.proc?.pid));
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.cpuBefore += await processCpuSeconds(proc.pid);
    this.proc = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  async remove(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.ownsDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  /** Every raw sample of `tenant`, future ones too (duplicates included: deduplication is off). */
  async samples(tenant: string): Promise<ExportedSample[]> {
    await fetch(`${this.url}/internal/force_flush`);
    const res = await fetch(`${this.url}/api/v1/export`, { method: 'POST', body: new URLSearchParams({ 'match[]': `reading_value{tenant="${tenant}"}`, start: '0', end: String(Math.floor(Date.now() / 1000) + 10 * 86_400) }) });
    if (!res.ok) throw new Error(`victoria-metrics export: HTTP ${res.status} ${await res.text()}`);
    const out: ExportedSample[] = [];
    for (const line of (await res.text()).split('\n')) {
      if (!line) continue;
      const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
      const device = s.metric.device ?? '';
      const metric = s.metric.metric ?? '';
      const unit = s.metric.unit ?? '';
      for (let i = 0; i < s.timestamps.length; i++) out.push({ device, metric, unit, ts: s.timestamps[i]!, value: s.values[i]! });
    }
    return out;
  }
}

export interface MosquittoUser {
  username: string;
  password: string;
}

export class Mosquitto {
  private proc: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /**
   * Starts mosquitto with a password file and the ACL a Querstrom deployment needs: devices
   * (username {tenant}/{device}) write under their own prefix and read their command topics;
   * `workerUser` reads all device topics and writes command topics.
   */
  static async start(opts: { users: MosquittoUser[]; workerUser: string; maxInflight?: number }): Promise<Mosquitto> {
    const dir = await mkdtemp(join(tmpdir(), 'qs-mosquitto-'));
    const m = new Mosquitto(dir, await freePort());
    const pw = join(dir, 'passwd');
    await writeFile(pw, '', { mode: 0o600 });
    for (const u of opts.users) await run(MOSQUITTO_PASSWD_BIN, ['-b', pw, u.username, u.password]);
    await writeFile(join(dir, 'acl'), mosquittoAcl(opts.workerUser));
    await writeFile(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${m.port} 127.0.0.1`,
        // Started as root, mosquitto would switch to user "mosquitto", which cannot read the temp dir.
        `user ${userInfo().username}`,
        'allow_anonymous false',
        `password_file ${pw}`,
        `acl_file ${join(dir, 'acl')}`,
        'persistence false',
        // No per-session cap: a worker that is down must not lose its queued share.
        'max_queued_messages 0',
        `max_inflight_messages ${opts.maxInflight ?? 500}`,
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    try {
      await m.start();
    } catch (err) {
      await m.remove();
      throw err;
    }
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn(MOSQUITTO_BIN, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8000)));
    let exited = false;
    proc.once('exit', () => (exited = true));
    proc.once('error', (err) => ((this.log += `${MOSQUITTO_BIN}: ${err.message}`), (exited = true)));
    this.proc = proc;
    await until(() => `mosquitto on port ${this.port}: ${this.log}`, async () => {
      if (exited) throw new Fatal(`mosquitto exited: ${this.log}`);
      return new Promise<boolean | undefined>((resolve) => {
        const c = mqtt.connect(this.url, { reconnectPeriod: 0, connectTimeout: 1000, username: 'probe', password: 'probe' });
        // "Not authorized" is an answer too: the listener is up.
        c.once('connect', () => (c.end(true), resolve(true)));
        c.once('error', (err) => (c.end(true), resolve(/authori|identifier|password/i.test(err.message) || undefined)));
      });
    }, 10_000);
  }

  stderr(): string {
    return this.log;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  async remove(): Promise<void> {
    await this.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Mosquitto acl_file for Querstrom: %u is the device's username {tenant}/{device}, so each
 * device may publish only under qs/v1/{tenant}/{device}/ and read only its own command topics.
 */
export function mosquittoAcl(workerUser: string): string {
  return [
    `user ${workerUser}`,
    'topic read qs/v1/#',
    'topic write qs/v1/+/+/cmd',
    'topic write qs/v1/+/+/+/cmd',
    '',
    'pattern write qs/v1/%u/#',
    'pattern read qs/v1/%u/cmd',
    'pattern read qs/v1/%u/+/cmd',
    '',
  ].join('\n');
}

export interface StreamDevice {
  tenant: string;
  device: string;
  password?: string;
}

/**
 * QoS 1 data messages from several devices, one reading each (metric heat_power, ts = base + seq,
 * value = seq), `inflight` unacknowledged per device. Records every seq the broker acknowledged;
 * after `cut()` no acknowledgement counts (the moment of a kill), and publishing stops.
 */
export class AckedStream {
  readonly acked = new Map<string, Set<number>>();
  readonly base: number;
  private cutAt = false;
  private stopped = false;
  private readonly clients: mqtt.MqttClient[] = [];
  private runs: Promise<void>[] = [];
  private nextSeq = new Map<string, number>();

  constructor(
    private readonly url: string,
    private readonly devices: StreamDevice[],
    private readonly opts: { inflight?: number; base?: number; firstSeq?: number; ratePerDevice?: number } = {},
  ) {
    this.base = opts.base ?? Date.now() - 3_600_000;
    for (const d of devices) {
      this.acked.set(d.device, new Set());
      this.nextSeq.set(d.device, opts.firstSeq ?? 0);
    }
  }

  /** Per device, the first seq not yet handed to the broker. */
  sentUpTo(): Map<string, number> {
    return new Map(this.nextSeq);
  }

  get total(): number {
    let n = 0;
    for (const s of this.acked.values()) n += s.size;
    return n;
  }

  /** Connects every device and publishes until `limitPerDevice` messages each, stop() or cut(). */
  async start(limitPerDevice = Number.POSITIVE_INFINITY): Promise<void> {
    const clients = await Promise.all(
      this.devices.map(
        (d) =>
          new Promise<mqtt.MqttClient>((resolve, reject) => {
            const c = mqtt.connect(this.url, {
              clientId: `${d.tenant}/${d.device}`,
              username: `${d.tenant}/${d.device}`,
              ...(d.password ? { password: d.password } : {}),
              protocolVersion: 4,
              clean: true,
              reconnectPeriod: 0,
              connectTimeout: 10_000,
            });
            c.once('connect', () => resolve(c));
            c.once('error', reject);
          }),
      ),
    );
    this.clients.push(...clients);
    this.runs = clients.map((client, i) => this.publishLoop(client, this.devices[i]!, limitPerDevice));
  }

  private async publishLoop(client: mqtt.MqttClient, d: StreamDevice, limit: number): Promise<void> {
    client.on('error', () => undefined);
    const acked = this.acked.get(d.device)!;
    const topic = `qs/v1/${d.tenant}/${d.device}/data`;
    const first = this.nextSeq.get(d.device)!;
    const interval = this.opts.ratePerDevice ? 1000 / this.opts.ratePerDevice : 0;
    const t0 = performance.now();
    const lane = async () => {
      for (;;) {
        const seq = this.nextSeq.get(d.device)!;
        if (this.stopped || this.cutAt || seq - first >= limit) return;
        this.nextSeq.set(d.device, seq + 1);
        if (interval > 0) {
          const due = t0 + (seq - first) * interval - performance.now();
          if (due > 0) await sleep(due);
        }
        const payload = JSON.stringify({ seq, samples: [{ ts: this.base + seq, metrics: { heat_power: seq } }], units: { heat_power: 'kW' } });
        try {
          await client.publishAsync(topic, payload, { qos: 1 });
        } catch {
          return;
        }
        if (!this.cutAt) acked.add(seq);
      }
    };
    await Promise.all(Array.from({ length: this.opts.inflight ?? 8 }, lane));
  }

  /** Resolves when every device reached its limit (or the stream was stopped). */
  async finished(): Promise<void> {
    await Promise.all(this.runs);
  }

  /** From now on acknowledgements are not counted (they may come after a kill). */
  cut(): void {
    this.cutAt = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.runs);
    await Promise.all(this.clients.map((c) => c.endAsync().catch(() => undefined)));
  }

  /** Drops connections without waiting (the broker side is gone). */
  close(): void {
    this.stopped = true;
    for (const c of this.clients) c.end(true);
  }
}

export interface ExactlyOnceReport {
  acked: number;
  stored: number;
  missing: Array<{ device: string; seq: number }>;
  /** Samples stored more than once (same series and time). */
  duplicates: Array<{ device: string; seq: number; count: number }>;
  /** Samples with a time no acknowledged or sent reading has. */
  unexpected: number;
}

/** Compares what a store holds (heat_power samples, ts = base + seq) with what was acknowledged. */
export function compareStored(samples: readonly ExportedSample[], acked: ReadonlyMap<string, ReadonlySet<number>>, base: number, sentUpTo?: ReadonlyMap<string, number>): ExactlyOnceReport {
  const counts = new Map<string, Map<number, number>>();
  let unexpected = 0;
  for (const s of samples) {
    if (s.metric !== 'heat_power') continue;
    const seq = s.ts - base;
    if (s.value !== seq) unexpected++;
    let m = counts.get(s.device);
    if (!m) counts.set(s.device, (m = new Map()));
    m.set(seq, (m.get(seq) ?? 0) + 1);
  }
  const report: ExactlyOnceReport = { acked: 0, stored: 0, missing: [], duplicates: [], unexpected };
  for (const [device, seqs] of acked) {
    report.acked += seqs.size;
    const m = counts.get(device) ?? new Map<number, number>();
    for (const seq of seqs) if (!m.has(seq)) report.missing.push({ device, seq });
  }
  for (const [device, m] of counts) {
    const limit = sentUpTo?.get(device);
    for (const [seq, count] of m) {
      report.stored++;
      if (count > 1) report.duplicates.push({ device, seq, count });
      if (!acked.has(device) || seq < 0 || (limit !== undefined && seq >= limit)) report.unexpected++;
    }
  }
  return report;
}

/**
 * After a SIGKILL, the restart re-sends whatever the store had taken (written to the server or
 * spooled) but not yet marked applied: the same points again, which InfluxDB stores once
 * (same series and time) and victoria-metrics without deduplication shows twice. Returns why
 * `r` is more than such a replay (null when it is not): duplicates beyond one replay each, or
 * more than `maxReplayed` of them.
 */
export function beyondKillReplay(r: ExactlyOnceReport, maxReplayed: number): string | null {
  const twice = r.duplicates.filter((d) => d.count > 2);
  if (twice.length > 0) return `${twice.length} reading(s) stored more than twice, e.g. ${JSON.stringify(twice.slice(0, 3))}`;
  if (r.duplicates.length > maxReplayed) return `${r.duplicates.length} reading(s) stored twice, more than one replayed batch (${maxReplayed})`;
  return null;
}

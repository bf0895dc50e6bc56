/**
 * `querstrom bench memory`: the server's resident set with thousands of devices connected and
 * publishing. The real `querstrom serve` runs in its own process (so /proc/<pid> is the server
 * alone), with every device registered in its identity file beforehand; a raw-socket swarm in a
 * second process connects them all, sends a birth each, then valid QoS 1 data messages at a steady
 * rate. After a graceful stop the bench opens the store itself and checks that every acknowledged
 * reading is there.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { IdentityRegistry } from '../src/identity/index.ts';
import { identityFile } from '../src/server/index.ts';
import { openDuckDbStore, type Store } from '../src/store/index.ts';
import { spawnSwarm } from '../src/broker/testing-swarm.ts';

export interface MemoryBenchOptions {
  devices: number;
  /** Data messages per second per device. */
  rate: number;
  /** Seconds of steady publishing (after every device connected). */
  durationS: number;
  /** Devices connect at uniformly random times within this window. Default: 1 s per 350 devices (each first login costs the server one scrypt check), 2 s at least. */
  connectWindowS?: number;
  /** Extra Node/V8 flags for the server process (e.g. --max-old-space-size=512), to compare tunings. */
  serverNodeArgs?: string[];
  log?: (line: string) => void;
}

export const MEMORY_TARGET_MB = 400;
const TENANT = 'bench';
const DEVICE_PREFIX = 'hm-';
const METRIC = 'heat_power';
const BIRTH = JSON.stringify({ type: 'heat_meter', firmware: 'bench', interval_s: 10, metrics: { [METRIC]: { unit: 'kW' } } });
const bin = new URL('../src/cli/querstrom.mjs', import.meta.url).pathname;
const projectRoot = new URL('../', import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fdLimit(which: 'S' | 'H'): number {
  const out = execFileSync('sh', ['-c', `ulimit -${which}n`], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Resident set now and its high-water mark, kB, from /proc/<pid>/status. */
function procMemory(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of `pid`, from /proc/<pid>/stat (fields 14 and 15). */
function procCpuS(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** Heap figures (prom-client default metrics) and connected clients from the server's Prometheus endpoint. */
async function scrapeHeap(apiPort: number): Promise<{ heapUsed: number; heapTotal: number; external: number; clients: number } | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    return {
      heapUsed: value('querstrom_process_nodejs_heap_size_used_bytes'),
      heapTotal: value('querstrom_process_nodejs_heap_size_total_bytes'),
      external: value('querstrom_process_nodejs_external_memory_bytes'),
      clients: value('querstrom_mqtt_connected_clients'),
    };
  } catch {
    return undefined;
  }
}

/** Registers `count` devices in the server's identity file (one batch) and returns their passwords by index. */
async function registerDevices(dataDir: string, count: number): Promise<string[]> {
  const registry = await IdentityRegistry.open(identityFile(dataDir));
  const ids = Array.from({ length: count }, (_, k) => ({ device: `${DEVICE_PREFIX}${k}`, type: 'heat_meter' }));
  return (await registry.addDevices(TENANT, ids)).map((c) => c.password);
}

interface ServerProcess {
  child: ChildProcess;
  pid: number;
  mqtt: number;
  api: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `querstrom serve` in its own process with the open-file limit raised; resolves on its ready line. */
function startServerProcess(dataDir: string, fds: number, nodeArgs: string[]): Promise<ServerProcess> {
  const argv = [process.execPath, ...nodeArgs, bin, 'serve', '--data-dir', dataDir, '--mqtt-port', '0', '--ws-port', '0', '--api-port', '0'];
  const child = spawn('sh', ['-c', 'ulimit -n "$0" && exec "$@"', String(fds), ...argv], {
    cwd: projectRoot,
    env: { ...process.env, QS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 60 s: ${err}`));
    }, 60_000);
    void exited.then(({ code }) => reject(new Error(`server exited with ${code} before it was ready: ${err}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        const r = JSON.parse(line) as { ready?: boolean; mqtt: number; api: number };
        if (!r.ready) return;
        clearTimeout(timer);
        // `exec` replaced the shell: the child's pid is the server's.
        resolve({ child, pid: child.pid!, mqtt: r.mqtt, api: r.api, stderr: () => err, exited });
      } catch {
        /* not the ready line */
      }
    });
  });
}

/** Counts stored readings per device with range queries, halving a time window whenever it fills the limit. */
async function countStoredPerDevice(store: Store, from: number, to: number): Promise<Map<string, number>> {
  const LIMIT = 100_000;
  const counts = new Map<string, number>();
  const windows: Array<[number, number]> = [[from, to]];
  while (windows.length) {
    const [a, b] = windows.pop()!;
    const rows = await store.queryRange({ tenant: TENANT, metric: METRIC, from: a, to: b, limit: LIMIT });
    if (rows.length === LIMIT) {
      if (b - a <= 1) throw new Error(`more than ${LIMIT} readings in one millisecond at ${a}`);
      const mid = a + Math.floor((b - a) / 2);
      windows.push([a, mid], [mid, b]);
      continue;
    }
    for (const r of rows) counts.set(r.device, (counts.get(r.device) ?? 0) + 1);
  }
  return counts;
}

export async function benchMemory(o: MemoryBenchOptions) {
  const say = o.log ?? (() => undefined);
  if (!Number.isInteger(o.devices) || o.devices < 1) throw new RangeError(`devices must be a whole number >= 1, got ${o.devices}`);
  if (!(o.rate > 0)) throw new RangeError(`rate must be > 0 messages per second per device, got ${o.rate}`);
  if (!(o.durationS > 0)) throw new RangeError(`duration must be > 0 seconds, got ${o.durationS}`);
  const connectWindowS = o.connectWindowS ?? Math.max(2, o.devices / 350);
  if (!(connectWindowS >= 0)) throw new RangeError(`connect window must be >= 0 seconds, got ${o.connectWindowS}`);

  // One socket per device on each side, plus the server's own files (WAL, store, broker sessions).
  const hard = fdLimit('H');
  const serverFds = o.devices + 1024;
  const swarmFds = o.devices + 256;
  if (hard < Math.max(serverFds, swarmFds)) throw new Error(`open-file hard limit ${hard} is below the ${Math.max(serverFds, swarmFds)} needed for ${o.devices} devices; raise it (ulimit -Hn) or use fewer devices`);

  const dataDir = await mkdtemp(join(tmpdir(), 'qs-bench-memory-'));
  let server: ServerProcess | undefined;
  let swarm: Awaited<ReturnType<typeof spawnSwarm>> | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    say(`registering ${o.devices} devices (scrypt-hashed secrets)…`);
    const t0 = performance.now();
    const passwords = await registerDevices(dataDir, o.devices);
    const registerS = (performance.now() - t0) / 1000;
    say(`  ${registerS.toFixed(1)} s`);

    const nodeArgs = o.serverNodeArgs ?? [];
    server = await startServerProcess(dataDir, serverFds, nodeArgs);
    const pid = server.pid;
    say(`server pid ${pid} ready (mqtt ${server.mqtt}, api ${server.api})${nodeArgs.length ? ` with node ${nodeArgs.join(' ')}` : ''}`);

    // Resident set every `sampleMs`, labelled with the phase under way.
    type Phase = 'idle' | 'connect' | 'steady' | 'drain';
    const current: { phase: Phase } = { phase: 'idle' };
    const samples: Array<{ t: number; phase: Phase; rssKb: number }> = [];
    let hwmKb = 0;
    const sampleMs = Math.min(1000, Math.max(100, (o.durationS * 1000) / 40));
    const sample = () => {
      const m = procMemory(pid);
      if (!m) return;
      samples.push({ t: performance.now(), phase: current.phase, rssKb: m.rssKb });
      hwmKb = Math.max(hwmKb, m.hwmKb);
    };
    sampler = setInterval(sample, sampleMs);
    await sleep(Math.max(1000, 3 * sampleMs));
    const rssIdleKb = median(samples.map((s) => s.rssKb)) ?? NaN;
    const cpuStart = procCpuS(pid);

    swarm = await spawnSwarm(
      { port: server.mqtt, count: o.devices, tenant: TENANT, devicePrefix: DEVICE_PREFIX, passwords, pingIdleMs: 30_000 },
      swarmFds,
      // Every request, the steady run included, must answer within this.
      (connectWindowS + o.durationS) * 1000 + 180_000,
    );
    say(`connecting ${o.devices} devices over ${connectWindowS.toFixed(1)} s, a birth each…`);
    current.phase = 'connect';
    const cpuConnect0 = procCpuS(pid);
    const connect = await swarm.phase({ dropFirst: false, windowMs: connectWindowS * 1000, publishes: 0, phase: 'connect', birth: BIRTH });
    const connectCpuS = procCpuS(pid) - cpuConnect0;
    say(`  all connected after ${(connect.allConnectedMs / 1000).toFixed(1)} s, births acknowledged after ${(connect.allAckedMs / 1000).toFixed(1)} s (retries ${connect.retries}, server CPU ${connectCpuS.toFixed(1)} s)`);
    sample();
    const rssConnectedKb = samples[samples.length - 1]?.rssKb ?? NaN;

    say(`steady: ${o.rate} msg/s per device (${Math.round(o.devices * o.rate)} msg/s in all) for ${o.durationS} s…`);
    current.phase = 'steady';
    const heaps: Array<{ t: number; heapUsed: number; heapTotal: number; external: number; clients: number }> = [];
    const metricsMs = Math.min(5000, Math.max(1000, (o.durationS * 1000) / 12));
    const scraper = setInterval(() => void scrapeHeap(server!.api).then((h) => h && heaps.push({ t: performance.now(), ...h })), metricsMs);
    const steadyStart = performance.now();
    const cpuSteady0 = procCpuS(pid);
    const steady = await swarm.steady({ ratePerDevice: o.rate, durationMs: o.durationS * 1000, drainMs: 30_000, metric: METRIC });
    const steadyCpuS = procCpuS(pid) - cpuSteady0;
    clearInterval(scraper);
    current.phase = 'drain';
    const sendingS = steady.sendingMs / 1000;
    say(`  sent ${steady.sent}, acknowledged ${steady.acked}, unacknowledged ${steady.unacked}, ${steady.connectedAtEnd} connected at the end, retries ${steady.retries}`);

    // Steady state: the second half of the publishing phase.
    const half = steadyStart + (o.durationS * 1000) / 2;
    const end = steadyStart + o.durationS * 1000;
    const steadySamples = samples.filter((s) => s.phase === 'steady' && s.t >= half && s.t <= end).map((s) => s.rssKb);
    const rssSteadyKb = median(steadySamples) ?? NaN;
    const steadyHeaps = heaps.filter((h) => h.t >= half);
    const heapOf = (key: 'heapUsed' | 'heapTotal' | 'external') => {
      const v = median((steadyHeaps.length ? steadyHeaps : heaps.slice(-1)).map((h) => h[key]));
      return v === undefined || Number.isNaN(v) ? null : round(v / 2 ** 20, 1);
    };

    await swarm.close();
    swarm = undefined;
    clearInterval(sampler);
    sampler = undefined;
    const finalMem = procMemory(pid);
    if (finalMem) hwmKb = Math.max(hwmKb, finalMem.hwmKb);
    const cpuTotalS = procCpuS(pid) - cpuStart;

    say('stopping the server (SIGTERM: flushes and closes the store)…');
    server.child.kill('SIGTERM');
    const stopped = await Promise.race([server.exited, sleep(120_000).then(() => undefined)]);
    if (!stopped) {
      server.child.kill('SIGKILL');
      throw new Error(`server did not stop within 120 s of SIGTERM: ${server.stderr()}`);
    }
    if (stopped.code !== 0) throw new Error(`server exited with code ${stopped.code} (signal ${stopped.signal}) on SIGTERM: ${server.stderr()}`);
    server = undefined;

    const storePath = join(dataDir, 'readings.duckdb');
    const storeFileMb = round((await stat(storePath)).size / 2 ** 20, 1);
    const store = await openDuckDbStore({ path: storePath });
    let stored = 0;
    let lost = 0;
    let extra = 0;
    let deadLetters = 0;
    const deadLetterReasons: Record<string, number> = {};
    try {
      const perDevice = await countStoredPerDevice(store, Date.now() - 86_400_000, Date.now() + 86_400_000);
      for (let i = 0; i < o.devices; i++) {
        const have = perDevice.get(`${DEVICE_PREFIX}${i}`) ?? 0;
        const acked = steady.ackedPerDevice[i] ?? 0;
        stored += have;
        lost += Math.max(0, acked - have);
        extra += Math.max(0, have - acked);
      }
      const letters = await store.deadLetters({ tenant: TENANT, limit: 10_000 });
      deadLetters = letters.length;
      for (const l of letters) deadLetterReasons[l.reason] = (deadLetterReasons[l.reason] ?? 0) + 1;
    } finally {
      await store.close();
    }
    say(`  stored ${stored} readings, lost ${lost}, dead letters ${deadLetters}`);

    const rssSteadyMb = mb(rssSteadyKb);
    return {
      devices: o.devices,
      connected: connect.connected,
      connected_at_end: steady.connectedAtEnd,
      births_acked: connect.birthsAcked,
      // The server's own count (querstrom_mqtt_connected_clients), at the last scrape of the steady phase.
      server_connected_clients: heaps.length ? heaps[heaps.length - 1]!.clients : null,
      rate_per_device: o.rate,
      duration_s: o.durationS,
      rate_msgs_per_s: round(steady.acked / sendingS, 1),
      sent: steady.sent,
      acked: steady.acked,
      unacked: steady.unacked,
      stored,
      lost,
      // Stored beyond the acknowledged: messages whose PUBACK had not arrived when the drain ended.
      stored_unacked: extra,
      dead_letters: deadLetters,
      dead_letter_reasons: deadLetterReasons,
      rss_mb_idle: mb(rssIdleKb),
      rss_mb_connected: mb(rssConnectedKb),
      rss_mb_steady: rssSteadyMb,
      rss_mb_peak: mb(hwmKb),
      rss_samples_steady: steadySamples.length,
      rss_kb_per_device: round((rssSteadyKb - rssIdleKb) / o.devices, 1),
      heap_used_mb: heapOf('heapUsed'),
      heap_total_mb: heapOf('heapTotal'),
      external_mb: heapOf('external'),
      target_rss_mb: MEMORY_TARGET_MB,
      meets_target: rssSteadyMb <= MEMORY_TARGET_MB,
      server_cpu_s: round(steadyCpuS),
      server_cpu_s_connect: round(connectCpuS),
      server_cpu_s_total: round(cpuTotalS),
      cpu_s_per_million_readings: steady.acked > 0 ? round((steadyCpuS / steady.acked) * 1e6, 1) : null,
      connect_all_s: round(connect.allConnectedMs / 1000),
      births_acked_s: round(connect.allAckedMs / 1000),
      connect_window_s: round(connectWindowS),
      connect_retries: connect.retries,
      connect_refused: connect.refused,
      connect_errors: connect.errors,
      steady_retries: steady.retries,
      register_s: round(registerS, 1),
      store_file_mb: storeFileMb,
      server_node_args: nodeArgs.join(' '),
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await swarm?.close().catch(() => undefined);
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

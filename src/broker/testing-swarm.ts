/**
 * Thousands of light MQTT devices for load tests: raw MQTT 3.1.1 over net sockets (a few hundred
 * bytes each, where an mqtt.js client costs tens of kilobytes). Each device keeps a persistent
 * session (clean:false), resends unacknowledged QoS 1 messages after a reconnect, and retries a
 * refused or failed connection with jittered backoff, as firmware does.
 *
 * Runs in its own process so the clients' sockets, memory and CPU are not counted as the
 * broker's: `spawnSwarm()` starts it, with the fd limit raised to the hard limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { encodeConnect, encodePublish } from './testing.ts';

export interface SwarmSpec {
  port: number;
  count: number;
  tenant: string;
  /** Device i is `${devicePrefix}${i}` with secret `${secretPrefix}${i}`. */
  devicePrefix: string;
  secretPrefix: string;
}

/** One phase: every device (re)connects within `windowMs` (uniform jitter), then sends `publishes` QoS 1 messages. */
export interface PhaseRequest {
  /** Drop all connections at once (TCP reset, no DISCONNECT) before reconnecting. */
  dropFirst: boolean;
  windowMs: number;
  publishes: number;
  /** Payload tag, so each phase's messages are distinct. */
  phase: string;
}

export interface PhaseResult {
  /** From the start of the phase (the drop) until every device had its CONNACK. */
  allConnectedMs: number;
  /** ... until every message was acknowledged. */
  allAckedMs: number;
  connected: number;
  acked: number;
  /** Connection attempts beyond the first per device. */
  retries: number;
  /** CONNACK return codes other than 0, by code. */
  refused: Record<string, number>;
  /** Socket errors by code (ECONNRESET, ECONNREFUSED, ...). */
  errors: Record<string, number>;
}

type Request = { cmd: 'setup'; spec: SwarmSpec } | { cmd: 'phase'; phase: PhaseRequest } | { cmd: 'close' };
type Reply = { ok: true; result?: PhaseResult } | { ok: false; error: string };

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2000;
/** No CONNACK within this time: give up on the connection and retry. */
const CONNACK_TIMEOUT_MS = 10_000;

/** Splits a byte stream into MQTT packets (fixed header + remaining length). */
class PacketReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onPacket: (type: number, body: Buffer) => void): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let i = 1;
      for (;; i++) {
        if (i >= this.buffer.length) return;
        const b = this.buffer[i]!;
        length += (b & 0x7f) * multiplier;
        multiplier *= 128;
        if ((b & 0x80) === 0) break;
      }
      const end = i + 1 + length;
      if (this.buffer.length < end) return;
      onPacket(this.buffer[0]! >> 4, this.buffer.subarray(i + 1, end));
      this.buffer = this.buffer.subarray(end);
    }
  }
}

class Device {
  socket: Socket | undefined;
  connected = false;
  /** Had a CONNACK in the current phase. */
  connectedInPhase = false;
  /** The current phase's messages went out at least once (a resend is marked DUP). */
  sentInPhase = false;
  /** messageId → packet not yet acknowledged. */
  unacked = new Map<number, Buffer>();

  constructor(
    readonly index: number,
    readonly username: string,
    readonly password: string,
    readonly topic: string,
  ) {}
}

class Swarm {
  private readonly devices: Device[];
  private phaseState: { onConnected(d: Device): void; onAcked(): void; onRetry(): void; refused: Record<string, number>; errors: Record<string, number> } | undefined;

  constructor(private readonly spec: SwarmSpec) {
    this.devices = Array.from({ length: spec.count }, (_, i) => {
      const device = `${spec.devicePrefix}${i}`;
      return new Device(i, `${spec.tenant}/${device}`, `${spec.secretPrefix}${i}`, `qs/v1/${spec.tenant}/${device}/data`);
    });
  }

  async phase(req: PhaseRequest): Promise<PhaseResult> {
    const started = performance.now();
    if (req.dropFirst) for (const d of this.devices) this.drop(d);
    let connected = 0;
    let acked = 0;
    let retries = 0;
    let allConnectedMs = -1;
    const total = this.devices.length * req.publishes;
    const refused: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));

    for (const d of this.devices) {
      d.unacked.clear();
      d.connectedInPhase = false;
      d.sentInPhase = false;
      for (let k = 1; k <= req.publishes; k++) d.unacked.set(k, encodePublish(d.topic, Buffer.from(`{"phase":"${req.phase}","seq":${k}}`), 1, k));
    }
    this.phaseState = {
      onConnected: (d) => {
        if (d.connectedInPhase) return;
        d.connectedInPhase = true;
        if (++connected < this.devices.length) return;
        allConnectedMs = performance.now() - started;
        if (total === 0) finish();
      },
      onAcked: () => {
        if (++acked === total) finish();
      },
      onRetry: () => void retries++,
      refused,
      errors,
    };
    for (const d of this.devices) setTimeout(() => this.open(d), Math.random() * req.windowMs);
    await done;
    this.phaseState = undefined;
    return { allConnectedMs: Math.round(allConnectedMs), allAckedMs: Math.round(performance.now() - started), connected, acked, retries, refused, errors };
  }

  close(): void {
    for (const d of this.devices) {
      if (d.socket && !d.socket.destroyed) d.socket.end(Buffer.from([0xe0, 0x00]));
    }
  }

  private drop(d: Device): void {
    d.connected = false;
    const socket = d.socket;
    d.socket = undefined;
    if (socket && !socket.destroyed) socket.resetAndDestroy();
  }

  private retry(d: Device): void {
    this.drop(d);
    this.phaseState?.onRetry();
    setTimeout(() => this.open(d), RETRY_MIN_MS + Math.random() * (RETRY_MAX_MS - RETRY_MIN_MS));
  }

  private open(d: Device): void {
    const reader = new PacketReader();
    const socket = connect({ port: this.spec.port, host: '127.0.0.1', noDelay: true });
    d.socket = socket;
    const state = this.phaseState;
    const connackTimer = setTimeout(() => d.socket === socket && !d.connected && this.retry(d), CONNACK_TIMEOUT_MS);
    socket.on('connect', () => socket.write(encodeConnect(`c${d.index}`, d.username, d.password, { clean: false })));
    socket.on('data', (chunk: Buffer) =>
      reader.push(chunk, (type, body) => {
        if (type === 2) {
          clearTimeout(connackTimer);
          const code = body[1]!;
          if (code !== 0) {
            if (state) state.refused[code] = (state.refused[code] ?? 0) + 1;
            return this.retry(d);
          }
          d.connected = true;
          state?.onConnected(d);
          // Unacknowledged messages go (again) in order; a resend is marked DUP.
          for (const packet of d.unacked.values()) {
            if (d.sentInPhase) packet[0] = packet[0]! | 0x08;
            socket.write(packet);
          }
          d.sentInPhase = true;
        } else if (type === 4) {
          const id = body.readUInt16BE(0);
          if (d.unacked.delete(id)) state?.onAcked();
        }
      }),
    );
    socket.on('error', (err: Error & { code?: string }) => {
      if (state) state.errors[err.code ?? err.message] = (state.errors[err.code ?? err.message] ?? 0) + 1;
    });
    socket.on('close', () => {
      clearTimeout(connackTimer);
      // Dropped on purpose (drop() cleared d.socket) or replaced: nothing to do.
      if (d.socket !== socket || this.phaseState === undefined) return;
      if (!d.connected || d.unacked.size > 0) this.retry(d);
      else d.connected = false;
    });
  }
}

/** Child side: answers the parent's requests over IPC. */
function serve(): void {
  let swarm: Swarm | undefined;
  const reply = (r: Reply): void => void process.send!(r);
  process.on('message', (req: Request) => {
    void (async () => {
      try {
        if (req.cmd === 'setup') {
          swarm = new Swarm(req.spec);
          reply({ ok: true });
        } else if (req.cmd === 'phase') {
          reply({ ok: true, result: await swarm!.phase(req.phase) });
        } else {
          swarm?.close();
          reply({ ok: true });
          setTimeout(() => process.exit(0), 200);
        }
      } catch (err) {
        reply({ ok: false, error: (err as Error).stack ?? String(err) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

export interface SwarmHandle {
  phase(req: PhaseRequest): Promise<PhaseResult>;
  close(): Promise<void>;
  readonly child: ChildProcess;
}

/**
 * Starts the swarm in a child process whose open-file limit is raised to `fdLimit` (must not
 * exceed the hard limit). Requests time out after `timeoutMs`.
 */
export async function spawnSwarm(spec: SwarmSpec, fdLimit: number, timeoutMs = 60_000): Promise<SwarmHandle> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn('sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" --import tsx "$1" --serve-swarm`, process.execPath, script], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // The project root, where `--import tsx` resolves.
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
  });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`swarm process exited (code ${code}, signal ${signal})`)));
  const ask = (req: Request): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`swarm did not answer ${req.cmd} within ${timeoutMs} ms`)), timeoutMs);
      child.once('message', (r: Reply) => {
        clearTimeout(timer);
        resolve(r);
      });
      void exited.then((why) => {
        clearTimeout(timer);
        reject(new Error(why));
      });
      child.send(req);
    });
  const checked = async (req: Request): Promise<Reply & { ok: true }> => {
    const r = await ask(req);
    if (!r.ok) throw new Error(`swarm failed: ${r.error}`);
    return r;
  };
  await checked({ cmd: 'setup', spec });
  return {
    child,
    phase: async (phase) => (await checked({ cmd: 'phase', phase })).result!,
    async close() {
      if (child.exitCode !== null) return;
      await checked({ cmd: 'close' }).catch(() => undefined);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill();
    },
  };
}

if (process.argv.includes('--serve-swarm')) serve();

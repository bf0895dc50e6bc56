/**
 * One virtual gateway: a real mqtt.js client that behaves like device firmware. It owns no
 * timers for sampling: a shared scheduler calls `tick(now)`, so thousands fit in one
 * process. Reconnects are scheduled the same way (the client's own reconnect is off, so
 * storms and dropouts control when it comes back).
 *
 * Every connection gets a fresh mqtt.js client; the gateway keeps its own QoS 1 window
 * and, after a drop, resends what was not acknowledged, in order and with the original
 * seq (the broker keeps the session: clean:false). An acknowledgement watchdog drops a
 * connection on which PUBACKs stop coming, as firmware does with half-open sockets.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  ackPayloadSchema,
  cmdPayloadSchema,
  describeZodError,
  formatTopic,
  type AckPayload,
  type DeviceType,
  type StatePayload,
} from '../src/contract/index.ts';
import { noDeviceFaults, type DeviceFaults, type MalformedKind } from './faults.ts';
import { DeviceModel } from './signals/device-model.ts';
import type { Environment } from './signals/environment.ts';
import { createRng, hashInts, hashString, type Rng } from './signals/random.ts';
import { SampleStream, type OutgoingMessage } from './stream.ts';

/** pino-compatible subset. */
export interface SimLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface GatewayOptions {
  url: string;
  tenant: string;
  device: string;
  password: string;
  type: DeviceType;
  variant?: string;
  seed: number;
  /** Shared weather and market of the city. */
  env: Environment;
  /** Data messages per second. */
  rate: number;
  /** Samples per data message (default 1). */
  batch?: number;
  /** Messages buffered while offline; the oldest are dropped beyond this (default 1000). */
  maxQueue?: number;
  /** Unacknowledged QoS 1 messages on the wire (default 32). */
  maxInflight?: number;
  /** No PUBACK for this long: the connection is considered dead and dropped (default 15 s). */
  ackTimeoutMs?: number;
  /** Reconnect backoff bounds: exponential with jitter (defaults 500 ms .. 30 s). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  initialSeq?: number;
  timestampFormat?: 'ms' | 'iso';
  unitsInMessages?: boolean;
  faults?: DeviceFaults;
  log?: SimLogger;
  /** Extra mqtt.js options (TLS material, protocol version). */
  mqttOptions?: Partial<IClientOptions>;
}

export interface CommandRecord {
  id: string;
  metric: string;
  value: number;
  unit: string;
  ok: boolean;
  reason?: string;
  at: number;
}

export interface GatewayReport {
  device: string;
  type: string;
  variant?: string;
  connects: number;
  disconnects: number;
  connectErrors: number;
  authFailures: number;
  lastError?: string;
  births: number;
  /** Samples taken by the device (sent or not). */
  samples: number;
  /** Valid data messages handed to MQTT / acknowledged by the broker (PUBACK). */
  sent: number;
  acked: number;
  samplesSent: number;
  samplesAcked: number;
  readingsSent: number;
  readingsAcked: number;
  /** Dropped from the full offline queue; these seqs never reach the broker. */
  dropped: number;
  droppedReadings: number;
  /** Still queued or unacknowledged at the end. */
  unsent: number;
  unacked: number;
  maxQueued: number;
  /** Messages made during one connection and sent, from the offline buffer, after a reconnect. */
  bufferedSent: number;
  /** Sent again after a drop because no PUBACK had arrived (same seq; the server may see it twice). */
  resent: number;
  ackTimeouts: number;
  firstSeq?: number;
  lastSeq?: number;
  nextSeq: number;
  malformedSent: number;
  malformed: Partial<Record<MalformedKind, number>>;
  skewMs: number;
  skewedSamples: number;
  farFutureSamples: number;
  dropouts: number;
  stormDrops: number;
  commands: { received: number; ok: number; refused: number; invalid: number; rejectNotices: number };
  lateSamples: number;
}

const STATE_ONLINE: StatePayload = { state: 'online' };
const STATE_OFFLINE = JSON.stringify({ state: 'offline' } satisfies StatePayload);
/** Remembered command results, so a redelivered command is answered without reapplying it. */
const MAX_COMMANDS_REMEMBERED = 256;
/** More samples behind than this (event-loop stall) are skipped rather than bursted. */
const MAX_CATCH_UP = 10;
const MAX_CATCH_UP_MS = 2000;

interface QueueEntry {
  message: OutgoingMessage;
  /** Connection epoch the message was made in. */
  epoch: number;
  sentOnce: boolean;
}

interface InflightEntry {
  entry: QueueEntry;
  sentAt: number;
}

export class VirtualGateway {
  readonly device: string;
  readonly tenant: string;
  readonly type: DeviceType;
  readonly model: DeviceModel;
  readonly stream: SampleStream;
  readonly intervalMs: number;
  /** Setpoint commands and what the device answered, oldest first. */
  readonly acknowledged: CommandRecord[] = [];
  readonly rejectNotices: Array<{ id: string; topic: string; seq?: number; reason: string }> = [];

  /** The current connection's client; a new one per connection. */
  private client: MqttClient | undefined;
  private readonly rng: Rng;
  private readonly faults: DeviceFaults;
  private readonly topics: { data: string; birth: string; state: string; cmd: string; ack: string };
  private readonly queue: QueueEntry[] = [];
  /** Published on the current client, waiting for PUBACK, oldest first. */
  private inflight: InflightEntry[] = [];
  private producing = false;
  private closing = false;
  private connecting = false;
  private everConnected = false;
  private nextSampleAt = 0;
  private reconnectAt: number | undefined;
  private silentUntil = 0;
  private backoffAttempt = 0;
  /** Bumped on every connect; a message made under an earlier, connected epoch was buffered across a drop. */
  private connectionEpoch = 0;
  private readonly commandResults = new Map<string, AckPayload>();
  private readonly r: GatewayReport;

  constructor(private readonly options: GatewayOptions) {
    if (!(options.rate > 0)) throw new Error(`rate must be > 0 messages per second, got ${options.rate}`);
    this.device = options.device;
    this.tenant = options.tenant;
    this.type = options.type;
    this.rng = createRng(hashInts(options.seed, hashString(options.device), 7));
    this.faults = options.faults ?? noDeviceFaults;
    const batch = options.batch ?? 1;
    this.intervalMs = 1000 / (options.rate * batch);
    this.model = new DeviceModel({ type: options.type, device: options.device, seed: options.seed, env: options.env, ...(options.variant ? { variant: options.variant } : {}) });
    const hash = hashString(`format:${options.device}`);
    this.stream = new SampleStream({
      model: this.model,
      batch,
      initialSeq: options.initialSeq ?? 0,
      // One device in five speaks RFC 3339 and one in three repeats units per message.
      timestampFormat: options.timestampFormat ?? (hash % 5 === 0 ? 'iso' : 'ms'),
      unitsInMessages: options.unitsInMessages ?? hash % 3 === 0,
      faults: this.faults,
      rng: this.rng,
    });
    const t = (kind: 'data' | 'birth' | 'state' | 'cmd' | 'ack') => formatTopic({ tenant: options.tenant, gateway: options.device, kind });
    this.topics = { data: t('data'), birth: t('birth'), state: t('state'), cmd: t('cmd'), ack: t('ack') };
    this.r = {
      device: options.device,
      type: options.type,
      ...(this.model.variant ? { variant: this.model.variant } : {}),
      connects: 0,
      disconnects: 0,
      connectErrors: 0,
      authFailures: 0,
      births: 0,
      samples: 0,
      sent: 0,
      acked: 0,
      samplesSent: 0,
      samplesAcked: 0,
      readingsSent: 0,
      readingsAcked: 0,
      dropped: 0,
      droppedReadings: 0,
      unsent: 0,
      unacked: 0,
      maxQueued: 0,
      bufferedSent: 0,
      resent: 0,
      ackTimeouts: 0,
      nextSeq: this.stream.nextSeq,
      malformedSent: 0,
      malformed: {},
      skewMs: this.faults.skewMs,
      skewedSamples: 0,
      farFutureSamples: 0,
      dropouts: 0,
      stormDrops: 0,
      commands: { received: 0, ok: 0, refused: 0, invalid: 0, rejectNotices: 0 },
      lateSamples: 0,
    };
  }

  get connected(): boolean {
    return this.client?.connected === true && !this.connecting;
  }

  /** Nothing queued and nothing waiting for a PUBACK. */
  get drained(): boolean {
    return this.queue.length === 0 && this.inflight.length === 0;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Cheap counters for progress lines (the full report allocates). */
  get counts(): { sent: number; acked: number } {
    return { sent: this.r.sent, acked: this.r.acked };
  }

  /** Starts sampling (at a random phase within one interval) and connecting. */
  start(nowMs: number): void {
    this.producing = true;
    this.nextSampleAt = nowMs + this.rng.next() * this.intervalMs;
    this.connect();
  }

  /** Called by the shared scheduler: takes due samples, watches PUBACKs, reconnects when it is time. */
  tick(nowMs: number): void {
    if (this.producing) {
      if (nowMs - this.nextSampleAt > Math.max(MAX_CATCH_UP * this.intervalMs, MAX_CATCH_UP_MS)) {
        const skipped = Math.floor((nowMs - this.nextSampleAt) / this.intervalMs) - 1;
        this.r.lateSamples += skipped;
        this.nextSampleAt += skipped * this.intervalMs;
      }
      while (this.nextSampleAt <= nowMs) {
        this.enqueue(this.stream.add(Math.round(this.nextSampleAt)));
        this.nextSampleAt += this.intervalMs;
      }
    }
    const oldest = this.inflight[0];
    if (oldest && this.client && nowMs - oldest.sentAt > (this.options.ackTimeoutMs ?? 15_000)) {
      this.r.ackTimeouts++;
      this.options.log?.warn({ device: this.device, waitedMs: nowMs - oldest.sentAt }, 'no PUBACK, dropping the connection');
      this.client.stream?.destroy();
    }
    if (!this.closing && this.reconnectAt !== undefined && nowMs >= this.reconnectAt && !this.client) {
      this.reconnectAt = undefined;
      this.connect();
    }
  }

  /**
   * Cuts the network without a DISCONNECT (so the broker publishes the last will) and
   * stays away for offlineMs while samples keep queueing.
   */
  dropConnection(offlineMs: number, cause: 'dropout' | 'storm' | 'manual' = 'manual'): void {
    if (this.closing) return;
    if (cause === 'dropout') this.r.dropouts++;
    if (cause === 'storm') this.r.stormDrops++;
    this.silentUntil = Date.now() + offlineMs;
    if (this.client) this.client.stream?.destroy();
    else this.reconnectAt = Math.max(this.reconnectAt ?? 0, this.silentUntil);
  }

  /** Stops sampling and closes the partial batch, so its samples are sent too. */
  stopProducing(): void {
    if (!this.producing) return;
    this.producing = false;
    this.enqueue(this.stream.flush());
  }

  /** Announces offline and disconnects cleanly when possible; whatever is left counts as unsent. */
  async close(timeoutMs = 2000): Promise<void> {
    this.stopProducing();
    this.closing = true;
    this.reconnectAt = undefined;
    const client = this.client;
    if (!client) return;
    if (this.connected) {
      await withTimeout(
        new Promise<void>((resolve) => client.publish(this.topics.state, STATE_OFFLINE, { qos: 1, retain: true }, () => resolve())),
        timeoutMs,
      );
      const ended = await withTimeout(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), timeoutMs);
      // A DISCONNECT that cannot complete (broker gone, PUBACKs missing): cut the socket.
      if (!ended) client.stream?.destroy();
      return;
    }
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  report(): GatewayReport {
    const s = this.stream.stats;
    return {
      ...this.r,
      commands: { ...this.r.commands },
      malformed: { ...s.malformed },
      nextSeq: this.stream.nextSeq,
      samples: s.samples,
      unsent: this.queue.filter((q) => q.message.kind === 'data' && !q.sentOnce).length,
      unacked: this.r.sent - this.r.acked,
      skewedSamples: s.skewedSamples,
      farFutureSamples: s.farFutureSamples,
    };
  }

  private connect(): void {
    const o = this.options;
    const id = `${o.tenant}/${o.device}`;
    this.connecting = true;
    const client = mqtt.connect(o.url, {
      clientId: id,
      username: id,
      password: o.password,
      clean: false,
      protocolVersion: 4,
      keepalive: o.keepaliveS ?? 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      will: { topic: this.topics.state, payload: Buffer.from(STATE_OFFLINE), qos: 1, retain: true },
      ...o.mqttOptions,
    });
    this.client = client;
    client.on('connect', (connack) => {
      if (client === this.client) this.onConnect(connack.sessionPresent);
    });
    client.on('close', () => {
      if (client === this.client) this.onClose(client);
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      if (client !== this.client) return;
      this.r.lastError = err.message;
      if (!client.connected) this.r.connectErrors++;
      if (err.code === 4 || err.code === 5 || err.code === 134 || err.code === 135) this.r.authFailures++;
    });
    client.on('message', (topic, payload) => {
      if (client === this.client && topic === this.topics.cmd) this.onCommand(payload);
    });
  }

  private onConnect(sessionPresent: boolean): void {
    const client = this.client!;
    this.connecting = false;
    this.backoffAttempt = 0;
    this.r.connects++;
    if (!sessionPresent) client.subscribe(this.topics.cmd, { qos: 1 });
    client.publish(this.topics.state, JSON.stringify(STATE_ONLINE), { qos: 1, retain: true });
    // The birth carries a seq only after a (re)boot: a reconnect keeps the server's duplicate window valid.
    const firstData = this.queue.find((q) => q.message.kind === 'data')?.message;
    const seq = this.everConnected ? undefined : firstData?.kind === 'data' ? firstData.seq : this.stream.nextSeq;
    // interval_s is the message interval: the server judges staleness by message arrival, and a
    // batching device sends one message per `batch` samples.
    const birth = this.stream.birth((this.intervalMs * this.stream.batch) / 1000, { ...(seq !== undefined ? { seq } : {}), nowMs: Date.now() });
    client.publish(this.topics.birth, JSON.stringify(birth), { qos: 1 });
    this.r.births++;
    this.everConnected = true;
    this.connectionEpoch++;
    this.options.log?.debug?.({ device: this.device, connects: this.r.connects, queued: this.queue.length }, 'gateway connected');
    this.pump();
  }

  private onClose(client: MqttClient): void {
    const wasConnecting = this.connecting;
    this.connecting = false;
    this.client = undefined;
    // Unacknowledged messages go back to the front of the queue, in order, to be resent as they were.
    if (this.inflight.length > 0) {
      this.queue.unshift(...this.inflight.map((i) => i.entry));
      this.inflight = [];
    }
    client.removeAllListeners();
    client.on('error', () => {});
    client.end(true);
    if (this.closing) return;
    if (!wasConnecting) this.r.disconnects++;
    const now = Date.now();
    if (this.silentUntil > now) {
      this.reconnectAt = this.silentUntil;
    } else {
      const max = this.options.reconnectMaxMs ?? 30_000;
      const min = this.options.reconnectMinMs ?? 500;
      const ceiling = Math.min(max, min * 2 ** this.backoffAttempt);
      this.backoffAttempt = Math.min(this.backoffAttempt + 1, 16);
      this.reconnectAt = now + ceiling * (0.5 + 0.5 * this.rng.next());
    }
  }

  private enqueue(messages: OutgoingMessage[]): void {
    if (messages.length === 0) return;
    for (const message of messages) this.queue.push({ message, epoch: this.connectionEpoch, sentOnce: false });
    const max = this.options.maxQueue ?? 1000;
    while (this.queue.length > max) {
      const dropped = this.queue.shift()!;
      if (dropped.message.kind === 'data' && !dropped.sentOnce) {
        this.r.dropped++;
        this.r.droppedReadings += dropped.message.readings;
      }
    }
    if (this.queue.length > this.r.maxQueued) this.r.maxQueued = this.queue.length;
    this.pump();
  }

  private pump(): void {
    const client = this.client;
    if (!client || !this.connected || this.closing) return;
    const maxInflight = this.options.maxInflight ?? 32;
    while (this.queue.length > 0 && this.inflight.length < maxInflight) {
      const entry = this.queue.shift()!;
      const m = entry.message;
      if (entry.sentOnce) this.r.resent++;
      else if (m.kind === 'data') {
        if (this.r.firstSeq === undefined) this.r.firstSeq = m.seq;
        this.r.lastSeq = m.seq;
        this.r.sent++;
        this.r.samplesSent += m.samples;
        this.r.readingsSent += m.readings;
        if (entry.epoch > 0 && entry.epoch !== this.connectionEpoch) this.r.bufferedSent++;
      } else {
        this.r.malformedSent++;
      }
      entry.sentOnce = true;
      const flight: InflightEntry = { entry, sentAt: Date.now() };
      this.inflight.push(flight);
      client.publish(this.topics.data, m.payload, { qos: 1 }, (err) => {
        // Callbacks of a dropped connection are stale: its messages were requeued.
        if (client !== this.client || err) return;
        const i = this.inflight.indexOf(flight);
        if (i < 0) return;
        this.inflight.splice(i, 1);
        if (m.kind === 'data') {
          this.r.acked++;
          this.r.samplesAcked += m.samples;
          this.r.readingsAcked += m.readings;
        }
        this.pump();
      });
    }
  }

  private onCommand(payload: Buffer): void {
    this.r.commands.received++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      this.r.commands.invalid++;
      return;
    }
    const result = cmdPayloadSchema.safeParse(parsed);
    if (!result.success) {
      this.r.commands.invalid++;
      const id = (parsed as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && id.length > 0 && id.length <= 64) this.sendAck({ id, ok: false, reason: `invalid command: ${describeZodError(result.error)}` });
      return;
    }
    const cmd = result.data;
    if (cmd.type === 'reject') {
      this.r.commands.rejectNotices++;
      this.rejectNotices.push({ id: cmd.id, topic: cmd.topic, reason: cmd.reason, ...(cmd.seq !== undefined ? { seq: cmd.seq } : {}) });
      if (this.rejectNotices.length > MAX_COMMANDS_REMEMBERED) this.rejectNotices.shift();
      return;
    }
    const previous = this.commandResults.get(cmd.id);
    if (previous) {
      this.sendAck(previous); // QoS 1 redelivery: answer again, do not apply twice
      return;
    }
    const applied = this.model.setpoint(cmd.metric, cmd.value, cmd.unit);
    const ack: AckPayload = { id: cmd.id, ok: applied.ok, ...(applied.ok ? {} : { reason: applied.reason.slice(0, 500) }) };
    if (applied.ok) this.r.commands.ok++;
    else this.r.commands.refused++;
    this.commandResults.set(cmd.id, ack);
    if (this.commandResults.size > MAX_COMMANDS_REMEMBERED) this.commandResults.delete(this.commandResults.keys().next().value!);
    this.acknowledged.push({ id: cmd.id, metric: cmd.metric, value: cmd.value, unit: cmd.unit, ok: applied.ok, ...(applied.ok ? {} : { reason: applied.reason }), at: Date.now() });
    if (this.acknowledged.length > MAX_COMMANDS_REMEMBERED) this.acknowledged.shift();
    this.sendAck(ack);
  }

  private sendAck(ack: AckPayload): void {
    const payload = ackPayloadSchema.parse({ ...ack, ts: Date.now() + this.faults.skewMs });
    this.client?.publish(this.topics.ack, JSON.stringify(payload), { qos: 1 });
  }
}

/** Resolves true when the promise settled in time. */
function withTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

import { randomUUID } from 'node:crypto';
import { deviceKey, formatTopic, tokenLoginLabel, type AckPayload, type ParsedTopic } from '../contract/index.ts';
import type { Config } from '../config/schema.ts';
import type { DeviceTracker } from '../devices/tracker.ts';
import type { IngestMetrics } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';
import type { DeadLetter, Reading } from '../store/types.ts';
import type { DurableWriter, IngestEntry } from './durable-writer.ts';
import { SequenceWindow } from './sequence-window.ts';
import { excerpt, validateMessage } from './validate.ts';

/** A device publish that the broker authenticated and authorised. */
export interface IncomingMessage {
  identity: { tenant: string; device: string };
  topic: string;
  parsed: ParsedTopic;
  payload: Buffer;
  receivedAt: number;
}

/** A message the broker refused before it reached validation (ACL, limits, auth). */
export interface RefusedMessage {
  identity?: { tenant: string; device: string } | undefined;
  /** A read-only API token login: filed under its tenant, named by tokenLoginLabel. */
  reader?: { tenant: string; tokenId?: string } | undefined;
  topic: string;
  payload?: Buffer | undefined;
  reason: string;
  receivedAt: number;
}

export interface IngestListener {
  /** Readings that are durable; `onTime` excludes samples flagged as far in the future. */
  readings?(tenant: string, device: string, onTime: readonly Reading[]): void;
  ack?(tenant: string, device: string, ack: AckPayload): void;
}

export interface IngestPipelineDeps {
  writer: Pick<DurableWriter, 'append'>;
  devices: DeviceTracker;
  metrics: IngestMetrics;
  config: Config['ingest'];
  log: Logger;
  /** Sends a reject notice to the device's own cmd topic; fire and forget. */
  notifyDevice?: (topic: string, payload: string) => void;
}

/**
 * Validates each device message, drops duplicates, makes accepted readings and dead
 * letters durable, and only then resolves, which is what lets the broker's PUBACK mean
 * "stored". Never rejects: every failure becomes a dead letter with a reason.
 */
export class IngestPipeline {
  private readonly windows = new Map<string, SequenceWindow>();
  private readonly listeners: IngestListener[] = [];

  constructor(private readonly deps: IngestPipelineDeps) {}

  on(listener: IngestListener): void {
    this.listeners.push(listener);
  }

  /** Rebuild duplicate detection from the WAL history recovered at start-up. */
  restoreSequences(seqs: Iterable<{ tenant: string; device: string; seq: number }>): void {
    for (const s of seqs) this.window(s.tenant, s.device).accept(s.seq);
  }

  private window(tenant: string, device: string): SequenceWindow {
    const key = `${tenant}\u0000${device}`;
    let w = this.windows.get(key);
    if (!w) {
      w = new SequenceWindow();
      this.windows.set(key, w);
    }
    return w;
  }

  async handle(msg: IncomingMessage): Promise<void> {
    const { tenant } = msg.identity;
    const device = deviceKey(msg.parsed);
    const { devices, metrics } = this.deps;
    const v = validateMessage(msg.parsed.kind, msg.payload, {
      tenant,
      device,
      receivedAt: msg.receivedAt,
      futureToleranceMs: this.deps.config.futureToleranceMs,
      declaredUnits: devices.declaredUnits(tenant, device),
    });
    switch (v.kind) {
      case 'rejected':
        return this.deadLetter({ identity: msg.identity, topic: msg.topic, payload: msg.payload, reason: v.reason, receivedAt: msg.receivedAt }, device, msg.parsed);
      case 'birth':
        if (v.birth.seq !== undefined) this.window(tenant, device).reset();
        devices.birth(tenant, device, v.birth);
        metrics.messages.inc({ kind: 'birth', result: 'accepted' });
        return;
      case 'state':
        devices.stateReported(tenant, device, v.state.state === 'online');
        metrics.messages.inc({ kind: 'state', result: 'accepted' });
        return;
      case 'ack':
        metrics.messages.inc({ kind: 'ack', result: 'accepted' });
        for (const l of this.listeners) l.ack?.(tenant, device, v.ack);
        return;
      case 'data':
        break;
    }
    const window = this.window(tenant, device);
    if (!window.accept(v.seq)) {
      devices.duplicate(tenant, device);
      metrics.messages.inc({ kind: 'data', result: 'duplicate' });
      return;
    }
    try {
      await this.deps.writer.append({ tenant, device, seq: v.seq, readings: v.readings });
    } catch (err) {
      // Not durable: forget the seq so the device's resend (no PUBACK) is accepted.
      window.forget(v.seq);
      this.deps.log.error({ err, tenant, device }, 'could not make readings durable');
      throw err;
    }
    devices.accepted(tenant, device, v.readings.length);
    metrics.messages.inc({ kind: 'data', result: 'accepted' });
    metrics.readings.inc(v.readings.length);
    let onTime: readonly Reading[] = v.readings;
    if (v.futureSamples > 0) {
      metrics.futureSamples.inc(v.futureSamples);
      const reason = `${v.futureSamples} sample(s) up to ${Math.round(v.maxFutureMs / 1000)} s in the future (tolerance ${Math.round(this.deps.config.futureToleranceMs / 1000)} s): stored but flagged; check the device clock (NTP)`;
      devices.flagged(tenant, device, reason);
      this.deps.log.warn({ tenant, device, topic: msg.topic }, reason);
      const limit = msg.receivedAt + this.deps.config.futureToleranceMs;
      onTime = v.readings.filter((r) => r.ts <= limit);
    }
    if (onTime.length) for (const l of this.listeners) l.readings?.(tenant, device, onTime);
  }

  /** Refusals from the broker (ACL, limits) take the same durable dead-letter path. */
  refused(r: RefusedMessage): Promise<void> {
    const device = r.identity?.device ?? (r.reader ? tokenLoginLabel(r.reader.tokenId) : 'unknown');
    return this.deadLetter(r, device, undefined);
  }

  private async deadLetter(r: RefusedMessage, device: string, parsed: ParsedTopic | undefined): Promise<void> {
    const tenant = r.identity?.tenant ?? r.reader?.tenant ?? 'unknown';
    const letter: DeadLetter = {
      tenant,
      device,
      topic: r.topic.slice(0, 512),
      receivedAt: r.receivedAt,
      reason: r.reason,
      excerpt: excerpt(r.payload, this.deps.config.excerptBytes),
    };
    this.deps.metrics.deadLetters.inc();
    this.deps.metrics.messages.inc({ kind: parsed?.kind ?? 'unknown', result: 'rejected' });
    if (r.identity) this.deps.devices.rejected(tenant, device, r.reason);
    this.deps.log.info({ tenant, device, topic: letter.topic, reason: r.reason }, 'message rejected');
    const entry: IngestEntry = { tenant, device, readings: [], deadLetter: letter };
    try {
      await this.deps.writer.append(entry);
    } catch (err) {
      this.deps.log.error({ err, tenant, device }, 'could not store dead letter');
    }
    if (r.identity && this.deps.notifyDevice) {
      const cmdTopic = formatTopic({ tenant, gateway: r.identity.device, ...(parsed?.subdevice ? { subdevice: parsed.subdevice } : {}), kind: 'cmd' });
      this.deps.notifyDevice(cmdTopic, JSON.stringify({ id: randomUUID(), type: 'reject', ts: Date.now(), topic: letter.topic, reason: r.reason }));
    }
  }
}

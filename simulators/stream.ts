/**
 * What a gateway's firmware does before the network: sample its model, stamp times,
 * batch samples into data messages with a wrapping seq, and (when faults are on) inject
 * clock errors and malformed messages. Pure: no sockets, no timers.
 */
import type { BirthPayload, DataPayload } from '../src/contract/index.ts';
import { malformPayload, noDeviceFaults, type DeviceFaults, type MalformedKind } from './faults.ts';
import type { DeviceModel } from './signals/device-model.ts';
import type { Rng } from './signals/random.ts';

export interface DataMessage {
  kind: 'data';
  seq: number;
  payload: string;
  samples: number;
  /** Metric values in the message. */
  readings: number;
  /** Scheduled time of the first sample (before any clock error). */
  firstSampleMs: number;
}

export interface MalformedMessage {
  kind: 'malformed';
  fault: MalformedKind;
  payload: string;
}

export type OutgoingMessage = DataMessage | MalformedMessage;

export interface SampleStreamOptions {
  model: DeviceModel;
  /** Samples per data message. */
  batch: number;
  /** First seq; 0 for a freshly booted device. */
  initialSeq?: number;
  /** Epoch ms (default) or RFC 3339 strings. */
  timestampFormat?: 'ms' | 'iso';
  /** Repeat the units in every message instead of relying on the birth declaration. */
  unitsInMessages?: boolean;
  faults?: DeviceFaults;
  rng: Rng;
}

export interface StreamStats {
  samples: number;
  skewedSamples: number;
  farFutureSamples: number;
  malformed: Partial<Record<MalformedKind, number>>;
}

const SEQ_MODULO = 2 ** 32;

export class SampleStream {
  readonly model: DeviceModel;
  readonly batch: number;
  readonly stats: StreamStats = { samples: 0, skewedSamples: 0, farFutureSamples: 0, malformed: {} };
  private seq: number;
  private pending: DataPayload['samples'] = [];
  private pendingFirstMs = 0;
  private readonly faults: DeviceFaults;
  private readonly units: Record<string, string>;

  constructor(private readonly options: SampleStreamOptions) {
    if (!Number.isInteger(options.batch) || options.batch < 1) throw new Error(`batch must be a positive integer, got ${options.batch}`);
    this.model = options.model;
    this.batch = options.batch;
    this.seq = (options.initialSeq ?? 0) >>> 0;
    this.faults = options.faults ?? noDeviceFaults;
    this.units = options.model.units();
  }

  /** The seq the next data message will carry. */
  get nextSeq(): number {
    return this.seq;
  }

  birth(intervalS: number, options: { seq?: number; nowMs?: number } = {}): BirthPayload {
    return {
      type: this.model.type as BirthPayload['type'],
      firmware: this.model.firmware,
      interval_s: intervalS,
      metrics: this.model.birthMetrics(),
      ...(options.seq !== undefined ? { seq: options.seq } : {}),
      ...(options.nowMs !== undefined ? { ts: this.stamp(options.nowMs + this.faults.skewMs) } : {}),
    };
  }

  /** Takes the sample scheduled at tMs; returns the messages it completes (usually 0 or 1). */
  add(tMs: number): OutgoingMessage[] {
    const metrics = this.model.sample(tMs);
    let ts = tMs + this.faults.skewMs;
    if (this.faults.skewMs !== 0) this.stats.skewedSamples++;
    if (this.faults.farFutureProbability > 0 && this.options.rng.chance(this.faults.farFutureProbability)) {
      ts += this.faults.farFutureMs;
      this.stats.farFutureSamples++;
    }
    if (this.pending.length === 0) this.pendingFirstMs = tMs;
    this.pending.push({ ts: this.stamp(ts), metrics });
    this.stats.samples++;
    return this.pending.length >= this.batch ? this.flush() : [];
  }

  /** Closes the current partial batch (at shutdown). */
  flush(): OutgoingMessage[] {
    if (this.pending.length === 0) return [];
    const payload: DataPayload = { seq: this.seq, samples: this.pending, ...(this.options.unitsInMessages ? { units: this.units } : {}) };
    const message: DataMessage = {
      kind: 'data',
      seq: this.seq,
      payload: JSON.stringify(payload),
      samples: this.pending.length,
      readings: this.pending.reduce((n, s) => n + Object.keys(s.metrics).length, 0),
      firstSampleMs: this.pendingFirstMs,
    };
    this.pending = [];
    this.seq = (this.seq + 1) % SEQ_MODULO;
    const out: OutgoingMessage[] = [message];
    const { malformedProbability, malformedKinds } = this.faults;
    if (malformedProbability > 0 && malformedKinds.length > 0 && this.options.rng.chance(malformedProbability)) {
      // A broken sibling of the valid message: same content and the next seq, not consumed.
      const fault = this.options.rng.pick(malformedKinds);
      const bad = malformPayload({ ...payload, seq: this.seq }, fault, this.options.rng);
      this.stats.malformed[fault] = (this.stats.malformed[fault] ?? 0) + 1;
      out.push({ kind: 'malformed', fault, payload: bad });
    }
    return out;
  }

  private stamp(ms: number): number | string {
    return this.options.timestampFormat === 'iso' ? new Date(ms).toISOString() : ms;
  }
}

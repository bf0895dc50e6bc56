import {
  ackPayloadSchema,
  birthPayloadSchema,
  dataPayloadSchema,
  describeZodError,
  normalise,
  statePayloadSchema,
  timestampToMs,
  type AckPayload,
  type BirthPayload,
  type StatePayload,
} from '../contract/index.ts';
import type { Reading } from '../store/types.ts';

/** Pure validation of one device message: bytes in, typed result or a precise reason out. */

export type Validated =
  | { kind: 'data'; seq: number; readings: Reading[]; futureSamples: number; maxFutureMs: number }
  | { kind: 'birth'; birth: BirthPayload }
  | { kind: 'state'; state: StatePayload }
  | { kind: 'ack'; ack: AckPayload }
  | { kind: 'rejected'; reason: string };

export interface ValidationContext {
  tenant: string;
  device: string;
  receivedAt: number;
  futureToleranceMs: number;
  /** Units declared in the device's birth message, per metric. */
  declaredUnits: ReadonlyMap<string, string> | undefined;
}

function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (payload.length === 0) return { ok: false, reason: 'empty payload: expected a JSON object' };
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch (err) {
    return { ok: false, reason: `malformed JSON: ${(err as Error).message}` };
  }
}

export function validateMessage(kind: string, payload: Buffer, ctx: ValidationContext): Validated {
  const json = parseJson(payload);
  if (!json.ok) return { kind: 'rejected', reason: json.reason };
  switch (kind) {
    case 'data':
      return validateData(json.value, ctx);
    case 'birth': {
      const r = birthPayloadSchema.safeParse(json.value);
      return r.success ? { kind: 'birth', birth: r.data } : { kind: 'rejected', reason: `birth schema violation: ${describeZodError(r.error)}` };
    }
    case 'state': {
      const r = statePayloadSchema.safeParse(json.value);
      return r.success ? { kind: 'state', state: r.data } : { kind: 'rejected', reason: `state schema violation: ${describeZodError(r.error)}` };
    }
    case 'ack': {
      const r = ackPayloadSchema.safeParse(json.value);
      return r.success ? { kind: 'ack', ack: r.data } : { kind: 'rejected', reason: `ack schema violation: ${describeZodError(r.error)}` };
    }
    default:
      return { kind: 'rejected', reason: `devices may not publish "${kind}" messages` };
  }
}

function validateData(value: unknown, ctx: ValidationContext): Validated {
  const r = dataPayloadSchema.safeParse(value);
  if (!r.success) return { kind: 'rejected', reason: `data schema violation: ${describeZodError(r.error)}` };
  const { seq, samples, units } = r.data;
  const readings: Reading[] = [];
  let futureSamples = 0;
  let maxFutureMs = 0;
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    const ts = timestampToMs(sample.ts);
    const ahead = ts - ctx.receivedAt;
    if (ahead > ctx.futureToleranceMs) {
      futureSamples++;
      if (ahead > maxFutureMs) maxFutureMs = ahead;
    }
    for (const metric in sample.metrics) {
      const unit = units?.[metric] ?? ctx.declaredUnits?.get(metric);
      if (unit === undefined) {
        return { kind: 'rejected', reason: `samples.${i}.metrics.${metric}: no unit known; declare it in the birth message or send a "units" map` };
      }
      const n = normalise(sample.metrics[metric]!, unit);
      if (!n.ok) return { kind: 'rejected', reason: `units.${metric}: ${n.reason}` };
      readings.push({ tenant: ctx.tenant, device: ctx.device, metric, ts, value: n.value, unit: n.unit });
    }
  }
  return { kind: 'data', seq, readings, futureSamples, maxFutureMs };
}

/** Payload excerpt for the dead-letter store: printable text, control bytes escaped. */
export function excerpt(payload: Buffer | undefined, maxBytes: number): string {
  if (!payload || payload.length === 0) return '';
  const head = payload.subarray(0, maxBytes).toString('utf8');
  // eslint-disable-next-line no-control-regex
  const safe = head.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return payload.length > maxBytes ? `${safe}… (${payload.length} bytes)` : safe;
}

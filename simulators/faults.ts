/**
 * Fault injection. Each fault is off unless configured; an empty object turns it on with
 * defaults that show up within a minute of simulation.
 */
import { z } from 'zod';
import type { DataPayload } from '../src/contract/index.ts';
import type { Rng } from './signals/random.ts';

export const faultNames = ['dropout', 'malformed', 'skew', 'storm'] as const;
export type FaultName = (typeof faultNames)[number];

export const malformedKinds = [
  'broken_json',
  'string_value',
  'missing_seq',
  'unknown_unit',
  'empty_samples',
  'bad_metric_name',
  'extra_field',
  'null_value',
] as const;
export type MalformedKind = (typeof malformedKinds)[number];

export const faultOptionsSchema = z
  .object({
    /** The device's network goes away: nothing reaches the broker, samples queue up on the device. */
    dropout: z
      .object({
        probabilityPerMinute: z.number().min(0).max(60).default(0.2),
        minS: z.number().positive().default(5),
        maxS: z.number().positive().default(30),
      })
      .refine((d) => d.maxS >= d.minS, 'dropout.maxS must be >= dropout.minS')
      .optional(),
    /** Extra, deliberately invalid data messages; they do not consume a seq. */
    malformed: z
      .object({
        probability: z.number().min(0).max(1).default(0.01),
        kinds: z.array(z.enum(malformedKinds)).min(1).default([...malformedKinds]),
      })
      .optional(),
    /** Devices with a wrong clock, and single samples stamped years ahead. */
    skew: z
      .object({
        deviceProbability: z.number().min(0).max(1).default(0.1),
        maxSkewS: z.number().min(0).default(900),
        farFutureProbability: z.number().min(0).max(1).default(0.002),
        farFutureYears: z.number().positive().max(1000).default(10),
      })
      .optional(),
    /** Every gateway drops its connection at `atS` and comes back within `windowS`. */
    storm: z
      .object({
        atS: z.number().min(0).optional().meta({ description: 'Seconds after start; half the duration when absent.' }),
        windowS: z.number().positive().default(5),
      })
      .optional(),
  })
  .strict();

export type FaultOptions = z.infer<typeof faultOptionsSchema>;
export type FaultOptionsInput = z.input<typeof faultOptionsSchema>;

/** `['malformed', 'storm']` (as from `--faults malformed,storm`) to options with defaults. */
export function faultsFromNames(names: readonly FaultName[]): FaultOptions {
  const input: Record<string, object> = {};
  for (const name of names) input[name] = {};
  return faultOptionsSchema.parse(input);
}

/**
 * Turns a valid data payload into an invalid message of the given kind. Every result
 * either fails JSON parsing or fails the contract's data schema.
 */
export function malformPayload(valid: DataPayload, kind: MalformedKind, rng: Rng): string {
  const copy = structuredClone(valid) as Record<string, unknown> & DataPayload;
  const firstSample = copy.samples[0];
  const firstMetric = firstSample ? Object.keys(firstSample.metrics)[0] : undefined;
  switch (kind) {
    case 'broken_json': {
      // A truncated object never parses: it has lost at least its closing brace.
      const text = JSON.stringify(valid);
      return text.slice(0, 1 + rng.int(Math.max(1, text.length - 1)));
    }
    case 'string_value':
      if (firstSample && firstMetric) (firstSample.metrics as Record<string, unknown>)[firstMetric] = String(firstSample.metrics[firstMetric]);
      return JSON.stringify(copy);
    case 'null_value':
      // What JSON.stringify makes of a NaN reading.
      if (firstSample && firstMetric) (firstSample.metrics as Record<string, unknown>)[firstMetric] = null;
      return JSON.stringify(copy);
    case 'missing_seq':
      delete (copy as Record<string, unknown>).seq;
      return JSON.stringify(copy);
    case 'unknown_unit':
      copy.units = { ...(copy.units ?? {}), [firstMetric ?? 'value']: 'furlong/fortnight' };
      return JSON.stringify(copy);
    case 'empty_samples':
      copy.samples = [];
      return JSON.stringify(copy);
    case 'bad_metric_name':
      if (firstSample && firstMetric) {
        const value = firstSample.metrics[firstMetric]!;
        delete firstSample.metrics[firstMetric];
        firstSample.metrics['Heat Power (kW)'] = value;
      }
      return JSON.stringify(copy);
    case 'extra_field':
      return JSON.stringify({ ...copy, debug: { uptime_s: 1234 } });
  }
}

/** Per-device fault draws, made once when the gateway is created. */
export interface DeviceFaults {
  /** Constant clock error of this device, ms (0 for a correct clock). */
  skewMs: number;
  farFutureProbability: number;
  farFutureMs: number;
  malformedProbability: number;
  malformedKinds: readonly MalformedKind[];
}

export const noDeviceFaults: DeviceFaults = {
  skewMs: 0,
  farFutureProbability: 0,
  farFutureMs: 0,
  malformedProbability: 0,
  malformedKinds: [],
};

export function drawDeviceFaults(faults: FaultOptions, rng: Rng): DeviceFaults {
  const skew = faults.skew;
  const skewed = skew ? rng.chance(skew.deviceProbability) : false;
  return {
    skewMs: skew && skewed ? Math.round(rng.range(-1, 1) * skew.maxSkewS * 1000) : 0,
    farFutureProbability: skew?.farFutureProbability ?? 0,
    farFutureMs: skew ? Math.round(skew.farFutureYears * 365.25 * 86_400_000) : 0,
    malformedProbability: faults.malformed?.probability ?? 0,
    malformedKinds: faults.malformed?.kinds ?? [],
  };
}

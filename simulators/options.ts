/**
 * Options of `querstrom simulate`, validated once here so the CLI derives its checks
 * (and help defaults) from one schema.
 */
import { z } from 'zod';
import { contractLimits, idSchema } from '../src/contract/index.ts';
import { faultNames, faultsFromNames } from './faults.ts';
import { planFleet } from './fleet.ts';
import type { RunSimulationOptions } from './runner.ts';

const commaList = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : v;

export const simulateOptionsSchema = z
  .object({
    devices: z.coerce.number().int().min(1).max(100_000).default(100).meta({ description: 'Number of virtual gateways' }),
    rate: z.coerce.number().positive().max(1000).default(1).meta({ description: 'Data messages per second per device' }),
    duration: z.coerce.number().min(0).default(60).meta({ description: 'Seconds to run; 0 runs until interrupted' }),
    batch: z.coerce.number().int().min(1).max(contractLimits.maxSamplesPerMessage).default(1).meta({ description: 'Samples per data message' }),
    faults: z
      .preprocess(commaList, z.array(z.enum(faultNames)))
      .transform((names) => [...new Set(names)])
      .default([])
      .meta({ description: `Comma-separated faults to inject: ${faultNames.join(', ')}` }),
    url: z
      .url({ protocol: /^(mqtts?|wss?|tcp|tls)$/, error: 'url must be an MQTT URL such as mqtt://127.0.0.1:1883 (mqtt, mqtts, ws, wss)' })
      .default('mqtt://127.0.0.1:1883')
      .meta({ description: 'Broker to connect to' }),
    tenant: idSchema.default('demo').meta({ description: 'Tenant (municipality) the devices belong to' }),
    seed: z.coerce.number().int().min(0).max(2 ** 32 - 1).default(1).meta({ description: 'Seed for signals, fleet and faults' }),
  })
  .strict();

export type SimulateOptions = z.infer<typeof simulateOptionsSchema>;
export type SimulateOptionsInput = z.input<typeof simulateOptionsSchema>;

/**
 * Everything `runSimulation` needs from CLI options; the caller provisions credentials
 * (passwordFor) because only it knows the identity registry.
 */
export function simulationFromOptions(
  options: SimulateOptions,
  passwordFor: (device: string) => string,
  extra: Partial<Omit<RunSimulationOptions, 'url' | 'tenant' | 'devices' | 'ratePerDevice' | 'durationS' | 'batch' | 'faults' | 'seed'>> = {},
): RunSimulationOptions {
  const fleet = planFleet(options.devices, options.seed);
  return {
    ...extra,
    url: options.url,
    tenant: options.tenant,
    devices: fleet.map((d) => ({ device: d.device, type: d.type, password: passwordFor(d.device), ...(d.variant ? { variant: d.variant } : {}) })),
    ratePerDevice: options.rate,
    durationS: options.duration,
    batch: options.batch,
    faults: faultsFromNames(options.faults),
    seed: options.seed,
  };
}

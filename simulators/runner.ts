/**
 * Runs a fleet of virtual gateways against a broker. One shared timer drives every
 * gateway (sampling, reconnects, faults); connects are staggered so a large fleet does
 * not arrive as one burst unless a storm is asked for.
 */
import { z } from 'zod';
import { contractLimits, deviceTypeSchema, idSchema, type DeviceType } from '../src/contract/index.ts';
import { drawDeviceFaults, faultOptionsSchema, malformedKinds, type FaultOptionsInput, type MalformedKind } from './faults.ts';
import { VirtualGateway, type GatewayReport, type SimLogger } from './gateway.ts';
import { Environment } from './signals/environment.ts';
import { createRng, hashInts, hashString } from './signals/random.ts';
import type { IClientOptions } from 'mqtt';

export interface SimulatedDevice {
  device: string;
  password: string;
  type: DeviceType;
  variant?: string;
}

export interface SimulationProgress {
  elapsedS: number;
  started: number;
  connected: number;
  sent: number;
  acked: number;
  queued: number;
  phase: 'running' | 'draining' | 'closing' | 'done';
}

export interface RunSimulationOptions {
  url: string;
  tenant: string;
  devices: SimulatedDevice[];
  /** Data messages per second per device. */
  ratePerDevice: number;
  /** Seconds of sampling; 0 runs until `stop()` or the abort signal. */
  durationS: number;
  /** Samples per message (default 1). */
  batch?: number;
  faults?: FaultOptionsInput;
  seed?: number;
  log?: SimLogger;
  /** Connects started per second (default 500). */
  connectRatePerS?: number;
  /** After sampling stops, how long to wait for the last PUBACKs (default 10 s). */
  drainTimeoutS?: number;
  maxQueue?: number;
  maxInflight?: number;
  /** A connection without PUBACKs for this long is dropped and its messages resent (default 15 s). */
  ackTimeoutMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  mqttOptions?: Partial<IClientOptions>;
  onProgress?: (progress: SimulationProgress) => void;
  progressIntervalS?: number;
  signal?: AbortSignal;
}

export interface SimulationTotals {
  sent: number;
  acked: number;
  samplesSent: number;
  samplesAcked: number;
  readingsSent: number;
  readingsAcked: number;
  dropped: number;
  unsent: number;
  unacked: number;
  bufferedSent: number;
  resent: number;
  ackTimeouts: number;
  births: number;
  connects: number;
  disconnects: number;
  connectErrors: number;
  authFailures: number;
  malformedSent: number;
  lateSamples: number;
  commands: { received: number; ok: number; refused: number; invalid: number; rejectNotices: number };
}

export interface SimulationReport {
  tenant: string;
  devices: number;
  startedAt: string;
  wallS: number;
  /** Time spent waiting for the last PUBACKs, and disconnecting, after sampling stopped. */
  drainS: number;
  closeS: number;
  durationS: number;
  ratePerDevice: number;
  batch: number;
  stoppedEarly: boolean;
  totals: SimulationTotals;
  faults: {
    dropouts: number;
    storms: number;
    stormDrops: number;
    malformed: Partial<Record<MalformedKind, number>>;
    skewedDevices: number;
    skewedSamples: number;
    farFutureSamples: number;
  };
  /** This process: includes an in-process broker when there is one. */
  resources: { cpuUserS: number; cpuSystemS: number; cpuS: number; startRssMB: number; peakRssMB: number; endRssMB: number; peakHeapUsedMB: number };
  perDevice: GatewayReport[];
  /** Internal errors (bugs), first 20; the run continues past them. */
  errors: string[];
}

export interface SimulationHandle {
  readonly done: Promise<SimulationReport>;
  readonly gateways: readonly VirtualGateway[];
  gateway(device: string): VirtualGateway | undefined;
  /** Stops sampling now, drains, disconnects and resolves the report. */
  stop(): Promise<SimulationReport>;
  /** Every started gateway drops its connection and returns within windowS. */
  storm(windowS: number): void;
  progress(): SimulationProgress;
}

const optionsSchema = z.object({
  url: z.string().min(1, 'url is required, e.g. mqtt://127.0.0.1:1883'),
  tenant: idSchema,
  devices: z
    .array(z.object({ device: idSchema, password: z.string(), type: deviceTypeSchema, variant: z.string().optional() }))
    .min(1, 'at least one device')
    .refine((ds) => new Set(ds.map((d) => d.device)).size === ds.length, 'device ids must be unique'),
  ratePerDevice: z.number().positive().max(1000),
  durationS: z.number().min(0),
  batch: z.number().int().min(1).max(contractLimits.maxSamplesPerMessage).default(1),
  seed: z.number().int().default(1),
  connectRatePerS: z.number().positive().default(500),
  drainTimeoutS: z.number().min(0).default(10),
  progressIntervalS: z.number().positive().default(1),
});

export function runSimulation(options: RunSimulationOptions): Promise<SimulationReport> {
  return startSimulation(options).done;
}

export function startSimulation(options: RunSimulationOptions): SimulationHandle {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new Error(`invalid simulation options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const o = parsed.data;
  const faults = faultOptionsSchema.parse(options.faults ?? {});
  const log = options.log;
  const env = new Environment(o.seed);
  const faultRng = createRng(hashInts(o.seed, 0xfa17));

  const gateways = options.devices.map(
    (d) =>
      new VirtualGateway({
        url: o.url,
        tenant: o.tenant,
        device: d.device,
        password: d.password,
        type: d.type,
        ...(d.variant ? { variant: d.variant } : {}),
        seed: o.seed,
        env,
        rate: o.ratePerDevice,
        batch: o.batch,
        faults: drawDeviceFaults(faults, createRng(hashInts(o.seed, hashString(d.device), 0xfa17))),
        ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
        ...(options.maxInflight !== undefined ? { maxInflight: options.maxInflight } : {}),
        ...(options.ackTimeoutMs !== undefined ? { ackTimeoutMs: options.ackTimeoutMs } : {}),
        ...(options.reconnectMinMs !== undefined ? { reconnectMinMs: options.reconnectMinMs } : {}),
        ...(options.reconnectMaxMs !== undefined ? { reconnectMaxMs: options.reconnectMaxMs } : {}),
        ...(options.mqttOptions ? { mqttOptions: options.mqttOptions } : {}),
        ...(log ? { log } : {}),
      }),
  );
  const byId = new Map(gateways.map((g) => [g.device, g]));

  const startedAt = Date.now();
  const cpuStart = process.cpuUsage();
  const intervalMs = 1000 / (o.ratePerDevice * o.batch);
  const tickMs = Math.max(5, Math.min(50, intervalMs / 4));
  let endAt = o.durationS > 0 ? startedAt + o.durationS * 1000 : Number.POSITIVE_INFINITY;
  let drainDeadline = Number.POSITIVE_INFINITY;
  let drainStartedAt = 0;
  let closeStartedAt = 0;
  let phase: SimulationProgress['phase'] = 'running';
  let started = 0;
  let stoppedEarly = false;
  let storms = 0;
  let stormAt = faults.storm ? startedAt + (faults.storm.atS ?? (o.durationS > 0 ? o.durationS / 2 : 60)) * 1000 : Number.POSITIVE_INFINITY;
  const startRss = process.memoryUsage.rss();
  let peakRss = startRss;
  let peakHeap = process.memoryUsage().heapUsed;
  let lastMemoryAt = 0;
  let lastProgressAt = startedAt;
  const errors: string[] = [];
  let errorCount = 0;

  const dropoutRatePerMs = faults.dropout ? faults.dropout.probabilityPerMinute / 60_000 : 0;
  const nextDropoutAt = new Float64Array(gateways.length).fill(Number.POSITIVE_INFINITY);
  const drawNextDropout = (now: number) => (dropoutRatePerMs > 0 ? now - Math.log(1 - faultRng.next()) / dropoutRatePerMs : Number.POSITIVE_INFINITY);

  const recordError = (e: unknown, device?: string) => {
    errorCount++;
    const message = `${device ? `${device}: ` : ''}${e instanceof Error ? e.message : String(e)}`;
    if (errors.length < 20) errors.push(message);
    if (errorCount <= 5) log?.warn({ err: message }, 'simulator error');
  };

  const progress = (): SimulationProgress => {
    let connected = 0;
    let sent = 0;
    let acked = 0;
    let queued = 0;
    for (let i = 0; i < started; i++) {
      const g = gateways[i]!;
      if (g.connected) connected++;
      const r = g.counts;
      sent += r.sent;
      acked += r.acked;
      queued += g.queued;
    }
    return { elapsedS: (Date.now() - startedAt) / 1000, started, connected, sent, acked, queued, phase };
  };

  const storm = (windowS: number) => {
    storms++;
    const windowMs = windowS * 1000;
    for (let i = 0; i < started; i++) gateways[i]!.dropConnection(faultRng.next() * windowMs, 'storm');
    log?.info({ devices: started, windowS }, 'reconnect storm');
  };

  let resolveDone!: (r: SimulationReport) => void;
  const done = new Promise<SimulationReport>((resolve) => (resolveDone = resolve));

  const tick = () => {
    const now = Date.now();
    try {
      const connectEvery = 1000 / o.connectRatePerS;
      while (phase === 'running' && started < gateways.length && startedAt + started * connectEvery <= now) {
        gateways[started]!.start(now);
        nextDropoutAt[started] = drawNextDropout(now);
        started++;
      }
      if (phase === 'running' && now >= stormAt && faults.storm) {
        stormAt = Number.POSITIVE_INFINITY;
        storm(faults.storm.windowS);
      }
      for (let i = 0; i < started; i++) {
        const g = gateways[i]!;
        if (phase === 'running' && now >= nextDropoutAt[i]! && faults.dropout) {
          g.dropConnection(faultRng.range(faults.dropout.minS, faults.dropout.maxS) * 1000, 'dropout');
          nextDropoutAt[i] = drawNextDropout(now);
        }
        try {
          g.tick(now);
        } catch (e) {
          recordError(e, g.device);
        }
      }
      if (now - lastMemoryAt >= 1000) {
        lastMemoryAt = now;
        const mem = process.memoryUsage();
        peakRss = Math.max(peakRss, mem.rss);
        peakHeap = Math.max(peakHeap, mem.heapUsed);
      }
      if (options.onProgress && now - lastProgressAt >= o.progressIntervalS * 1000) {
        lastProgressAt = now;
        options.onProgress(progress());
      }
      if (phase === 'running' && now >= endAt) {
        phase = 'draining';
        drainStartedAt = now;
        drainDeadline = now + o.drainTimeoutS * 1000;
        for (let i = 0; i < started; i++) gateways[i]!.stopProducing();
        log?.info({ started, elapsedS: (now - startedAt) / 1000 }, 'simulation sampling stopped, draining');
      }
      if (phase === 'draining' && (now >= drainDeadline || gateways.every((g, i) => i >= started || g.drained))) {
        phase = 'closing';
        closeStartedAt = now;
        void finish();
      }
    } catch (e) {
      recordError(e);
    }
  };

  const timer = setInterval(tick, tickMs);

  const finish = async () => {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await Promise.all(gateways.slice(0, started).map((g) => g.close().catch((e: unknown) => recordError(e, g.device))));
    phase = 'done';
    const report = buildReport();
    log?.info({ sent: report.totals.sent, acked: report.totals.acked, wallS: report.wallS }, 'simulation finished');
    resolveDone(report);
  };

  const buildReport = (): SimulationReport => {
    const perDevice = gateways.map((g) => g.report());
    const totals: SimulationTotals = {
      sent: 0,
      acked: 0,
      samplesSent: 0,
      samplesAcked: 0,
      readingsSent: 0,
      readingsAcked: 0,
      dropped: 0,
      unsent: 0,
      unacked: 0,
      bufferedSent: 0,
      resent: 0,
      ackTimeouts: 0,
      births: 0,
      connects: 0,
      disconnects: 0,
      connectErrors: 0,
      authFailures: 0,
      malformedSent: 0,
      lateSamples: 0,
      commands: { received: 0, ok: 0, refused: 0, invalid: 0, rejectNotices: 0 },
    };
    const malformed: Partial<Record<MalformedKind, number>> = {};
    let dropouts = 0;
    let stormDrops = 0;
    let skewedDevices = 0;
    let skewedSamples = 0;
    let farFutureSamples = 0;
    for (const r of perDevice) {
      for (const k of [
        'sent', 'acked', 'samplesSent', 'samplesAcked', 'readingsSent', 'readingsAcked', 'dropped', 'unsent', 'unacked',
        'bufferedSent', 'resent', 'ackTimeouts', 'births', 'connects', 'disconnects', 'connectErrors', 'authFailures', 'malformedSent', 'lateSamples',
      ] as const) {
        totals[k] += r[k];
      }
      for (const k of Object.keys(totals.commands) as Array<keyof SimulationTotals['commands']>) totals.commands[k] += r.commands[k];
      for (const kind of malformedKinds) if (r.malformed[kind]) malformed[kind] = (malformed[kind] ?? 0) + r.malformed[kind]!;
      dropouts += r.dropouts;
      stormDrops += r.stormDrops;
      if (r.skewMs !== 0) skewedDevices++;
      skewedSamples += r.skewedSamples;
      farFutureSamples += r.farFutureSamples;
    }
    const cpu = process.cpuUsage(cpuStart);
    const rss = process.memoryUsage.rss();
    return {
      tenant: o.tenant,
      devices: gateways.length,
      startedAt: new Date(startedAt).toISOString(),
      wallS: (Date.now() - startedAt) / 1000,
      drainS: (closeStartedAt - drainStartedAt) / 1000,
      closeS: (Date.now() - closeStartedAt) / 1000,
      durationS: o.durationS,
      ratePerDevice: o.ratePerDevice,
      batch: o.batch,
      stoppedEarly,
      totals,
      faults: { dropouts, storms, stormDrops, malformed, skewedDevices, skewedSamples, farFutureSamples },
      resources: {
        cpuUserS: cpu.user / 1e6,
        cpuSystemS: cpu.system / 1e6,
        cpuS: (cpu.user + cpu.system) / 1e6,
        startRssMB: startRss / 2 ** 20,
        peakRssMB: Math.max(peakRss, rss) / 2 ** 20,
        endRssMB: rss / 2 ** 20,
        peakHeapUsedMB: peakHeap / 2 ** 20,
      },
      perDevice,
      errors,
    };
  };

  const stop = (): Promise<SimulationReport> => {
    if (phase === 'running') {
      stoppedEarly = o.durationS > 0 && Date.now() < endAt;
      endAt = Date.now();
      tick();
    }
    return done;
  };
  const onAbort = () => void stop();
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  log?.info({ devices: gateways.length, rate: o.ratePerDevice, batch: o.batch, durationS: o.durationS, url: o.url }, 'simulation started');
  tick();

  return {
    done,
    gateways,
    gateway: (device) => byId.get(device),
    stop,
    storm: (windowS) => storm(windowS),
    progress,
  };
}

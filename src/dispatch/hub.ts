/**
 * One live dispatch service per `config.coupling` entry, fed from the ingest pipeline by tenant.
 * City files are loaded and checked before anything starts: a bad one stops startup with an
 * error naming the config entry and the field.
 */
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ApiPlugin } from '../api/index.ts';
import { CityConfigError, loadCity, type City } from '../coupling/index.ts';
import { idSchema } from '../contract/index.ts';
import type { Config, CouplingEntry } from '../config/schema.ts';
import type { DurableWriter } from '../ingest/durable-writer.ts';
import type { IngestPipeline } from '../ingest/pipeline.ts';
import type { Logger } from '../observability/logger.ts';
import { dispatchRoutes } from './api.ts';
import { resolveComponents, type Component } from './control.ts';
import { DispatchService, type Publish } from './service.ts';

export interface LoadedCoupling {
  entry: CouplingEntry;
  city: City;
  components: Component[];
}

/** Loads and checks every coupling entry's city and control mappings; throws naming the field. */
export function loadCouplings(config: Pick<Config, 'coupling'>): LoadedCoupling[] {
  const seen = new Map<string, number>();
  return config.coupling.map((entry, i) => {
    const at = `coupling[${i}]`;
    if (!idSchema.safeParse(entry.tenant).success) throw new Error(`${at}.tenant: "${entry.tenant}" is not a tenant id (1-64 chars of A-Z a-z 0-9 _ . -)`);
    const before = seen.get(entry.tenant);
    if (before !== undefined) throw new Error(`${at}.tenant: tenant "${entry.tenant}" already has a coupling engine (coupling[${before}]); one city per tenant`);
    seen.set(entry.tenant, i);
    let city: City;
    try {
      city = loadCity(entry.city);
    } catch (err) {
      if (err instanceof CityConfigError) throw new Error(`${at}.city: ${err.message}`);
      throw err;
    }
    return { entry, city, components: resolveComponents(city, entry.tenant, entry.controls, at) };
  });
}

export interface DispatchDeps {
  pipeline: Pick<IngestPipeline, 'on'>;
  writer: Pick<DurableWriter, 'append'>;
  publish: Publish;
  log: Logger;
  dataDir: string;
  /** The process registry: dispatch counters are read from the services at scrape time. */
  metrics?: Registry;
}

function registerMetrics(registry: Registry, services: ReadonlyMap<string, DispatchService>): void {
  const each = (fn: (tenant: string, s: DispatchService) => void) => {
    for (const [tenant, s] of services) fn(tenant, s);
  };
  new Counter({
    name: 'querstrom_dispatch_ticks_total',
    help: 'Dispatch ticks by tenant and what started them',
    labelNames: ['tenant', 'reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      each((tenant, s) => {
        this.inc({ tenant, reason: 'interval' }, s.stats.intervalTicks);
        this.inc({ tenant, reason: 'input' }, s.stats.inputTicks);
      });
    },
  });
  new Counter({
    name: 'querstrom_dispatch_readings_total',
    help: 'Readings fed to the coupling engine (rejected: physically impossible)',
    labelNames: ['tenant', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      each((tenant, s) => {
        this.inc({ tenant, result: 'accepted' }, s.stats.readings - s.stats.rejectedReadings);
        this.inc({ tenant, result: 'rejected' }, s.stats.rejectedReadings);
      });
    },
  });
  new Counter({
    name: 'querstrom_dispatch_commands_total',
    help: 'Setpoint commands sent to devices in automatic mode',
    labelNames: ['tenant'] as const,
    registers: [registry],
    collect() {
      this.reset();
      each((tenant, s) => this.inc({ tenant }, s.control.commandsSent));
    },
  });
  new Gauge({
    name: 'querstrom_dispatch_last_tick_seconds',
    help: 'Duration of the last dispatch tick (solve and result)',
    labelNames: ['tenant'] as const,
    registers: [registry],
    collect() {
      each((tenant, s) => this.set({ tenant }, s.stats.lastTickUs / 1e6));
    },
  });
  new Gauge({
    name: 'querstrom_dispatch_alarms',
    help: 'Alarms of the last dispatch tick by level',
    labelNames: ['tenant', 'level'] as const,
    registers: [registry],
    collect() {
      each((tenant, s) => {
        const alarms = s.latest?.alarms ?? [];
        const critical = alarms.filter((a) => a.level === 'critical').length;
        this.set({ tenant, level: 'critical' }, critical);
        this.set({ tenant, level: 'warning' }, alarms.length - critical);
      });
    },
  });
}

export interface DispatchHub {
  readonly services: ReadonlyMap<string, DispatchService>;
  service(tenant: string): DispatchService | undefined;
  /** The /api/v1/dispatch/* routes. */
  readonly apiPlugin: ApiPlugin;
  /** Starts ticking; call once the broker that publishes the results is up. */
  start(): void;
  /** Live streams (SSE) register here so shutdown can end them. */
  trackStream(res: ServerResponse): void;
  /** Stops ticking, ends live streams, writes what is pending; idempotent. */
  close(): Promise<void>;
}

export async function startDispatch(loaded: LoadedCoupling[], deps: DispatchDeps): Promise<DispatchHub> {
  const services = new Map<string, DispatchService>();
  try {
    for (const l of loaded) {
      const log = deps.log.child({ component: 'dispatch', tenant: l.entry.tenant });
      services.set(l.entry.tenant, await DispatchService.create({ ...l, dataDir: deps.dataDir, writer: deps.writer, publish: deps.publish, log }));
      log.info({ city: l.city.name, units: l.city.units.length, controls: Object.keys(l.entry.controls).length }, 'live dispatch running');
    }
  } catch (err) {
    await Promise.allSettled([...services.values()].map((s) => s.close()));
    throw err;
  }
  if (deps.metrics) registerMetrics(deps.metrics, services);
  let closed = false;
  // A listener must never throw into the ingest path.
  deps.pipeline.on({
    readings: (tenant, device, onTime) => {
      const s = services.get(tenant);
      if (!s || closed) return;
      try {
        s.onReadings(device, onTime);
      } catch (err) {
        deps.log.error({ err, tenant, device }, 'dispatch could not take readings');
      }
    },
    ack: (tenant, device, ack) => {
      const s = services.get(tenant);
      if (!s || closed) return;
      try {
        s.onAck(device, ack);
      } catch (err) {
        deps.log.error({ err, tenant, device }, 'dispatch could not take an ack');
      }
    },
  });

  const streams = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;
  const hub: DispatchHub = {
    services,
    service: (tenant) => services.get(tenant),
    start: () => {
      if (!closed) for (const s of services.values()) s.start();
    },
    apiPlugin: async (app) => dispatchRoutes(app, hub),
    trackStream: (res) => {
      if (closed) {
        res.end();
        return;
      }
      streams.add(res);
      res.once('close', () => streams.delete(res));
    },
    close: () =>
      (closing ??= (async () => {
        closed = true;
        for (const res of streams) res.end();
        streams.clear();
        await Promise.allSettled([...services.values()].map((s) => s.close()));
      })()),
  };
  return hub;
}

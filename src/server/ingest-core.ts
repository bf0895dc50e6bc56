import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { buildApi, type ApiDeps, type BuildApiOptions } from '../api/index.ts';
import type { Config } from '../config/schema.ts';
import type { TokenVerifier } from '../identity/types.ts';
import { DeviceTracker } from '../devices/tracker.ts';
import { DurableWriter } from '../ingest/durable-writer.ts';
import { IngestPipeline } from '../ingest/pipeline.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetricsRegistry, ingestMetrics, type IngestMetrics } from '../observability/metrics.ts';
import { openDuckDbStore, type Store } from '../store/index.ts';
import { influxOptionsFromEnv, openInfluxStore } from '../store/influx/index.ts';
import { listenFailure } from '../common/listen-error.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { OpenedSoFar } from './opened-so-far.ts';
import { loadApiTls } from './tls.ts';

/** What every ingesting process has, whether it runs the embedded broker or sits behind an external one. */
export interface IngestCore {
  metrics: Registry;
  instruments: IngestMetrics;
  devices: DeviceTracker;
  store: Store;
  writer: DurableWriter;
  pipeline: IngestPipeline;
  /** Closes writer (flushing), device metadata and store, in that order. */
  close(): Promise<void>;
}

export interface IngestCoreOptions {
  log: Logger;
  /** Holds the QS_INFLUX_* settings when config.store.kind is influx. */
  env?: NodeJS.ProcessEnv;
  /** Registered devices per tenant, so never-connected devices show in the status list. */
  registered?: ConstructorParameters<typeof DeviceTracker>[1];
  /** Where reject notices go: the device's own cmd topic on whichever broker it uses. */
  notifyDevice: (topic: string, payload: string) => void;
}

export function openStore(config: Config, log: Logger, metrics: Registry, env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  return config.store.kind === 'influx'
    ? openInfluxStore({ ...influxOptionsFromEnv(env, config.dataDir), log: log.child({ component: 'influx' }), metrics })
    : openDuckDbStore({ path: join(config.dataDir, 'readings.duckdb') });
}

/** Device status → pipeline → WAL → store, with duplicate detection restored from the WAL. */
export async function openIngestCore(config: Config, o: IngestCoreOptions): Promise<IngestCore> {
  await mkdir(config.dataDir, { recursive: true });
  const lock = await lockDataDir(config.dataDir);
  const opened = new OpenedSoFar();
  opened.add(() => lock.release());
  const metrics = createMetricsRegistry();
  const devices = new DeviceTracker(join(config.dataDir, 'devices.json'), o.registered);
  await devices.load().catch(opened.undo);
  const store = await openStore(config, o.log, metrics, o.env).catch(opened.undo);
  opened.add(() => store.close());
  const { writer, recoveredSequences } = await DurableWriter.open({
    dir: join(config.dataDir, 'wal'),
    store,
    maxDelayMs: config.ingest.groupCommitMaxDelayMs,
    log: o.log,
  }).catch(opened.undo);
  devices.startPersisting();
  const instruments = ingestMetrics(metrics);
  const pipeline = new IngestPipeline({ writer, devices, metrics: instruments, config: config.ingest, log: o.log, notifyDevice: o.notifyDevice });
  pipeline.restoreSequences(recoveredSequences);
  return {
    metrics,
    instruments,
    devices,
    store,
    writer,
    pipeline,
    close: async () => {
      await writer.close();
      await devices.close();
      await store.close();
      await lock.release();
    },
  };
}

/** The API's view of an ingest core: readiness is the store accepting writes and the broker side being up. */
export function coreApiDeps(core: IngestCore, tokens: TokenVerifier, log: Logger, brokerUp: () => boolean): ApiDeps {
  return {
    store: core.store,
    tokens,
    devices: core.devices,
    metrics: core.metrics,
    log: log.child({ component: 'api' }),
    ready: async () => {
      const checks = { store: await core.store.healthy().catch(() => false), broker: brokerUp() };
      return { ready: Object.values(checks).every(Boolean), checks };
    },
  };
}

/** Builds the HTTP(S) API and listens; returns the bound port (config port 0 = ephemeral). */
export async function listenApi(config: Config, deps: ApiDeps, options: Omit<BuildApiOptions, 'https'> = {}): Promise<{ api: FastifyInstance; apiPort: number | undefined }> {
  const https = await loadApiTls(config.api.tls);
  const api = await buildApi(deps, { ...options, ...(https ? { https } : {}) });
  try {
    await api.listen({ host: config.api.host, port: config.api.port });
  } catch (err) {
    await api.close();
    throw listenFailure(err, { what: 'HTTP API', host: config.api.host, port: config.api.port, setting: 'api.port in the config, or serve --api-port' });
  }
  const address = api.server.address();
  return { api, apiPort: typeof address === 'object' && address ? address.port : undefined };
}

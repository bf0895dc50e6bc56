import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ApiError, buildApi, type ApiPlugin } from '../api/index.ts';
import { startBroker, type RunningBroker } from '../broker/index.ts';
import type { Config } from '../config/schema.ts';
import { DeviceTracker } from '../devices/tracker.ts';
import { IdentityRegistry } from '../identity/index.ts';
import { DurableWriter } from '../ingest/durable-writer.ts';
import { IngestPipeline } from '../ingest/pipeline.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMetricsRegistry, ingestMetrics } from '../observability/metrics.ts';
import { openDuckDbStore, type Store } from '../store/index.ts';
import { influxOptionsFromEnv, openInfluxStore } from '../store/influx/index.ts';

export interface RunningServer {
  config: Config;
  log: Logger;
  registry: IdentityRegistry;
  store: Store;
  writer: DurableWriter;
  pipeline: IngestPipeline;
  devices: DeviceTracker;
  broker: RunningBroker;
  api: FastifyInstance | undefined;
  apiPort: number | undefined;
  metrics: Registry;
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  apiPlugins?: ApiPlugin[];
}

export const identityFile = (dataDir: string) => join(dataDir, 'identity.json');

/** Composition root: wires broker → ingest → WAL → store, and the API over them. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.log.level);
  await mkdir(config.dataDir, { recursive: true });
  const metrics = createMetricsRegistry();
  const instruments = ingestMetrics(metrics);

  const registry = await IdentityRegistry.open(identityFile(config.dataDir));
  registry.watch();
  const devices = new DeviceTracker(join(config.dataDir, 'devices.json'), (tenant) => registry.listDevices(tenant));
  await devices.load();
  devices.startPersisting();

  const store: Store =
    config.store.kind === 'influx'
      ? await openInfluxStore({ ...influxOptionsFromEnv(process.env, config.dataDir), log: log.child({ component: 'influx' }), metrics })
      : await openDuckDbStore({ path: join(config.dataDir, 'readings.duckdb') });
  const { writer, recoveredSequences } = await DurableWriter.open({
    dir: join(config.dataDir, 'wal'),
    store,
    maxDelayMs: config.ingest.groupCommitMaxDelayMs,
    log,
  });

  let broker: RunningBroker | undefined;
  const pipeline = new IngestPipeline({
    writer,
    devices,
    metrics: instruments,
    config: config.ingest,
    log,
    notifyDevice: (topic, payload) => void broker?.publish(topic, payload, { qos: 0 }).catch(() => undefined),
  });
  pipeline.restoreSequences(recoveredSequences);

  broker = await startBroker(
    config.broker,
    {
      authenticator: registry,
      onDevicePublish: (msg) => pipeline.handle(msg),
      onReject: (r) => void pipeline.refused(r),
      onWarning: (id, warning) => {
        devices.flagged(id.tenant, id.device, warning);
        log.warn({ tenant: id.tenant, device: id.device }, warning);
      },
      onConnect: (id) => {
        devices.connected(id.tenant, id.device);
        instruments.connectedDevices.inc();
      },
      onDisconnect: (id) => {
        devices.disconnected(id.tenant, id.device);
        instruments.connectedDevices.dec();
      },
    },
    log.child({ component: 'broker' }),
  );

  const retentionMs = config.store.retentionDays * 86_400_000;
  const retentionTimer = retentionMs > 0 ? setInterval(() => void store.applyRetention(Date.now() - retentionMs).catch((err) => log.warn({ err }, 'retention failed')), 3_600_000) : undefined;
  retentionTimer?.unref();

  let api: FastifyInstance | undefined;
  let apiPort: number | undefined;
  if (config.api.enabled) {
    api = await buildApi(
      {
        store,
        tokens: registry,
        devices,
        metrics,
        log: log.child({ component: 'api' }),
        ready: async () => {
          const checks = { store: await store.healthy().catch(() => false), broker: true };
          return { ready: Object.values(checks).every(Boolean), checks };
        },
        deviceAdmin: {
          add: (tenant, device, type) =>
            registry.addDevice(tenant, device, type).catch((err: Error) => {
              throw new ApiError(409, 'conflict', err.message);
            }),
          revoke: (tenant, device) => registry.revokeDevice(tenant, device),
        },
      },
      { plugins: opts.apiPlugins ?? [] },
    );
    await api.listen({ host: config.api.host, port: config.api.port });
    const address = api.server.address();
    apiPort = typeof address === 'object' && address ? address.port : undefined;
  }

  log.info({ mqtt: broker.tcpPort, ws: broker.wsPort, api: apiPort, dataDir: config.dataDir }, 'querstrom serving');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (retentionTimer) clearInterval(retentionTimer);
      registry.unwatch();
      await api?.close();
      await broker!.close();
      await writer.close();
      await devices.close();
      await store.close();
      log.info('querstrom stopped; everything acknowledged is stored');
    })());

  return { config, log, registry, store, writer, pipeline, devices, broker, api, apiPort, metrics, close };
}

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { join } from 'node:path';
import type { ApiPlugin } from '../api/index.ts';
import { startBroker, type RunningBroker } from '../broker/index.ts';
import type { Config } from '../config/schema.ts';
import type { DeviceTracker } from '../devices/tracker.ts';
import { loadCouplings, startDispatch, type DispatchHub } from '../dispatch/index.ts';
import { IdentityRegistry } from '../identity/index.ts';
import type { DurableWriter } from '../ingest/durable-writer.ts';
import type { IngestPipeline } from '../ingest/pipeline.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import type { Store } from '../store/index.ts';
import { scenarioApiPlugin } from '../scenario/index.ts';
import { sessionPlugin, webPlugin } from '../web/index.ts';
import { coreApiDeps, listenApi, openIngestCore } from './ingest-core.ts';
import { OpenedSoFar } from './opened-so-far.ts';

export interface RunningServer {
  config: Config;
  log: Logger;
  registry: IdentityRegistry;
  store: Store;
  writer: DurableWriter;
  pipeline: IngestPipeline;
  devices: DeviceTracker;
  broker: RunningBroker;
  /** Live dispatch, one coupling engine per config.coupling entry. */
  dispatch: DispatchHub;
  api: FastifyInstance | undefined;
  apiPort: number | undefined;
  metrics: Registry;
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  apiPlugins?: ApiPlugin[];
  /** Environment holding the QS_INFLUX_* settings; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export const identityFile = (dataDir: string) => join(dataDir, 'identity.json');

/** Composition root: wires the embedded broker → ingest → WAL → store, and the API over them. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.log.level);
  // City models first: a bad one stops startup, naming the field, before anything is opened.
  const couplings = loadCouplings(config);
  const registry = await IdentityRegistry.open(identityFile(config.dataDir));

  let broker: RunningBroker | undefined;
  const core = await openIngestCore(config, {
    log,
    ...(opts.env ? { env: opts.env } : {}),
    registered: (tenant) => registry.listDevices(tenant),
    notifyDevice: (topic, payload) => void broker?.publish(topic, payload, { qos: 0 }).catch(() => undefined),
  });
  const { devices, pipeline, store, writer, metrics, instruments } = core;
  const opened = new OpenedSoFar();
  opened.add(() => core.close());
  registry.watch();
  opened.add(() => registry.unwatch());

  // Subscribed before the broker accepts devices, so no reading of a coupled tenant is missed.
  const dispatch = await startDispatch(couplings, {
    pipeline,
    writer,
    publish: (topic, payload, o) => (broker ? broker.publish(topic, payload, o) : Promise.resolve()),
    log,
    dataDir: config.dataDir,
    metrics,
  }).catch(opened.undo);
  opened.add(() => dispatch.close());

  broker = await startBroker(
    config.broker,
    {
      authenticator: registry,
      certificateAuthenticator: (subject) => registry.verifyCertificateSubject(subject),
      tokenVerifier: registry,
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
      onDisconnect: (id, _clientId, reason) => {
        devices.disconnected(id.tenant, id.device, reason);
        instruments.connectedDevices.dec();
      },
    },
    log.child({ component: 'broker' }),
    { dataDir: config.dataDir },
  ).catch(opened.undo);
  const runningBroker = broker;
  opened.add(() => runningBroker.close());
  dispatch.start();

  const { api, apiPort } = config.api.enabled
    ? await listenApi(
        config,
        {
          ...coreApiDeps(core, registry, log, () => true),
          deviceAdmin: {
            add: (tenant, devices) => registry.addDevices(tenant, devices),
            revoke: (tenant, device) => registry.revokeDevice(tenant, device),
          },
        },
        {
          plugins: [dispatch.apiPlugin, scenarioApiPlugin({ dataDir: config.dataDir }), sessionPlugin, ...(opts.apiPlugins ?? [])],
          publicPlugins: [webPlugin()],
          broker: { config, ports: { mqtt: broker.tcpPort, ws: broker.wsPort, mqtts: broker.tlsPort, wss: broker.wssPort } },
        },
      ).catch(opened.undo)
    : { api: undefined, apiPort: undefined };

  const retentionMs = config.store.retentionDays * 86_400_000;
  const retentionTimer = retentionMs > 0 ? setInterval(() => void store.applyRetention(Date.now() - retentionMs).catch((err) => log.warn({ err }, 'retention failed')), 3_600_000) : undefined;
  retentionTimer?.unref();

  log.info({ mqtt: broker.tcpPort, ws: broker.wsPort, mqtts: broker.tlsPort, wss: broker.wssPort, api: apiPort, dataDir: config.dataDir }, 'querstrom serving');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (retentionTimer) clearInterval(retentionTimer);
      registry.unwatch();
      // Ends live streams (the API waits for open connections) and writes pending series and audit lines.
      await dispatch.close();
      await api?.close();
      // The broker first: it finishes in-flight publishes, whose acks need the writer.
      await broker!.close();
      await core.close();
      log.info('querstrom stopped; everything acknowledged is stored');
    })());

  return { config, log, registry, store, writer, pipeline, devices, broker, dispatch, api, apiPort, metrics, close };
}

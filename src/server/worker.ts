/**
 * Composition root of an ingest worker behind an external broker (scale-out): shared
 * subscription → ingest pipeline → WAL → store, with the PUBACK to the broker sent only once
 * the readings are durable. Several workers share the load of one share group; each has its
 * own data dir (WAL, spool) and they share one store server (QS_STORE=influx).
 *
 * The wiring mirrors startServer() in ./index.ts minus the embedded broker and device
 * administration (the external broker authenticates devices and enforces their ACLs).
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ApiPlugin } from '../api/index.ts';
import type { Config } from '../config/schema.ts';
import type { DeviceTracker } from '../devices/tracker.ts';
import { IdentityRegistry } from '../identity/index.ts';
import type { DurableWriter } from '../ingest/durable-writer.ts';
import type { IngestPipeline } from '../ingest/pipeline.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { registerWorkerMetrics, routeBrokerMessage, SharedSubscriber, sharedFilters, type WorkerOptions } from '../scaleout/index.ts';
import type { Store } from '../store/index.ts';
import { identityFile } from './index.ts';
import { coreApiDeps, listenApi, openIngestCore } from './ingest-core.ts';
import { OpenedSoFar } from './opened-so-far.ts';

export interface RunningWorker {
  config: Config;
  worker: WorkerOptions;
  log: Logger;
  store: Store;
  writer: DurableWriter;
  pipeline: IngestPipeline;
  devices: DeviceTracker;
  subscriber: SharedSubscriber;
  api: FastifyInstance | undefined;
  apiPort: number | undefined;
  metrics: Registry;
  close(): Promise<void>;
}

export interface StartWorkerOptions {
  log?: Logger;
  apiPlugins?: ApiPlugin[];
  /** Environment holding the QS_INFLUX_* settings; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export async function startWorker(config: Config, worker: WorkerOptions, opts: StartWorkerOptions = {}): Promise<RunningWorker> {
  const log = (opts.log ?? createLogger(config.log.level)).child({ worker: worker.workerId });
  if (config.store.kind !== 'influx') {
    log.warn({ store: config.store.kind }, 'the embedded store belongs to this worker alone; workers sharing a group need a shared store (QS_STORE=influx)');
  }
  let subscriber: SharedSubscriber | undefined;
  const core = await openIngestCore(config, {
    log,
    ...(opts.env ? { env: opts.env } : {}),
    notifyDevice: (topic, payload) => subscriber?.publish(topic, payload),
  });
  const { devices, pipeline, store, writer, metrics } = core;
  const opened = new OpenedSoFar();
  opened.add(() => core.close());

  const maxTopicDepth = config.broker.limits.maxTopicDepth;
  const maxPacketBytes = config.broker.limits.maxPacketBytes;
  const handle = async (topic: string, payload: Buffer, receivedAt: number): Promise<void> => {
    const route = routeBrokerMessage(topic, maxTopicDepth);
    if (route.kind === 'ignore') return;
    if (route.kind === 'refuse') return pipeline.refused({ identity: route.identity, topic, payload, reason: `${route.reason}; message dropped`, receivedAt });
    // The external broker has its own packet limit; the contract's limit still applies here.
    if (payload.length > maxPacketBytes) {
      return pipeline.refused({ identity: route.identity, topic, payload, reason: `payload of ${payload.length} bytes exceeds maxPacketBytes=${maxPacketBytes}; message dropped`, receivedAt });
    }
    return pipeline.handle({ identity: route.identity, topic, parsed: route.parsed, payload, receivedAt });
  };

  subscriber = await SharedSubscriber.start(
    {
      url: worker.brokerUrl,
      clientId: worker.clientId,
      username: worker.username,
      password: worker.password,
      protocolVersion: worker.protocolVersion,
      filters: sharedFilters(worker.shareGroup),
      inflight: worker.inflight,
      sessionExpirySeconds: worker.sessionExpirySeconds,
      reconnectPeriodMs: worker.reconnectPeriodMs,
      log: log.child({ component: 'subscriber' }),
    },
    handle,
  ).catch(opened.undo);
  const sub = subscriber;
  opened.add(() => sub.close());
  registerWorkerMetrics(metrics, worker.workerId, () => sub.stats());

  // API tokens only; device credentials live in the external broker.
  const registry = config.api.enabled ? await IdentityRegistry.open(identityFile(config.dataDir)).catch(opened.undo) : undefined;
  registry?.watch();
  opened.add(() => registry?.unwatch());
  const { api, apiPort } = registry
    ? await listenApi(
        config,
        coreApiDeps(core, registry, log, () => sub.connected),
        // No listener of its own: the served AsyncAPI document lists no servers and says so.
        { ...(opts.apiPlugins ? { plugins: opts.apiPlugins } : {}), broker: { config, ports: { mqtt: undefined, ws: undefined, mqtts: undefined, wss: undefined } } },
      ).catch(opened.undo)
    : { api: undefined, apiPort: undefined };

  log.info({ broker: worker.brokerUrl, clientId: worker.clientId, group: worker.shareGroup, api: apiPort, dataDir: config.dataDir }, 'querstrom ingest worker running');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      registry?.unwatch();
      // First stop taking messages and acknowledge what is durable; the rest stays with the broker.
      await sub.close();
      await api?.close();
      await core.close();
      log.info('querstrom worker stopped; everything acknowledged is stored or spooled');
    })());

  return { config, worker, log, store, writer, pipeline, devices, subscriber: sub, api, apiPort, metrics, close };
}

import type { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { couplingEntrySchema, type ConfigInput } from '../../config/schema.ts';
import { startServer } from '../../server/index.ts';
import { DEMO_TENANT, demoCoupling, startDemo } from '../../server/demo.ts';
import { startWorker } from '../../server/worker.ts';
import { resolveWorkerOptions, WORKER_ENV } from '../../scaleout/index.ts';
import { fail } from './common.ts';

interface ServeOptions {
  config?: string;
  demo?: boolean;
  dataDir?: string;
  mqttPort?: string;
  wsPort?: string;
  apiPort?: string;
  devices: string;
  rate: string;
  broker?: string;
  workerId?: string;
  shareGroup?: string;
  brokerUsername?: string;
  brokerPassword?: string;
  brokerMqttVersion?: string;
  brokerInflight?: string;
  sessionExpiry?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the broker, ingest, store and API (with --demo: a demo city with simulated gateways)')
    .option('-c, --config <file>', 'YAML config file (see config/querstrom.example.yaml)')
    .option('--demo', 'demo city: register simulated gateways and run them in-process')
    .option('--data-dir <dir>', 'where the WAL, store and identity file live')
    .option('--mqtt-port <port>', 'MQTT TCP port (0 = any free port)')
    .option('--ws-port <port>', 'MQTT over WebSocket port')
    .option('--api-port <port>', 'HTTP API port')
    .option('--devices <n>', 'simulated gateways in --demo mode (60: about ten heat meters per zone of the demo city)', '60')
    .option('--rate <r>', 'messages per second per simulated gateway in --demo mode', '0.5')
    .option('--broker <url>', 'scale-out: run an ingest worker on an external broker (mqtt://host:1883) instead of the embedded one')
    .option('--worker-id <id>', 'with --broker: stable id of this worker (its persistent session); default the host name')
    .option('--share-group <name>', 'with --broker: shared-subscription group of the workers', 'querstrom')
    .option('--broker-username <user>', `with --broker: MQTT username (or ${WORKER_ENV.username}; the password only via ${WORKER_ENV.password})`)
    .option('--broker-mqtt-version <4|5>', 'with --broker: MQTT protocol version', '5')
    .option('--broker-inflight <n>', 'with --broker: unacknowledged QoS 1 messages the broker may send ahead (MQTT 5 receive maximum)', '500')
    .option('--session-expiry <s>', 'with --broker: seconds the broker keeps the session (and queues this worker\'s share) after a disconnect; default never')
    .action(async (o: ServeOptions) => {
      const overrides: ConfigInput = {
        ...(o.dataDir ? { dataDir: o.dataDir } : {}),
        broker: {
          ...(o.mqttPort ? { tcp: { port: Number(o.mqttPort) } } : {}),
          ...(o.wsPort ? { ws: { port: Number(o.wsPort) } } : {}),
        },
        ...(o.apiPort ? { api: { port: Number(o.apiPort) } } : {}),
      };
      const config = await loadConfig(o.config, overrides).catch((err: Error) => fail(err.message));
      if (o.broker !== undefined) return serveWorker(o, config);
      // The demo runs the demo city live, unless the config already couples the demo tenant.
      if (o.demo && !config.coupling.some((c) => c.tenant === DEMO_TENANT)) config.coupling.push(couplingEntrySchema.parse(demoCoupling()));
      const server = await startServer(config).catch((err: Error) => fail(`cannot start: ${err.message}`));
      const demo = o.demo ? await startDemo(server, { devices: Number(o.devices), rate: Number(o.rate) }) : undefined;

      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.log.info({ signal }, 'shutting down gracefully');
        const force = setTimeout(() => process.exit(1), config.broker.limits.drainTimeoutMs + 10_000);
        force.unref();
        await demo?.stop();
        await server.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      // Machine-readable readiness line for scripts and tests that start the server.
      process.stdout.write(JSON.stringify({ ready: true, mqtt: server.broker.tcpPort, ws: server.broker.wsPort, mqtts: server.broker.tlsPort, wss: server.broker.wssPort, api: server.apiPort, ...(demo ? { token: demo.token, tenant: demo.tenant } : {}) }) + '\n');
    });
}

/** `serve --broker`: an ingest worker on an external broker, same shutdown contract as the server. */
async function serveWorker(o: ServeOptions, config: Awaited<ReturnType<typeof loadConfig>>): Promise<void> {
  if (o.demo) fail('--demo runs the embedded broker; it cannot be combined with --broker');
  let options;
  try {
    options = resolveWorkerOptions({
      broker: o.broker!,
      workerId: o.workerId,
      shareGroup: o.shareGroup,
      username: o.brokerUsername,
      protocolVersion: o.brokerMqttVersion,
      inflight: o.brokerInflight,
      sessionExpirySeconds: o.sessionExpiry,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const worker = await startWorker(config, options).catch((err: Error) => fail(`cannot start worker: ${err.message}`));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    worker.log.info({ signal }, 'shutting down gracefully');
    const force = setTimeout(() => process.exit(1), config.broker.limits.drainTimeoutMs + 10_000);
    force.unref();
    await worker.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.stdout.write(JSON.stringify({ ready: true, worker: options.workerId, clientId: options.clientId, broker: options.brokerUrl, api: worker.apiPort }) + '\n');
}

import type { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import type { ConfigInput } from '../../config/schema.ts';
import { startServer } from '../../server/index.ts';
import { startDemo } from '../../server/demo.ts';
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
    .option('--devices <n>', 'simulated gateways in --demo mode', '24')
    .option('--rate <r>', 'messages per second per simulated gateway in --demo mode', '0.5')
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
      process.stdout.write(JSON.stringify({ ready: true, mqtt: server.broker.tcpPort, ws: server.broker.wsPort, api: server.apiPort, ...(demo ? { token: demo.token, tenant: demo.tenant } : {}) }) + '\n');
    });
}

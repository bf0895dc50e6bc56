import type { Command } from 'commander';
import { describeZodError } from '../../contract/index.ts';
import { planFleet, runSimulation, simulateOptionsSchema, simulationFromOptions } from '../../../simulators/index.ts';
import { provisionSimulatedDevices } from '../../server/simulated-fleet.ts';
import { DEFAULT_DATA_DIR, fail, openRegistry } from './common.ts';

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('virtual gateways over real MQTT: every device type, realistic signals, optional faults')
    .option('--devices <n>', 'number of virtual gateways', '100')
    .option('--rate <r>', 'data messages per second per device', '1')
    .option('--duration <s>', 'seconds to run (0 = until Ctrl-C)', '60')
    .option('--batch <n>', 'samples per data message', '1')
    .option('--faults <list>', 'comma-separated: dropout, malformed, skew, storm')
    .option('--url <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
    .option('--tenant <tenant>', 'tenant of the simulated devices', 'demo')
    .option('--seed <n>', 'seed for signals, fleet and faults', '1')
    .option('--data-dir <dir>', 'server data dir: devices are registered there', DEFAULT_DATA_DIR)
    .option('--json', 'print the report as JSON on the last line')
    .action(async (raw: Record<string, string | boolean | undefined> & { dataDir: string; json?: boolean }) => {
      const { dataDir, json, ...rest } = raw;
      const parsed = simulateOptionsSchema.safeParse(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)));
      if (!parsed.success) fail(`invalid option: ${describeZodError(parsed.error)}`);
      const options = parsed.data;
      const registry = await openRegistry(dataDir);
      const passwordFor = await provisionSimulatedDevices(registry, dataDir, options.tenant, planFleet(options.devices, options.seed));
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const report = await runSimulation(
        simulationFromOptions(options, passwordFor, {
          signal: controller.signal,
          onProgress: (p) => process.stderr.write(`\r${p.elapsedS.toFixed(0)} s  connected ${p.connected}/${options.devices}  sent ${p.sent}  acked ${p.acked}  queued ${p.queued}   `),
        }),
      );
      process.stderr.write('\n');
      const { perDevice: _perDevice, ...summary } = report;
      process.stdout.write(json ? JSON.stringify(summary) + '\n' : JSON.stringify(summary, null, 2) + '\n');
      process.exit(0);
    });
}

import { Command } from 'commander';
import { registerBenchCommand } from './commands/bench.ts';
import { registerBenchDispatch } from './commands/bench-dispatch.ts';
import { registerDispatchCommand } from './commands/dispatch.ts';
import { registerBenchScenario } from './commands/bench-scenario.ts';
import { registerBenchMemory } from './commands/bench-memory.ts';
import { registerScenarioCommand } from './commands/scenario.ts';
import { registerDeviceCommand } from './commands/device.ts';
import { registerSimulateCommand } from './commands/simulate.ts';
import { registerSpecsCommand } from './commands/specs.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerTokenCommand } from './commands/token.ts';

export function buildProgram(): Command {
  const program = new Command('querstrom')
    .description('Sector coupling for municipal utilities: MQTT ingest, time-series store, coupling engine')
    .version('0.1.0');
  registerServeCommand(program);
  registerDeviceCommand(program);
  registerSimulateCommand(program);
  registerTokenCommand(program);
  const bench = registerBenchCommand(program);
  registerBenchDispatch(bench);
  registerBenchScenario(bench);
  registerBenchMemory(bench);
  registerDispatchCommand(program);
  registerScenarioCommand(program);
  registerSpecsCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planFleet, startSimulation, type SimulationHandle } from '../../simulators/index.ts';
import type { RunningServer } from './index.ts';
import { provisionSimulatedDevices } from './simulated-fleet.ts';

export const DEMO_TENANT = 'demo';

export interface DemoOptions {
  devices: number;
  rate: number;
}

export interface RunningDemo {
  tenant: string;
  /** Admin token of the demo tenant, kept in the data dir so restarts reuse it. */
  token: string;
  simulation: SimulationHandle;
  stop(): Promise<void>;
}

async function demoToken(server: RunningServer): Promise<string> {
  const file = join(server.config.dataDir, 'demo-token.txt');
  const existing = await readFile(file, 'utf8').then((t) => t.trim(), () => '');
  if (existing && server.registry.verifyToken(existing)) return existing;
  const { token } = await server.registry.addToken(DEMO_TENANT, 'admin', 'demo');
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

/** The demo city: simulated gateways of every type, run in-process against our own broker. */
export async function startDemo(server: RunningServer, o: DemoOptions): Promise<RunningDemo> {
  const fleet = planFleet(o.devices, 1);
  const passwordFor = await provisionSimulatedDevices(server.registry, server.config.dataDir, DEMO_TENANT, fleet);
  const token = await demoToken(server);
  const simulation = startSimulation({
    url: `mqtt://127.0.0.1:${server.broker.tcpPort}`,
    tenant: DEMO_TENANT,
    devices: fleet.map((d) => ({ device: d.device, type: d.type, password: passwordFor(d.device), ...(d.variant ? { variant: d.variant } : {}) })),
    ratePerDevice: o.rate,
    durationS: 0,
    seed: 1,
  });
  server.log.info({ devices: fleet.length, api: server.apiPort, tenant: DEMO_TENANT }, `demo city running; API token in ${join(server.config.dataDir, 'demo-token.txt')}`);
  return {
    tenant: DEMO_TENANT,
    token,
    simulation,
    stop: async () => void (await simulation.stop()),
  };
}

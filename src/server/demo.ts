import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planFleet, startSimulation, type FleetDevice, type SimulationHandle } from '../../simulators/index.ts';
import type { CouplingEntryInput } from '../config/schema.ts';
import type { RunningServer } from './index.ts';
import { provisionSimulatedDevices } from './simulated-fleet.ts';

export const DEMO_TENANT = 'demo';

/** The demo city's model; its bindings name the devices of demoFleet(). */
export const DEMO_CITY = fileURLToPath(new URL('../../config/demo-city.yaml', import.meta.url));

/** The heat-meter zones of the demo city (bus demand bindings hm-zone01- .. hm-zone03-). */
const DEMO_ZONES = 3;

/** Which simulated device takes each demo unit's setpoint in automatic mode. */
export const DEMO_CONTROLS = {
  boiler1: { device: 'blr-1', metric: 'heat_power', unit: 'kW' },
  hp1: { device: 'hp-datacentre-1', metric: 'heat_power', unit: 'kW' },
  chp1: { device: 'chp-1', metric: 'el_power', unit: 'MW' },
} as const;

/** The coupling entry `serve --demo` adds: the demo city, live, for the demo tenant. */
export function demoCoupling(): CouplingEntryInput {
  return { tenant: DEMO_TENANT, city: DEMO_CITY, controls: { ...DEMO_CONTROLS } };
}

/**
 * planFleet(n) with its heat meters dealt round-robin over the demo city's three zones
 * (planFleet opens a new zone only every 40 meters): hm-zone01-001, hm-zone02-001, ...
 * Every other device id is planFleet's, which the demo city binds (grid-1, tes-1, wte-1,
 * whs-datacentre-1, pv-*). From 24 devices on, every zone has meters.
 */
export function demoFleet(n: number): FleetDevice[] {
  let i = 0;
  return planFleet(n, 1).map((d) => {
    if (d.type !== 'heat_meter') return d;
    const zone = `zone${String((i % DEMO_ZONES) + 1).padStart(2, '0')}`;
    const k = Math.floor(i / DEMO_ZONES) + 1;
    i++;
    return { ...d, device: `hm-${zone}-${String(k).padStart(3, '0')}`, zone };
  });
}

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
  const fleet = demoFleet(o.devices);
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

/**
 * How much a large simulated fleet costs: runs N gateways against a plain aedes broker in
 * a child process (so the numbers below are the simulator's own) and prints CPU and memory.
 *
 *   npx tsx simulators/scale-check.ts --devices 2000 --rate 1 --duration 10 [--batch 1] [--json]
 *
 * With --json the last line of stdout is one JSON object.
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { planFleet } from './fleet.ts';
import { runSimulation } from './runner.ts';

interface BrokerStats {
  cpuS: number;
  rssMB: number;
  publishes: number;
  clients: number;
}

async function brokerChild(): Promise<void> {
  const broker = await Aedes.createBroker();
  let publishes = 0;
  let clients = 0;
  broker.on('publish', (_packet, client) => {
    if (client) publishes++;
  });
  broker.on('client', () => clients++);
  const server = net.createServer(broker.handle);
  server.listen(0, '127.0.0.1', () => {
    process.send!({ port: (server.address() as net.AddressInfo).port });
  });
  const cpuStart = process.cpuUsage();
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd !== 'stats') return;
    const cpu = process.cpuUsage(cpuStart);
    const stats: BrokerStats = { cpuS: (cpu.user + cpu.system) / 1e6, rssMB: process.memoryUsage.rss() / 2 ** 20, publishes, clients };
    process.send!(stats, () => process.exit(0));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      broker: { type: 'boolean', default: false },
      devices: { type: 'string', default: '2000' },
      rate: { type: 'string', default: '1' },
      duration: { type: 'string', default: '10' },
      batch: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.broker) return brokerChild();

  const devices = Number(values.devices);
  const rate = Number(values.rate);
  const durationS = Number(values.duration);
  const batch = Number(values.batch);
  const child = fork(fileURLToPath(import.meta.url), ['--broker'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });

  const fleet = planFleet(devices, 1);
  const report = await runSimulation({
    url: `mqtt://127.0.0.1:${port}`,
    tenant: 'scale',
    devices: fleet.map((d) => ({ device: d.device, type: d.type, password: 'x', ...(d.variant ? { variant: d.variant } : {}) })),
    ratePerDevice: rate,
    durationS,
    batch,
    seed: 1,
    connectRatePerS: 1000,
  });

  child.send({ cmd: 'stats' });
  const broker = await new Promise<BrokerStats>((resolve) => child.once('message', (m: BrokerStats) => resolve(m)));
  const t = report.totals;
  const result = {
    devices,
    ratePerDevice: rate,
    batch,
    durationS,
    wallS: round(report.wallS),
    drainS: round(report.drainS),
    closeS: round(report.closeS),
    connects: t.connects,
    disconnects: t.disconnects,
    connectErrors: t.connectErrors,
    sent: t.sent,
    acked: t.acked,
    unacked: t.unacked,
    dropped: t.dropped,
    samplesSent: t.samplesSent,
    lateSamples: t.lateSamples,
    readingsAcked: t.readingsAcked,
    messagesPerS: round(t.acked / durationS),
    simCpuS: round(report.resources.cpuS),
    simCpuShareOfOneCore: round(report.resources.cpuS / report.wallS),
    simCpuMsPer1kMessages: round((report.resources.cpuS * 1e6) / Math.max(1, t.sent)),
    simPeakRssMB: round(report.resources.peakRssMB),
    simPeakHeapMB: round(report.resources.peakHeapUsedMB),
    simStartRssMB: round(report.resources.startRssMB),
    simRssPerDeviceKB: round(((report.resources.peakRssMB - report.resources.startRssMB) * 1024) / devices),
    brokerCpuS: round(broker.cpuS),
    brokerRssMB: round(broker.rssMB),
    brokerPublishes: broker.publishes,
    errors: report.errors.length,
  };
  if (!values.json) {
    for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(24)} ${v}`);
  }
  console.log(JSON.stringify(result));
}

const round = (v: number) => Math.round(v * 1000) / 1000;

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

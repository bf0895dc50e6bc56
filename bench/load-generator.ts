/**
 * Load generator for `querstrom bench ingest`, run as a child process so that client CPU
 * never counts as server CPU. Reads one JSON job from argv, prints one JSON result line.
 */
import mqtt from 'mqtt';
import { z } from 'zod';

const jobSchema = z.object({
  url: z.string(),
  clients: z.array(z.object({ tenant: z.string(), device: z.string(), password: z.string().optional() })),
  messagesPerClient: z.number().int().positive(),
  readingsPerMessage: z.number().int().positive(),
  inflight: z.number().int().positive(),
  /** Raw-broker baseline: also subscribe and count deliveries. */
  subscribe: z.boolean().default(false),
  firstSeq: z.number().int().default(0),
});
type Job = z.infer<typeof jobSchema>;

function payloadFor(seq: number, readings: number, baseTs: number): string {
  const samples = [];
  for (let i = 0; i < readings; i++) samples.push({ ts: baseTs + seq * readings + i, metrics: { heat_power: 1000 + (i % 97) } });
  return JSON.stringify({ seq, samples, units: { heat_power: 'kW' } });
}

function connect(url: string, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...opts, reconnectPeriod: 0, connectTimeout: 20_000, protocolVersion: 4 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function run(job: Job) {
  // A week back: batched runs start at seq 1e6, i.e. 1e8 ms later, still well in the past.
  const baseTs = Date.now() - 7 * 86_400_000;
  const expected = job.clients.length * job.messagesPerClient;
  let delivered = 0;
  let lastDelivery = 0;
  let subscriber: mqtt.MqttClient | undefined;
  let allDelivered: Promise<void> = Promise.resolve();
  if (job.subscribe) {
    subscriber = await connect(job.url, { clientId: 'bench-subscriber', clean: true });
    await subscriber.subscribeAsync('qs/v1/#', { qos: 1 });
    allDelivered = new Promise((resolve) => {
      subscriber!.on('message', () => {
        delivered++;
        lastDelivery = performance.now();
        if (delivered === expected) resolve();
      });
    });
  }
  const clients = await Promise.all(
    job.clients.map((c) => connect(job.url, { clientId: `${c.tenant}/${c.device}`, username: `${c.tenant}/${c.device}`, ...(c.password ? { password: c.password } : {}), clean: true })),
  );
  // Pre-build payloads so the generator measures the server, not JSON.stringify.
  const payloads = Array.from({ length: Math.min(job.messagesPerClient, 2000) }, (_, i) => payloadFor(job.firstSeq + i, job.readingsPerMessage, baseTs));
  let acked = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (client, ci) => {
      const c = job.clients[ci]!;
      const topic = `qs/v1/${c.tenant}/${c.device}/data`;
      let next = 0;
      const worker = async () => {
        while (next < job.messagesPerClient) {
          const i = next++;
          const seq = job.firstSeq + i;
          const body = i < payloads.length ? payloads[i]! : payloadFor(seq, job.readingsPerMessage, baseTs);
          await client.publishAsync(topic, body, { qos: 1 });
          acked++;
        }
      };
      await Promise.all(Array.from({ length: job.inflight }, worker));
    }),
  );
  const ackedAt = performance.now();
  if (subscriber) await Promise.race([allDelivered, new Promise((r) => setTimeout(r, 30_000))]);
  const end = subscriber ? Math.max(lastDelivery, ackedAt) : ackedAt;
  await Promise.all(clients.map((c) => c.endAsync()));
  await subscriber?.endAsync();
  return { sent: expected, acked, delivered, seconds: (end - t0) / 1000, ackSeconds: (ackedAt - t0) / 1000 };
}

const job = jobSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
run(job).then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  },
  (err: Error) => {
    process.stderr.write(`load generator failed: ${err.message}\n`);
    process.exit(1);
  },
);

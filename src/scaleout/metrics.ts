import { Counter, Gauge, type Registry } from 'prom-client';
import type { SubscriberStats } from './subscriber.ts';

/** Worker instruments, read from the subscriber at scrape time. */
export function registerWorkerMetrics(registry: Registry, workerId: string, stats: () => SubscriberStats): void {
  const labels = { worker: workerId };
  const counter = (name: string, help: string, pick: (s: SubscriberStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['worker'] as const,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(labels, pick(stats()));
      },
    });
  counter('querstrom_worker_messages_received_total', 'Messages this worker received from the external broker', (s) => s.received);
  counter('querstrom_worker_messages_acked_total', 'QoS 1 messages this worker acknowledged after they were durable', (s) => s.acked);
  counter('querstrom_worker_messages_failed_total', 'Messages not made durable (left unacknowledged for redelivery)', (s) => s.failed);
  new Gauge({
    name: 'querstrom_worker_broker_connected',
    help: '1 while the worker is connected to the external broker',
    labelNames: ['worker'] as const,
    registers: [registry],
    collect() {
      this.set(labels, stats().connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'querstrom_worker_inflight_messages',
    help: 'Messages received and not yet acknowledged',
    labelNames: ['worker'] as const,
    registers: [registry],
    collect() {
      this.set(labels, stats().inFlight);
    },
  });
}

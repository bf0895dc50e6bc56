import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per server process; each capability registers its own instruments on it. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'querstrom_process_' });
  return registry;
}

export function ingestMetrics(registry: Registry) {
  return {
    messages: new Counter({ name: 'querstrom_ingest_messages_total', help: 'Device messages by kind and result', labelNames: ['kind', 'result'] as const, registers: [registry] }),
    readings: new Counter({ name: 'querstrom_ingest_readings_total', help: 'Readings durably accepted', registers: [registry] }),
    deadLetters: new Counter({ name: 'querstrom_dead_letters_total', help: 'Messages rejected into the dead-letter store', registers: [registry] }),
    futureSamples: new Counter({ name: 'querstrom_ingest_future_samples_total', help: 'Samples flagged for timestamps too far in the future', registers: [registry] }),
    connectedDevices: new Gauge({ name: 'querstrom_mqtt_connected_clients', help: 'Connected MQTT clients', registers: [registry] }),
  };
}
export type IngestMetrics = ReturnType<typeof ingestMetrics>;

/**
 * A shared-subscription consumer whose QoS 1 PUBACKs mean "durable".
 *
 * mqtt.js sends the PUBACK of a received QoS 1 message when `handleMessage`'s callback runs,
 * and reads the next packet only after that (lib/handlers/publish.js, client.js `work`). Waiting
 * there for the WAL would allow one message in flight per connection. So the callback is called
 * at once with a sentinel error — mqtt.js then skips its own PUBACK and moves on — and the
 * PUBACK is written here when the handler resolved, in the order the PUBLISHes arrived (MQTT
 * 3.1.1 §4.6). A handler failure sends no PUBACK and drops the connection: the broker keeps the
 * message in this worker's persistent session and redelivers it after the reconnect.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../observability/logger.ts';

export type MessageHandler = (topic: string, payload: Buffer, receivedAt: number) => Promise<void>;

export interface SharedSubscriberOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  protocolVersion: 4 | 5;
  filters: string[];
  inflight: number;
  sessionExpirySeconds: number;
  reconnectPeriodMs: number;
  connectTimeoutMs?: number;
  log: Logger;
}

export interface SubscriberStats {
  received: number;
  acked: number;
  /** Handler failures (each dropped the connection). */
  failed: number;
  /** Messages being handled, not yet acknowledged. */
  inFlight: number;
  connected: boolean;
  connects: number;
}

/** mqtt.js internals this relies on; checked at start so an upgrade that changes them fails loudly. */
interface MqttInternals {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: (err?: Error) => void): void;
}

const DEFER_ACK = new Error('querstrom: PUBACK deferred until the message is durable');

interface AckSlot {
  messageId: number;
  generation: number;
  state: 'pending' | 'ok' | 'failed';
}

export class SharedSubscriber {
  private client!: MqttClient;
  /** Bumped on every connection close: acknowledgements never cross connections. */
  private generation = 0;
  private readonly acks: AckSlot[] = [];
  private readonly pending = new Set<Promise<void>>();
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly counts = { received: 0, acked: 0, failed: 0, connects: 0 };

  private constructor(
    private readonly opts: SharedSubscriberOptions,
    private readonly handler: MessageHandler,
  ) {}

  /** Connects, subscribes (checking the broker granted QoS 1) and starts delivering to `handler`. */
  static async start(opts: SharedSubscriberOptions, handler: MessageHandler): Promise<SharedSubscriber> {
    const s = new SharedSubscriber(opts, handler);
    await s.connect();
    return s;
  }

  stats(): SubscriberStats {
    return { ...this.counts, inFlight: this.pending.size, connected: this.client.connected };
  }

  get connected(): boolean {
    return this.client.connected && !this.closing;
  }

  /** At-most-once notices to devices (reject reasons on their cmd topic). */
  publish(topic: string, payload: string): void {
    if (!this.client.connected || this.closing) return;
    this.client.publish(topic, payload, { qos: 0 }, (err) => {
      if (err) this.opts.log.debug({ err: err.message, topic }, 'device notice not sent');
    });
  }

  private connect(): Promise<void> {
    const o = this.opts;
    const options: IClientOptions = {
      clientId: o.clientId,
      clean: false,
      protocolVersion: o.protocolVersion,
      reconnectPeriod: o.reconnectPeriodMs,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      keepalive: 30,
      // Subscriptions live in the persistent session; mqtt.js re-subscribes if the broker lost it.
      resubscribe: true,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: o.sessionExpirySeconds, receiveMaximum: o.inflight } } : {}),
    };
    const client = mqtt.connect(o.url, options);
    this.client = client;
    if (typeof (client as unknown as Partial<MqttInternals>)._sendPacket !== 'function') {
      client.end(true);
      throw new Error('mqtt.js has no _sendPacket: this version cannot defer PUBACKs until messages are durable');
    }
    client.handleMessage = (packet, done) => this.onPublish(packet, done);
    client.on('connect', (connack) => {
      this.counts.connects++;
      o.log.info({ broker: o.url, clientId: o.clientId, sessionPresent: connack.sessionPresent }, 'connected to the external broker');
    });
    client.on('close', () => {
      // Unacknowledged messages stay in the broker's session and come again after the reconnect.
      this.generation++;
      this.acks.length = 0;
      if (!this.closing) o.log.warn({ broker: o.url, inFlight: this.pending.size }, 'connection to the external broker closed; reconnecting');
    });
    client.on('error', (err) => o.log.warn({ err: err.message, broker: o.url }, 'external broker error'));

    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        client.removeListener('connect', onConnect);
        client.end(true);
        reject(new Error(`cannot connect to the external broker ${o.url} as ${o.clientId}: ${err.message}`));
      };
      const onConnect = () => {
        client.removeListener('error', fail);
        client.subscribe(o.filters, { qos: 1 }, (err, granted) => {
          if (err) return fail(err);
          const refused = (granted ?? []).filter((g) => g.qos !== 1);
          if (refused.length > 0) {
            return fail(new Error(`broker granted ${refused.map((g) => `${g.topic} → ${g.qos === 0 ? 'QoS 0 (acks would not be durable)' : `refused (code ${g.qos})`}`).join(', ')}; check the worker user's ACL (read qs/v1/#)`));
          }
          resolve();
        });
      };
      client.once('connect', onConnect);
      client.once('error', fail);
    });
  }

  private onPublish(packet: IPublishPacket, done: (err?: Error) => void): void {
    if (this.closing) {
      // Left unacknowledged: the broker redelivers it to this worker's session after a restart.
      return done(DEFER_ACK);
    }
    this.counts.received++;
    const receivedAt = Date.now();
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
    const topic = packet.topic;
    if (packet.qos === 0 || packet.messageId === undefined) {
      this.track(this.handler(topic, payload, receivedAt)).catch(() => undefined);
      return done();
    }
    const slot: AckSlot = { messageId: packet.messageId, generation: this.generation, state: 'pending' };
    this.acks.push(slot);
    // A redelivery may overtake the first copy still being made durable (duplicate detection
    // would then ack it early): let everything in flight settle first.
    const before = packet.dup && this.pending.size > 0 ? Promise.allSettled([...this.pending]) : undefined;
    const work = before ? before.then(() => this.handler(topic, payload, receivedAt)) : this.handler(topic, payload, receivedAt);
    this.track(work).then(
      () => {
        slot.state = 'ok';
        this.sendAcks();
      },
      (err: unknown) => {
        slot.state = 'failed';
        this.counts.failed++;
        if (slot.generation !== this.generation || this.closing) return;
        this.opts.log.error({ err: (err as Error)?.message ?? String(err), topic }, 'message not durable; withholding PUBACK and reconnecting so the broker redelivers');
        // Closing the socket ends this generation; mqtt.js reconnects after reconnectPeriod.
        this.client.stream?.destroy();
      },
    );
    done(DEFER_ACK);
  }

  private track(p: Promise<void>): Promise<void> {
    this.pending.add(p);
    const untrack = () => void this.pending.delete(p);
    p.then(untrack, untrack);
    return p;
  }

  /** PUBACKs for the settled head of the queue, in arrival order. */
  private sendAcks(): void {
    const internals = this.client as unknown as MqttInternals;
    let sent = 0;
    while (this.acks.length > 0 && this.acks[0]!.state === 'ok') {
      const slot = this.acks.shift()!;
      if (slot.generation !== this.generation || !this.client.connected) continue;
      internals._sendPacket({ cmd: 'puback', messageId: slot.messageId });
      sent++;
    }
    this.counts.acked += sent;
  }

  /** Drops the connection at once, acknowledging nothing more (what a crash does): the broker redelivers. */
  abort(): void {
    this.closing = true;
    this.closed ??= Promise.resolve();
    this.client.end(true);
  }

  /**
   * Stops taking messages, finishes and acknowledges the ones in flight, and disconnects
   * normally: the persistent session (and whatever the broker queues in it) stays for the restart.
   */
  close(): Promise<void> {
    return (this.closed ??= (async () => {
      this.closing = true;
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      this.sendAcks();
      await this.client.endAsync(false).catch(() => undefined);
    })());
  }
}

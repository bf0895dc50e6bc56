import type { Client, PublishPacket } from 'aedes';
import type { ParsedTopic } from '../contract/topics.ts';
import type { DeviceIdentity } from '../identity/types.ts';
import { checkPublish, excerpt } from './acl.ts';
import { reportedError, settleInflight, type BrokerContext } from './context.ts';
import { rejectedWho, sessionOf, TOPIC_CACHE_LIMIT, type ClientSession } from './session.ts';
import type { DevicePublish } from './types.ts';

/**
 * aedes turns any authorizePublish error into a disconnect (lib/handlers/publish.js runs
 * [authorizePublish, enqueuePublish] in series and an error ends the connection). To drop a message
 * but keep the connection — and still PUBACK a QoS 1 message so the device does not resend it
 * forever — authorizePublish marks the packet DROPPED and says yes; the gate around aedes.publish
 * then skips routing it. QoS 1 PUBACK is written by enqueuePublish before aedes.publish, so the
 * durable hook for QoS 0/1 runs inside authorizePublish. QoS 2 is stored for deduplication before
 * aedes.publish and the PUBREC written after it, so its durable hook runs in the gate: a resent
 * QoS 2 duplicate is then not stored twice.
 */
const DROPPED: unique symbol = Symbol('querstrom.broker.dropped');
const DURABLE: unique symbol = Symbol('querstrom.broker.durable');
type GatedPacket = PublishPacket & { [DROPPED]?: true; [DURABLE]?: DevicePublish | undefined };
type WillHolder = Client & { will?: unknown };

type Verdict = { ok: true; parsed: ParsedTopic; identity: DeviceIdentity } | { ok: false; reason: string };

function noop(): void {}

function verdictFor(session: ClientSession, topic: string, maxTopicDepth: number): Verdict {
  let verdict = session.topicCache.get(topic) as Verdict | undefined;
  if (verdict !== undefined) return verdict;
  if (session.reader) return { ok: false, reason: `an API token login (tenant ${session.reader.tenant}) is read-only and may not publish, not on ${excerpt(topic)}` };
  const check = checkPublish(topic, session.identity, maxTopicDepth);
  verdict = check.ok ? { ok: true, parsed: check.parsed, identity: session.identity ?? { tenant: check.parsed.tenant, device: check.parsed.gateway } } : check;
  if (session.topicCache.size < TOPIC_CACHE_LIMIT) session.topicCache.set(topic, verdict);
  return verdict;
}

function asBuffer(payload: PublishPacket['payload']): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}

export function createAuthorizePublish(ctx: BrokerContext) {
  const { hooks, limits } = ctx;
  const maxTopicDepth = limits.maxTopicDepth;
  const rate = `${limits.ratePerDevice.messagesPerSecond} messages/s per device, burst ${limits.ratePerDevice.burst}`;
  const rateReason = `rate limit exceeded: ${rate}; QoS 0 message dropped`;

  const reportThrottle = (session: ClientSession, now: number): void => {
    const t = session.device.throttle;
    t.delayed++;
    if (!session.identity || now - t.reportedAt < 1000) return;
    hooks.onWarning?.(session.identity, `rate limit exceeded: ${rate}; ${t.delayed} QoS 1/2 message(s) delayed, none dropped (the connection is slowed down)`);
    t.reportedAt = now;
    t.delayed = 0;
  };

  const drop = (session: ClientSession, packet: GatedPacket, kind: string, reason: string, receivedAt: number): void => {
    packet[DROPPED] = true;
    ctx.rejections.report(session.device.key + kind, {
      ...rejectedWho(session),
      clientId: session.clientId,
      topic: packet.topic,
      payload: asBuffer(packet.payload),
      reason,
      receivedAt,
    });
  };

  const authorizeWill = (session: ClientSession, packet: PublishPacket, callback: (error?: Error | null) => void): void => {
    if (ctx.closing || session.revoked) return callback(new Error('last will suppressed'));
    const verdict = verdictFor(session, packet.topic, maxTopicDepth);
    if (!verdict.ok) return callback(new Error(verdict.reason));
    // Another live connection of this device (e.g. the one that took this session over) means the
    // device is not offline. aedes unregisters the closing client right after this call returns,
    // so look one tick later.
    const superseded = (): boolean => session.identity !== undefined && session.device.live.size > 0;
    queueMicrotask(() => {
      if (superseded()) return callback(new Error('last will superseded by a live connection'));
      const msg: DevicePublish = { identity: verdict.identity, clientId: session.clientId, topic: packet.topic, parsed: verdict.parsed, payload: asBuffer(packet.payload), qos: packet.qos, receivedAt: Date.now() };
      ctx.inflight++;
      Promise.resolve()
        .then(() => hooks.onDevicePublish(msg))
        .catch((err: unknown) => ctx.storeFailed(err))
        .then(() => {
          settleInflight(ctx);
          // A will landing after the device came back would overwrite its retained "online".
          callback(superseded() || ctx.closing ? new Error('last will superseded by a live connection') : null);
        });
    });
  };

  return authorizePublish;

  function authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    const session = sessionOf(client);
    if (session === undefined) {
      // client null: a stored will of a vanished broker; its topic was checked at its CONNECT.
      return callback(client === null ? null : new Error('publish on a connection without a session'));
    }
    if ((client as WillHolder).will === packet) return authorizeWill(session, packet, callback);
    // Shutting down: leave the publish unanswered (no ack, no routing); the device resends it.
    if (ctx.closing) return;

    const receivedAt = Date.now();
    if (!session.device.bucket.take(receivedAt)) {
      // At-most-once may be dropped; an acknowledged message never is. QoS 1/2 waits for a token,
      // and since aedes reads a client's next packets only after this batch is handled, the wait
      // pushes back on the device's socket instead of buffering its flood here.
      if (packet.qos === 0) {
        drop(session, packet, '\0rate', rateReason, receivedAt);
        return callback(null);
      }
      reportThrottle(session, receivedAt);
      setTimeout(() => authorizePublish(client, packet, callback), session.device.bucket.msUntilToken(receivedAt));
      return;
    }
    const verdict = verdictFor(session, packet.topic, maxTopicDepth);
    if (!verdict.ok) {
      drop(session, packet, '\0topic', `${verdict.reason}; message dropped`, receivedAt);
      return callback(null);
    }
    const msg: DevicePublish = {
      identity: verdict.identity,
      clientId: session.clientId,
      topic: packet.topic,
      parsed: verdict.parsed,
      payload: asBuffer(packet.payload),
      qos: packet.qos,
      receivedAt,
    };
    if (packet.qos === 2) {
      (packet as GatedPacket)[DURABLE] = msg;
      return callback(null);
    }
    ctx.inflight++;
    let pending: Promise<void>;
    try {
      pending = hooks.onDevicePublish(msg);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      () => {
        settleInflight(ctx);
        callback(null);
      },
      (err: unknown) => {
        settleInflight(ctx);
        ctx.storeFailed(err);
        if (packet.qos === 0) {
          (packet as GatedPacket)[DROPPED] = true;
          return callback(null);
        }
        session.closeReason = 'the server could not store a message; it was not acknowledged';
        callback(reportedError('message not stored; withholding PUBACK and closing so the device resends'));
      },
    );
  }
}

/** Wraps aedes.publish on this instance: skips DROPPED packets, runs the QoS 2 durable hook. */
export function installPublishGate(ctx: BrokerContext): void {
  const aedes = ctx.aedes as unknown as {
    publish: (packet: GatedPacket, client?: unknown, done?: (err?: Error | null) => void) => void;
    persistence: { incomingDelPacket(client: Client, packet: PublishPacket): Promise<unknown> };
  };
  const publish = Object.getPrototypeOf(aedes).publish as typeof aedes.publish;
  aedes.publish = function gatedPublish(packet, client, done) {
    if (client !== null && typeof client === 'object') {
      if (packet[DROPPED] === true) {
        // Asynchronous like aedes' own callbacks, so a flood of drops cannot grow the stack.
        setImmediate(done ?? noop);
        return;
      }
      const durable = packet[DURABLE];
      if (durable !== undefined) {
        packet[DURABLE] = undefined;
        ctx.inflight++;
        Promise.resolve()
          .then(() => ctx.hooks.onDevicePublish(durable))
          .then(
            () => {
              settleInflight(ctx);
              publish.call(aedes, packet, client, done);
            },
            (err: unknown) => {
              settleInflight(ctx);
              ctx.storeFailed(err);
              const session = sessionOf(client as Client);
              if (session) session.closeReason = 'the server could not store a message; it was not acknowledged';
              // Forget the dedup entry, or the resent message would be PUBREC'd without being stored.
              aedes.persistence
                .incomingDelPacket(client as Client, packet)
                .catch(noop)
                .then(() => done?.(reportedError('QoS 2 message not stored; withholding PUBREC and closing so the device resends')));
            },
          );
        return;
      }
    }
    publish.call(aedes, packet, client, done);
  };
}

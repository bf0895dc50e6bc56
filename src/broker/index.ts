/**
 * Embedded MQTT 3.1.1 broker (aedes) for device gateways, laid out like aedes' own lib/handlers:
 * authenticate.ts (CONNECT: credentials, will ACL, client-id namespacing), authorize-publish.ts
 * (rate limit, ACL, the durable-ack gate), authorize-subscribe.ts (SUBSCRIBE/forward ACL),
 * packet-size-guard.ts, rate-limit.ts, reject-throttle.ts, presence.ts (state topic, hooks,
 * revocation), client-errors.ts, listeners.ts (TCP, WebSocket, TLS, secure WebSocket), tls.ts
 * (certificates, login by client certificate), persistence.ts (memory or disk sessions). This
 * file wires them together.
 */
import { Aedes, type Client } from 'aedes';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { createAuthenticate, createPreConnect } from './authenticate.ts';
import { createAuthorizePublish, installPublishGate } from './authorize-publish.ts';
import { createAuthorizeForward, createAuthorizeSubscribe } from './authorize-subscribe.ts';
import { watchClientErrors } from './client-errors.ts';
import type { BrokerContext } from './context.ts';
import { startListeners } from './listeners.ts';
import { guardPacketSize } from './packet-size-guard.ts';
import { externalPersistence, openPersistence } from './persistence.ts';
import { trackPresence, watchRevocations } from './presence.ts';
import { RejectThrottle } from './reject-throttle.ts';
import { DeviceRegistry, rejectedWho, sessionOf } from './session.ts';
import { attachPeerCertificate, loadBrokerTls, type PeerCertificate } from './tls.ts';
import type { BrokerHooks, BrokerRejection, RunningBroker, StartBrokerOptions } from './types.ts';

export type { BrokerHooks, BrokerRejection, DevicePublish, PersistenceInfo, RunningBroker, StartBrokerOptions } from './types.ts';

/** aedes refuses topics deeper than this itself (its router cannot go further); ours is stricter. */
const AEDES_MAX_TOPIC_LEVELS = 100;

export async function startBroker(config: Config['broker'], hooks: BrokerHooks, logger: Logger, options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const log = logger.bindings().component === undefined ? logger.child({ component: 'broker' }) : logger;
  const limits = config.limits;

  if (config.tls.clientCerts !== 'off' && (config.tls.enabled || config.wss.enabled) && hooks.certificateAuthenticator === undefined) {
    throw new Error(`broker.tls.clientCerts is '${config.tls.clientCerts}' but no certificateAuthenticator hook was given to check certificate logins against the device registry`);
  }
  // Files first: a bad certificate path should fail before anything is opened.
  const tlsOptions: TlsOptions | undefined = config.tls.enabled || config.wss.enabled ? await loadBrokerTls(config.tls) : undefined;
  const persistence = options.persistence !== undefined ? externalPersistence(options.persistence) : await openPersistence(config.persistence, options.dataDir, log);

  const emitRejection = (rejection: BrokerRejection): void => {
    log.info({ device: rejection.identity ? `${rejection.identity.tenant}/${rejection.identity.device}` : undefined, clientId: rejection.clientId, reason: rejection.reason }, 'rejected');
    try {
      hooks.onReject(rejection);
    } catch (err) {
      log.error({ err }, 'onReject hook threw');
    }
  };

  let storeFailures = 0;
  let storeFailureLoggedAt = 0;
  const storeFailed = (err: unknown): void => {
    storeFailures++;
    const now = Date.now();
    if (now - storeFailureLoggedAt < 1000) return;
    log.warn({ err, failures: storeFailures }, 'onDevicePublish failed; messages not acknowledged');
    storeFailureLoggedAt = now;
    storeFailures = 0;
  };

  const aedes = new Aedes({
    ...(persistence.instance ? { persistence: persistence.instance as never } : {}),
    drainTimeout: limits.drainTimeoutMs,
    maxTopicLevels: AEDES_MAX_TOPIC_LEVELS,
    // Client ids are namespaced by username (see authenticate.ts), so allow room beyond MQTT 3.1's 23.
    maxClientsIdLength: 65_535,
  });
  const ctx: BrokerContext = {
    aedes,
    config,
    limits,
    hooks,
    log,
    devices: new DeviceRegistry(limits.ratePerDevice.messagesPerSecond, limits.ratePerDevice.burst),
    rejections: new RejectThrottle(emitRejection),
    closing: false,
    inflight: 0,
    onIdle: undefined,
    revokedAt: new Map(),
    storeFailed,
  };
  aedes.preConnect = createPreConnect(ctx);
  aedes.authenticate = createAuthenticate(ctx);
  aedes.authorizePublish = createAuthorizePublish(ctx);
  aedes.authorizeSubscribe = createAuthorizeSubscribe(ctx);
  aedes.authorizeForward = createAuthorizeForward(ctx);
  installPublishGate(ctx);
  watchClientErrors(ctx);
  trackPresence(ctx);
  // aedes emits 'error' for persistence failures; unhandled it would end the process.
  (aedes as EventEmitter).on('error', (err: Error) => log.error({ err }, 'aedes error'));
  try {
    await aedes.listen();
  } catch (err) {
    await persistence.close().catch(() => undefined);
    throw err;
  }
  watchRevocations(ctx);

  const handle = (conn: Duplex, req?: IncomingMessage, peer?: PeerCertificate): void => {
    attachPeerCertificate(conn, peer);
    const client = aedes.handle(conn, req);
    guardPacketSize(conn, limits.maxPacketBytes, (announced) => {
      const session = sessionOf(client);
      ctx.rejections.report(`${session?.device.key ?? 'unauthenticated'}\0size`, {
        ...rejectedWho(session),
        clientId: session?.clientId ?? (client.id || undefined),
        topic: '',
        reason: `packet of ${announced} bytes announced, limit maxPacketBytes=${limits.maxPacketBytes}; connection closed before reading it`,
        receivedAt: Date.now(),
      });
      if (session !== undefined) session.closeReason = `oversized packet (${announced} bytes)`;
    });
  };

  let listeners;
  try {
    listeners = await startListeners(ctx, handle, tlsOptions);
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await persistence.close().catch(() => undefined);
    ctx.devices.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const deadline = Date.now() + limits.drainTimeoutMs;
    ctx.closing = true;
    listeners.stopAccepting();
    // Let in-flight publishes finish, so their acknowledgements go out before the connections do.
    if (ctx.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        ctx.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await flushWrites(aedes, deadline);
    keepWillsStored(aedes);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await listeners.closed(deadline);
    await persistence.close().catch((err: unknown) => log.error({ err }, 'closing the session store failed'));
    ctx.devices.close();
    ctx.rejections.flush();
    log.info('MQTT broker closed');
  };

  return {
    aedes,
    tcpPort: listeners.tcpPort,
    wsPort: listeners.wsPort,
    tlsPort: listeners.tlsPort,
    wssPort: listeners.wssPort,
    persistence: persistence.info,
    publish(topic, payload, opts) {
      return new Promise((resolve, reject) => {
        aedes.publish(
          { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: opts?.qos ?? 0, retain: opts?.retain ?? false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    },
    connectedClients: () => aedes.connectedClients,
    close() {
      closing ??= close();
      return closing;
    },
  };
}

/**
 * Waits (until the deadline) for acknowledgements still queued on the connections to reach the
 * kernel; destroying a socket discards what it has not written. Polls: 'drain' fires only after a
 * write that hit the high-water mark.
 */
async function flushWrites(aedes: Aedes, deadline: number): Promise<void> {
  const clients = (aedes as unknown as { clients: Record<string, Client> }).clients;
  const pending = (): boolean => Object.values(clients).some((c) => !c.conn.destroyed && c.conn.writableLength > 0);
  // mqtt-packet corks the socket until the next tick, so look after one turn of the loop.
  await new Promise((r) => setImmediate(r));
  while (pending() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/**
 * A server restart says nothing about the devices, so their wills are not published on shutdown
 * (presence.ts, authorize-publish.ts); here they are also kept in the session store. A device that
 * does not come back to the next broker gets its will published by that broker (aedes publishes
 * the stored wills of brokers that stopped heartbeating); one that does replaces it at CONNECT.
 * aedes deletes the stored will of a closing client that still holds one, so let go of it first.
 */
function keepWillsStored(aedes: Aedes): void {
  const clients = (aedes as unknown as { clients: Record<string, Client & { will?: unknown }> }).clients;
  for (const id in clients) clients[id]!.will = null;
}

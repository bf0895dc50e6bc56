import type { Client } from 'aedes';
import type { DeviceIdentity } from '../identity/types.ts';
import type { BrokerContext } from './context.ts';
import { sessionOf, type ClientSession } from './session.ts';

type DisconnectFlag = Client & { _disconnected?: boolean };

function statePayload(state: 'online' | 'offline'): Buffer {
  return Buffer.from(JSON.stringify({ state, ts: Date.now() }));
}

/** Retained `qs/v1/{tenant}/{device}/state`, published by the server (never fed to onDevicePublish). */
function publishState(ctx: BrokerContext, session: ClientSession, state: 'online' | 'offline'): void {
  ctx.aedes.publish({ cmd: 'publish', topic: `${session.prefix}state`, payload: statePayload(state), qos: 1, retain: true, dup: false }, (err) => {
    if (err) ctx.log.warn({ err, device: session.device.key }, 'could not publish presence');
  });
}

function safely(ctx: BrokerContext, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    ctx.log.error({ err }, `${what} hook threw`);
  }
}

/**
 * Online at registration (CONNACK follows); offline when the last connection of a device closes — by the device's retained
 * last will on its state topic when it dies without DISCONNECT, by the server otherwise (clean
 * DISCONNECT, no such will, revoked). Also drives onConnect/onDisconnect.
 */
export function trackPresence(ctx: BrokerContext): void {
  const { aedes, hooks } = ctx;

  // 'client' = registered (authenticated, old session taken over), just before CONNACK. Every
  // registered client gets a 'clientDisconnect', so connects and disconnects always pair up;
  // 'connackSent'/'clientReady' come later and can miss a connection closed in between.
  aedes.on('client', (client) => {
    const session = sessionOf(client);
    if (session === undefined) return;
    const revokedAt = session.identity ? ctx.revokedAt.get(session.device.key) : undefined;
    if (revokedAt !== undefined && revokedAt >= session.authStartedAt) {
      // Revoked while its credentials were being checked: close before it counts as connected.
      session.revoked = true;
      session.closeReason = 'revoked';
      client.close();
      return;
    }
    session.device = ctx.devices.adopt(session.device);
    session.device.live.add(client);
    session.ready = true;
    const identity = session.identity;
    if (identity === undefined) return;
    publishState(ctx, session, 'online');
    if (hooks.onConnect) safely(ctx, 'onConnect', () => hooks.onConnect!(identity, session.clientId));
  });

  aedes.on('clientDisconnect', (client) => {
    const session = sessionOf(client);
    if (session === undefined || !session.ready) return;
    session.ready = false;
    session.device.live.delete(client);
    const identity = session.identity;
    if (identity === undefined) return;
    const clean = (client as DisconnectFlag)._disconnected === true;
    const reason = ctx.closing ? 'server shutdown' : (session.closeReason ?? (clean ? 'disconnect' : 'connection lost'));
    if (!ctx.closing && session.device.live.size === 0 && (clean || session.revoked || !session.hasStateWill)) publishState(ctx, session, 'offline');
    if (hooks.onDisconnect) safely(ctx, 'onDisconnect', () => hooks.onDisconnect!(identity, session.clientId, reason));
  });
}

/** Closes every live connection of revoked devices at once. */
export function watchRevocations(ctx: BrokerContext): void {
  ctx.hooks.authenticator.onRevoked((revoked: DeviceIdentity[]) => {
    if (revoked.length === 0) return;
    const keys = new Set(revoked.map((r) => `${r.tenant}/${r.device}`));
    const now = Date.now();
    for (const [key, at] of ctx.revokedAt) if (now - at > 60_000) ctx.revokedAt.delete(key);
    for (const key of keys) ctx.revokedAt.set(key, now);
    // All registered clients, not only the live ones: a connection may be between CONNECT and CONNACK.
    const clients = (ctx.aedes as unknown as { clients: Record<string, Client> }).clients;
    for (const id in clients) {
      const client = clients[id]!;
      const session = sessionOf(client);
      if (session?.identity === undefined || !keys.has(session.device.key)) continue;
      session.revoked = true;
      session.closeReason = 'revoked';
      ctx.log.info({ device: session.device.key, clientId: session.clientId }, 'closing connection of revoked device');
      client.close();
    }
  });
}

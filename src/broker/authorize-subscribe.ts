import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import { checkReaderSubscribe, checkSubscribe, readerPrefix } from './acl.ts';
import type { BrokerContext } from './context.ts';
import { rejectedWho, sessionOf } from './session.ts';

/** A refused filter gets SUBACK 0x80 (aedes grants 128 when the callback yields no subscription); the connection stays. */
export function createAuthorizeSubscribe(ctx: BrokerContext) {
  return function authorizeSubscribe(client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    const session = sessionOf(client);
    if (session === undefined) return callback(null, null);
    const reason = session.reader ? checkReaderSubscribe(sub.topic, session.reader.tenant) : checkSubscribe(sub.topic, session.identity);
    if (reason === null) return callback(null, sub);
    ctx.rejections.report(`${session.device.key}\0subscribe`, {
      ...rejectedWho(session),
      clientId: session.clientId,
      topic: sub.topic,
      reason: `SUBSCRIBE refused (SUBACK 0x80): ${reason}`,
      receivedAt: Date.now(),
    });
    callback(null, null);
  };
}

/**
 * Last line of defence on delivery: a device only ever receives topics under its own prefix, also
 * from a persistent session's queue restored after reconnecting; a reader only its tenant's
 * dispatch topics, and only while its token is valid.
 */
export function createAuthorizeForward(ctx: BrokerContext) {
  return function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const session = sessionOf(client);
    if (session === undefined) return null;
    if (session.reader) {
      const reader = session.reader;
      // Revoked since login: the subscription ends with the token.
      if (ctx.hooks.tokenVerifier?.verifyToken(reader.token)?.tokenId !== reader.tokenId) {
        if (!session.revoked) {
          session.revoked = true;
          session.closeReason = 'API token revoked';
          queueMicrotask(() => client.close());
        }
        return null;
      }
      return packet.topic.startsWith(readerPrefix(reader.tenant)) ? packet : null;
    }
    if (session.identity === undefined) return packet.topic.endsWith('/cmd') ? packet : null;
    return packet.topic.startsWith(session.prefix) ? packet : null;
  };
}

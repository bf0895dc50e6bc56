import type { Client } from 'aedes';
import { REPORTED, type BrokerContext, type ReportedError } from './context.ts';
import { rejectedWho, sessionOf } from './session.ts';

/** Ends of a connection that are nobody's fault, or not the device's: logged, not dead-lettered. */
const BENIGN = new Set(['keep alive timeout', 'connection closed', 'drain timeout', 'connect did not arrive in time', 'last will suppressed']);

type SystemError = Error & { code?: string };

function describe(err: SystemError, maxTopicDepth: number): string {
  if (err.message === 'topic has too many levels') {
    return `topic has more than 100 levels (the broker's hard ceiling; configured maxTopicDepth=${maxTopicDepth}); connection closed`;
  }
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return `WebSocket message larger than allowed (${err.message}); connection closed`;
  return `protocol violation: ${err.message}; connection closed`;
}

/**
 * Nothing a client sends may take the process down: aedes reports every per-connection failure as
 * 'clientError' (after CONNECT) or 'connectionError' (before). Network trouble is logged at debug;
 * protocol violations by an identified device are also dead-lettered with their reason.
 */
export function watchClientErrors(ctx: BrokerContext): void {
  const { aedes, log } = ctx;

  aedes.on('clientError', (client: Client, err: ReportedError & SystemError) => {
    const session = sessionOf(client);
    if (session !== undefined && session.closeReason === undefined) session.closeReason = err.message;
    if (err[REPORTED]) return;
    const network = typeof err.code === 'string' && !err.code.startsWith('WS_ERR_');
    if (network || BENIGN.has(err.message)) {
      log.debug({ clientId: session?.clientId ?? client.id, err: err.message }, 'client connection ended');
      return;
    }
    log.info({ clientId: session?.clientId ?? client.id, err: err.message }, 'client closed for a protocol violation');
    if (session === undefined) return;
    ctx.rejections.report(`${session.device.key}\0protocol`, {
      ...rejectedWho(session),
      clientId: session.clientId,
      topic: '',
      reason: describe(err, ctx.limits.maxTopicDepth),
      receivedAt: Date.now(),
    });
  });

  aedes.on('connectionError', (client: Client, err: ReportedError) => {
    if (err[REPORTED]) return;
    const remote = (client.conn as { remoteAddress?: string }).remoteAddress;
    log.debug({ remote, err: err.message }, 'connection failed before CONNECT completed');
  });
}

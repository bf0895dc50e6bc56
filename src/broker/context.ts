import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { BrokerLimits, Config } from '../config/schema.ts';
import type { RejectThrottle } from './reject-throttle.ts';
import type { DeviceRegistry } from './session.ts';
import type { BrokerHooks } from './types.ts';

/** Everything the handlers share; one per running broker. */
export interface BrokerContext {
  readonly aedes: Aedes;
  readonly config: Config['broker'];
  readonly limits: BrokerLimits;
  readonly hooks: BrokerHooks;
  readonly log: Logger;
  readonly devices: DeviceRegistry;
  /** Rejections go through here: at most one report per device and kind per second. */
  readonly rejections: RejectThrottle;
  /** Set by close(): no new publishes are taken, wills and presence are skipped. */
  closing: boolean;
  /** onDevicePublish calls not settled yet; close() waits for them. */
  inflight: number;
  /** Called when inflight drops to 0 while closing. */
  onIdle: (() => void) | undefined;
  /** Device key → when it was last revoked; catches connections authenticated just before. */
  readonly revokedAt: Map<string, number>;
  /** onDevicePublish failed: logged at most once per second, with a count. */
  storeFailed(err: unknown): void;
}

export function settleInflight(ctx: BrokerContext): void {
  if (--ctx.inflight === 0 && ctx.onIdle !== undefined) ctx.onIdle();
}

/** Marks an error the broker already reported, so the clientError handler stays quiet about it. */
export const REPORTED: unique symbol = Symbol('querstrom.broker.reported');
export type ReportedError = Error & { [REPORTED]?: true; returnCode?: number };

export function reportedError(message: string, returnCode?: number): ReportedError {
  const err: ReportedError = new Error(message);
  err[REPORTED] = true;
  if (returnCode !== undefined) err.returnCode = returnCode;
  return err;
}

import type { Client } from 'aedes';
import type { DeviceIdentity, TokenIdentity } from '../identity/types.ts';
import type { PublishCheck } from './acl.ts';
import type { BrokerRejection } from './types.ts';
import { TokenBucket } from './rate-limit.ts';

/** State shared by all live connections of one device: its rate budget and who is connected. */
export interface DeviceState {
  readonly key: string;
  readonly identity: DeviceIdentity;
  readonly bucket: TokenBucket;
  /** Connections that completed CONNECT (CONNACK sent) and have not closed yet. */
  readonly live: Set<Client>;
  /** When this device was last told it is being throttled, and how many messages waited since. */
  throttle: { reportedAt: number; delayed: number };
}

/** What the broker knows about one connection; attached to the aedes Client under SESSION. */
export interface ClientSession {
  /** undefined: anonymous client (only with allowAnonymous), or a reader. */
  identity: DeviceIdentity | undefined;
  /**
   * A read-only login with an API token (username `{tenant}`): it may subscribe to its tenant's
   * dispatch topics and nothing else, and never publish. The token is re-checked on delivery, so
   * revoking it ends the subscription.
   */
  reader: (TokenIdentity & { token: string }) | undefined;
  /** `qs/v1/{tenant}/{device}/`; empty for anonymous clients. */
  prefix: string;
  /** Client id as the device sent it; aedes sees it namespaced by username (see authenticate.ts). */
  clientId: string;
  device: DeviceState;
  /** Per-connection cache of ACL verdicts: devices publish to a handful of topics. */
  topicCache: Map<string, PublishCheck>;
  willTopic: string | undefined;
  /** Will sits on the device's own state topic, so it reports offline for us. */
  hasStateWill: boolean;
  /** onConnect was called and the connection counts as live. */
  ready: boolean;
  /** Why the connection ended, when we know better than aedes (revoked, taken over, error). */
  closeReason: string | undefined;
  revoked: boolean;
  /** When the credential check began (epoch ms); a revocation after it may not be reflected in its result. */
  authStartedAt: number;
}

/** Who a rejection is about: the device, the reader's tenant and token, or nobody known (anonymous). */
export function rejectedWho(session: ClientSession | undefined): Pick<BrokerRejection, 'identity' | 'reader'> {
  if (session?.identity) return { identity: session.identity };
  if (session?.reader) return { reader: { tenant: session.reader.tenant, tokenId: session.reader.tokenId } };
  return {};
}

export const SESSION: unique symbol = Symbol('querstrom.broker.session');

export type TrackedClient = Client & { [SESSION]?: ClientSession };

export function sessionOf(client: Client | null | undefined): ClientSession | undefined {
  return client ? (client as TrackedClient)[SESSION] : undefined;
}

export const TOPIC_CACHE_LIMIT = 64;

export function deviceKeyOf(identity: DeviceIdentity): string {
  return `${identity.tenant}/${identity.device}`;
}

/** Device states by `tenant/device`; entries of idle devices are forgotten once their bucket refilled. */
export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceState>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  get(identity: DeviceIdentity): DeviceState {
    const key = deviceKeyOf(identity);
    let state = this.devices.get(key);
    if (state === undefined) {
      state = this.create(identity);
      this.devices.set(key, state);
    }
    return state;
  }

  /** A state not shared with anyone: anonymous connections are limited one by one. */
  create(identity: DeviceIdentity): DeviceState {
    return { key: deviceKeyOf(identity), identity, bucket: new TokenBucket(this.ratePerSecond, this.burst, Date.now()), live: new Set(), throttle: { reportedAt: 0, delayed: 0 } };
  }

  /** Re-registers a state the sweeper dropped while its connection was still being set up. */
  adopt(state: DeviceState): DeviceState {
    const current = this.devices.get(state.key);
    if (current !== undefined) return current;
    this.devices.set(state.key, state);
    return state;
  }

  find(identity: DeviceIdentity): DeviceState | undefined {
    return this.devices.get(deviceKeyOf(identity));
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, state] of this.devices) if (state.live.size === 0 && state.bucket.isFull(now)) this.devices.delete(key);
  }
}

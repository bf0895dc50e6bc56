import type { Aedes } from 'aedes';
import type { ParsedTopic } from '../contract/topics.ts';
import type { DeviceAuthenticator, DeviceIdentity } from '../identity/types.ts';

export interface DevicePublish {
  /** Authenticated gateway (with allowAnonymous: the device named in the topic). */
  identity: DeviceIdentity;
  clientId: string;
  topic: string;
  /** Shared between messages on the same topic of one connection: treat as read-only. */
  parsed: ParsedTopic;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** Epoch ms. */
  receivedAt: number;
}

export interface BrokerRejection {
  identity?: DeviceIdentity;
  clientId?: string;
  /** Empty for rejections that are not about one topic (CONNECT, oversized packet). */
  topic: string;
  payload?: Buffer;
  reason: string;
  receivedAt: number;
}

export interface BrokerHooks {
  authenticator: DeviceAuthenticator;
  /**
   * Every device publish that passed auth, ACL and limits. For QoS 1/2 the PUBACK/PUBREC is sent
   * only after this promise settles — this is how acknowledgements become durable. A rejected
   * promise withholds the acknowledgement and closes the connection, so the device resends.
   */
  onDevicePublish(msg: DevicePublish): Promise<void>;
  /** Protocol-level rejections (ACL, topic depth/format, rate limit, oversized packet, auth failures). */
  onReject(rejection: BrokerRejection): void;
  /** Accepted but noteworthy (a QoS 1/2 flood being throttled); at most once per second per device. */
  onWarning?(identity: DeviceIdentity, warning: string): void;
  onConnect?(identity: DeviceIdentity, clientId: string): void;
  onDisconnect?(identity: DeviceIdentity, clientId: string, reason: string): void;
}

export interface RunningBroker {
  readonly aedes: Aedes;
  /** Actually bound ports (config port 0 = ephemeral); undefined when the listener is disabled. */
  readonly tcpPort: number | undefined;
  readonly wsPort: number | undefined;
  /** Server-originated publish (cmd, dispatch, reject notices); never fed to onDevicePublish. */
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  connectedClients(): number;
  /** Graceful: stop accepting, finish in-flight publishes, close clients; bounded by drainTimeoutMs. */
  close(): Promise<void>;
}


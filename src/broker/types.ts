import type { Aedes } from 'aedes';
import type { ParsedTopic } from '../contract/topics.ts';
import type { DeviceAuthenticator, DeviceIdentity, DeviceVerification, TokenVerifier } from '../identity/types.ts';

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
  /** A read-only API token login (no device): its tenant, and the token when it was valid. */
  reader?: { tenant: string; tokenId?: string };
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
  /**
   * Login by client certificate (broker.tls.clientCerts optional/required): the certificate is
   * valid and chains to broker.tls.caFile, its subject CN names `{tenant}/{device}`. Answer
   * whether that device exists and is not revoked — no secret is involved. Without this hook,
   * client certificates are refused (the broker will not start with clientCerts on).
   */
  certificateAuthenticator?(subject: DeviceIdentity): Promise<DeviceVerification>;
  /**
   * Read-only MQTT logins for integrations (SCADA, bridges): username `{tenant}`, an API token of
   * that tenant as the password. Without it, such logins are refused.
   */
  tokenVerifier?: TokenVerifier;
  onConnect?(identity: DeviceIdentity, clientId: string): void;
  onDisconnect?(identity: DeviceIdentity, clientId: string, reason: string): void;
}

export interface RunningBroker {
  readonly aedes: Aedes;
  /** Actually bound ports (config port 0 = ephemeral); undefined when the listener is disabled. */
  readonly tcpPort: number | undefined;
  readonly wsPort: number | undefined;
  readonly tlsPort: number | undefined;
  readonly wssPort: number | undefined;
  /** Where sessions, queued QoS 1 messages and retained messages live. */
  readonly persistence: PersistenceInfo;
  /** Server-originated publish (cmd, dispatch, reject notices); never fed to onDevicePublish. */
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  connectedClients(): number;
  /** Graceful: stop accepting, finish in-flight publishes, close clients; bounded by drainTimeoutMs. */
  close(): Promise<void>;
}


export interface PersistenceInfo {
  /** external: an aedes persistence passed in StartBrokerOptions. */
  kind: 'memory' | 'disk' | 'external';
  /** The directory of the disk store. */
  dir?: string;
}

export interface StartBrokerOptions {
  /** The server's data dir; disk persistence defaults to `${dataDir}/broker`. */
  dataDir?: string;
  /**
   * An aedes persistence instance (aedes-persistence interface, e.g. aedes-persistence-redis) used
   * instead of broker.persistence. The caller owns it: the broker sets it up but never destroys it,
   * so it can also outlive one broker and serve the next.
   */
  persistence?: unknown;
}

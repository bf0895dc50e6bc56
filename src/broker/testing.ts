import { configSchema, type Config, type ConfigInput } from '../config/schema.ts';
import type { DeviceAuthenticator, DeviceIdentity, DeviceVerification } from '../identity/types.ts';

/**
 * In-memory device authenticator over plain secrets, for tests and throwaway demos only (the real
 * registry stores hashed secrets). Reports why a login failed and can revoke devices.
 */
export class MapAuthenticator implements DeviceAuthenticator {
  private readonly secrets = new Map<string, string>();
  private readonly revoked = new Set<string>();
  private readonly listeners: Array<(revoked: DeviceIdentity[]) => void> = [];
  /** Artificial latency of each check, to model a slow hash. */
  delayMs = 0;
  calls = 0;

  add(tenant: string, device: string, secret: string): this {
    this.secrets.set(`${tenant}/${device}`, secret);
    return this;
  }

  revoke(tenant: string, device: string): void {
    this.revoked.add(`${tenant}/${device}`);
    for (const listener of this.listeners) listener([{ tenant, device }]);
  }

  async verifyDeviceDetailed(username: string, password: Buffer | string | undefined): Promise<DeviceVerification> {
    this.calls++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const secret = this.secrets.get(username);
    if (secret === undefined) return { ok: false, reason: 'unknown device' };
    if (this.revoked.has(username)) return { ok: false, reason: 'revoked' };
    if (password === undefined || password.toString() !== secret) return { ok: false, reason: 'wrong password' };
    const [tenant, device] = username.split('/') as [string, string];
    return { ok: true, identity: { tenant, device } };
  }

  /** Login by client certificate (BrokerHooks.certificateAuthenticator): known and not revoked. */
  async verifyCertificateSubject(subject: DeviceIdentity): Promise<DeviceVerification> {
    this.calls++;
    const key = `${subject.tenant}/${subject.device}`;
    if (!this.secrets.has(key)) return { ok: false, reason: 'unknown device' };
    if (this.revoked.has(key)) return { ok: false, reason: 'revoked' };
    return { ok: true, identity: { tenant: subject.tenant, device: subject.device } };
  }

  async verifyDevice(username: string, password: Buffer | string | undefined): Promise<DeviceIdentity | null> {
    const result = await this.verifyDeviceDetailed(username, password);
    return result.ok ? result.identity : null;
  }

  onRevoked(listener: (revoked: DeviceIdentity[]) => void): void {
    this.listeners.push(listener);
  }
}

/** A `ConfigInput['broker']` section, for overrides. */
type BrokerInput = NonNullable<ConfigInput['broker']>;

/**
 * Broker config on 127.0.0.1 with ephemeral ports, for tests. Sessions in memory unless
 * `persistence` says otherwise; TLS listeners (tls/wss) stay off unless given.
 */
export function localBrokerConfig(
  overrides: { allowAnonymous?: boolean; limits?: Partial<Config['broker']['limits']>; tls?: BrokerInput['tls']; wss?: BrokerInput['wss']; persistence?: BrokerInput['persistence'] } = {},
): Config['broker'] {
  return configSchema.parse({
    broker: {
      tcp: { host: '127.0.0.1', port: 0 },
      ws: { host: '127.0.0.1', port: 0 },
      allowAnonymous: overrides.allowAnonymous ?? false,
      limits: overrides.limits ?? {},
      persistence: overrides.persistence ?? { kind: 'memory' },
      ...(overrides.tls ? { tls: { host: '127.0.0.1', port: 0, ...overrides.tls } } : {}),
      ...(overrides.wss ? { wss: { host: '127.0.0.1', port: 0, ...overrides.wss } } : {}),
    },
  }).broker;
}

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

function str(s: string): Buffer {
  const body = Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([len, body]);
}

/** Raw MQTT 3.1.1 CONNECT (keepalive 60 s; clean session unless `clean: false`), for raw-socket tests. */
export function encodeConnect(clientId: string, username?: string, password?: string, opts: { clean?: boolean } = {}): Buffer {
  const flags = (opts.clean === false ? 0 : 0x02) | (username !== undefined ? 0x80 : 0) | (password !== undefined ? 0x40 : 0);
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, flags, 0, 60]),
    str(clientId),
    ...(username !== undefined ? [str(username)] : []),
    ...(password !== undefined ? [str(password)] : []),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** Raw PUBLISH; `payloadBytes` lets a test announce a size without building the payload. */
export function encodePublishHeader(topic: string, qos: 0 | 1 | 2, messageId: number, payloadBytes: number, dup = false): Buffer {
  const variable = Buffer.concat([str(topic), ...(qos > 0 ? [Buffer.from([messageId >> 8, messageId & 0xff])] : [])]);
  return Buffer.concat([Buffer.from([0x30 | (dup ? 0x08 : 0) | (qos << 1)]), remainingLength(variable.length + payloadBytes), variable]);
}

export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1 | 2, messageId = 1, dup = false): Buffer {
  return Buffer.concat([encodePublishHeader(topic, qos, messageId, payload.length, dup), payload]);
}

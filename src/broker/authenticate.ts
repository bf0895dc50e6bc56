import type { Client, ConnectPacket } from 'aedes';
import { devicePrefix, idSchema } from '../contract/topics.ts';
import type { DeviceIdentity, TokenIdentity } from '../identity/types.ts';
import { checkPublish, excerpt, parseUsername } from './acl.ts';
import { reportedError, type BrokerContext } from './context.ts';
import { SESSION, sessionOf, type ClientSession, type TrackedClient } from './session.ts';
import type { BrokerRejection } from './types.ts';
import { peerCertificateOfClient } from './tls.ts';

/** CONNACK return codes of MQTT 3.1.1. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** Credential checks run at most this many at a time (scrypt lives on the small libuv pool). */
const AUTH_CONCURRENCY = 16;
/** Beyond this many waiting CONNECTs the broker answers "server unavailable" instead of queueing. */
const AUTH_QUEUE_LIMIT = 20_000;

/** Bounded-concurrency queue, so a reconnect storm queues instead of piling onto the thread pool. */
export class AuthQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  get pending(): number {
    return this.running + this.waiting.length;
  }

  /** Resolves with the task's result; null when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T> | null {
    if (this.running >= this.concurrency && this.waiting.length >= this.maxWaiting) return null;
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        let result: Promise<T>;
        try {
          result = task();
        } catch (err) {
          result = Promise.reject(err);
        }
        result.then(resolve, reject).finally(() => {
          this.running--;
          this.waiting.shift()?.();
        });
      };
      if (this.running < this.concurrency) start();
      else this.waiting.push(start);
    });
  }
}

type Verdict = { ok: true; identity: DeviceIdentity } | { ok: false; reason: string; revoked: boolean };
const GAVE_UP: Verdict = { ok: false, reason: 'connection closed while its login waited', revoked: false };


/** Client id and will topic from CONNECT, kept until authentication decides. */
const CONNECT_INFO: unique symbol = Symbol('querstrom.broker.connect');
interface ConnectInfo {
  clientId: string;
  will: ConnectPacket['will'];
}
type ConnectingClient = TrackedClient & { [CONNECT_INFO]?: ConnectInfo };

/**
 * preConnect: remember what authentication needs, and namespace the client id by username, so a
 * device can only ever take over its own sessions, never another tenant's (MQTT takeover semantics
 * stay intact within one device).
 */
export function createPreConnect(ctx: BrokerContext) {
  return function preConnect(client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void): void {
    if (ctx.closing) return callback(new Error('server is shutting down'), false);
    (client as ConnectingClient)[CONNECT_INFO] = { clientId: packet.clientId, will: packet.will };
    // Valid usernames are `{tenant}/{device}` with no '#', anonymous ones are empty: no two collide.
    // A certificate login without a username shares the namespace of the device's password login
    // (a different username is refused in authenticate).
    const peer = peerCertificateOfClient(client);
    const owner = packet.username || (peer?.ok ? `${peer.identity.tenant}/${peer.identity.device}` : '');
    if (packet.clientId !== '') packet.clientId = `${owner}#${packet.clientId}`;
    callback(null, true);
  };
}

export function createAuthenticate(ctx: BrokerContext) {
  const { hooks, log } = ctx;
  const authenticator = hooks.authenticator;
  const queue = new AuthQueue(AUTH_CONCURRENCY, AUTH_QUEUE_LIMIT);

  const verify = async (username: string, password: Buffer | undefined): Promise<Verdict> => {
    const result = await authenticator.verifyDeviceDetailed(username, password);
    return result.ok ? result : { ok: false, reason: `${result.reason} (${username})`, revoked: result.reason === 'revoked' };
  };
  const verifyCertificate = async (subject: DeviceIdentity): Promise<Verdict> => {
    const name = `${subject.tenant}/${subject.device}`;
    if (hooks.certificateAuthenticator === undefined) return { ok: false, reason: `client certificate of ${name}: certificate logins are not set up on this server`, revoked: false };
    const result = await hooks.certificateAuthenticator(subject);
    if (!result.ok) return { ok: false, reason: `${result.reason} (${name}, by client certificate)`, revoked: result.reason === 'revoked' };
    // The registry speaks for the device the certificate names, never another one.
    if (result.identity.tenant !== subject.tenant || result.identity.device !== subject.device) {
      return { ok: false, reason: `client certificate of ${name} was answered for ${result.identity.tenant}/${result.identity.device}`, revoked: false };
    }
    return result;
  };

  return function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): void {
    const info = (client as ConnectingClient)[CONNECT_INFO];
    const clientId = info?.clientId ?? client.id;
    const receivedAt = Date.now();

    /** `key`: what the refusal is about, for the reject throttle (default: the username). */
    const refuse = (reason: string, returnCode: number, claimed?: DeviceIdentity | BrokerRejection['reader'] | null, key = username ?? ''): void => {
      const who = !claimed ? {} : 'device' in claimed ? { identity: claimed } : { reader: claimed };
      const rejection = { clientId, topic: '', reason: `CONNECT refused: ${reason}`, receivedAt, ...who };
      ctx.rejections.report(`connect\0${excerpt(key, 200)}`, rejection);
      done(reportedError(rejection.reason, returnCode) as Error & { returnCode: number }, false);
    };

    const accept = (identity: DeviceIdentity | undefined, reader?: ClientSession['reader']): void => {
      const willTopic = info?.will?.topic;
      if (willTopic !== undefined && reader) return refuse('an API token login is read-only and has no last will', NOT_AUTHORIZED, { tenant: reader.tenant, tokenId: reader.tokenId });
      if (willTopic !== undefined) {
        const check = checkPublish(willTopic, identity, ctx.limits.maxTopicDepth);
        if (!check.ok) return refuse(`last will refused: ${check.reason}`, NOT_AUTHORIZED, identity);
      }
      const takenOver = sessionOf((ctx.aedes as unknown as { clients: Record<string, Client> }).clients[client.id]);
      if (takenOver) takenOver.closeReason = 'taken over by a new connection with the same client id';
      const device = identity ? ctx.devices.get(identity) : ctx.devices.create({ tenant: reader?.tenant ?? '', device: `${reader ? 'reader' : 'anonymous'}#${client.id}` });
      const session: ClientSession = {
        identity,
        reader,
        prefix: identity ? devicePrefix(identity.tenant, identity.device) : '',
        clientId,
        device,
        topicCache: new Map(),
        willTopic,
        hasStateWill: identity !== undefined && info?.will?.retain === true && willTopic === `${devicePrefix(identity.tenant, identity.device)}state`,
        ready: false,
        closeReason: undefined,
        revoked: false,
        authStartedAt: receivedAt,
      };
      (client as TrackedClient)[SESSION] = session;
      // Assign, not delete: deleting a property moves every aedes Client to slow dictionary mode (~1.5 KB each).
      (client as ConnectingClient)[CONNECT_INFO] = undefined;
      done(null, true);
    };

    const peer = peerCertificateOfClient(client);
    if (peer !== undefined && !peer.ok) {
      // Presented but unusable (clientCerts 'optional'; 'required' refuses it at the handshake).
      return refuse(peer.reason, NOT_AUTHORIZED, username ? parseUsername(username) : null, `unusable certificate ${peer.subject}`);
    }
    if (peer !== undefined) {
      const subject = peer.identity;
      const name = `${subject.tenant}/${subject.device}`;
      // The certificate is the credential; a password sent along is not checked.
      if (username !== undefined && username !== '' && username !== name) {
        return refuse(`username ${JSON.stringify(excerpt(username, 80))} does not match the client certificate (CN=${name}); send ${name} or no username`, NOT_AUTHORIZED, subject, `certificate CN=${name}`);
      }
      return decide(queue.run(() => verifyCertificate(subject)), subject, NOT_AUTHORIZED, `certificate CN=${name}`);
    }

    if (username === undefined || username === '') {
      if (ctx.config.allowAnonymous) return accept(undefined);
      return refuse('no username; anonymous access is disabled, log in as {tenant}/{device} with the device secret', NOT_AUTHORIZED);
    }
    const claimed = parseUsername(username);
    if (claimed === null && idSchema.safeParse(username).success) return acceptReader(username);
    if (claimed === null) {
      return refuse(`username ${JSON.stringify(excerpt(username, 80))} is not of the form {tenant}/{device}`, BAD_USERNAME_OR_PASSWORD);
    }
    // A client that gave up while queued costs no scrypt check: under a storm that would feed retries.
    return decide(queue.run(() => (client.closed ? Promise.resolve(GAVE_UP) : verify(username, password))), claimed, BAD_USERNAME_OR_PASSWORD, username);

    /** Username `{tenant}`, password an API token of that tenant: a read-only login (cheap check, no queue). */
    function acceptReader(tenant: string): void {
      if (hooks.tokenVerifier === undefined) return refuse(`username ${JSON.stringify(tenant)} is not of the form {tenant}/{device} (API token logins are not set up on this server)`, BAD_USERNAME_OR_PASSWORD);
      const token = password === undefined ? '' : password.toString('utf8');
      const found: TokenIdentity | null = token === '' ? null : hooks.tokenVerifier.verifyToken(token);
      if (found === null) return refuse(`unknown or revoked API token (login as tenant ${tenant})`, BAD_USERNAME_OR_PASSWORD, { tenant });
      if (found.tenant !== tenant) return refuse(`the API token is not one of tenant ${tenant}`, NOT_AUTHORIZED, { tenant });
      accept(undefined, { ...found, token });
    }

    /** `failCode`: the CONNACK code of a refusal other than revocation. */
    function decide(pending: Promise<Verdict> | null, claimed: DeviceIdentity, failCode: number, key: string): void {
      if (pending === null) return refuse(`server busy: ${queue.pending} logins waiting, retry later`, SERVER_UNAVAILABLE, claimed, key);
      pending.then(
        (verdict) => {
          // The connection may have gone while it waited; aedes ignores the callback then.
          if (client.closed) return done(null, false);
          if (!verdict.ok) return refuse(verdict.reason, verdict.revoked ? NOT_AUTHORIZED : failCode, claimed, key);
          accept(verdict.identity);
        },
        (err: unknown) => {
          log.warn({ err, clientId }, 'device authenticator failed');
          refuse('credential check failed on the server, retry later', SERVER_UNAVAILABLE, claimed, key);
        },
      );
    }
  };
}

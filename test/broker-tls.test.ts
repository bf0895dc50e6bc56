import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerRejection, type DevicePublish, type RunningBroker } from '../src/broker/index.ts';
import { encodeConnect, encodePublishHeader, localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';
import { configSchema } from '../src/config/schema.ts';
import type { DeviceIdentity } from '../src/identity/types.ts';
import { loadApiTls, readTlsFiles } from '../src/server/tls.ts';
import { waitForCondition } from './helpers/wait.ts';

const run = promisify(execFile);
const log = pino({ level: 'silent' });

/** A throwaway PKI made with openssl: two CAs, a server cert for 127.0.0.1, device certs. */
class TestPki {
  constructor(readonly dir: string) {}

  path(name: string): string {
    return join(this.dir, name);
  }

  async ca(name: string): Promise<void> {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', this.path(`${name}.key`), '-out', this.path(`${name}.crt`), '-subj', `/CN=${name}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }

  /** `cn` goes in verbatim; a '/' in it is escaped for openssl's -subj syntax. */
  async leaf(name: string, ca: string, cn: string, extensions: string): Promise<void> {
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', this.path(`${name}.key`), '-out', this.path(`${name}.csr`), '-subj', `/CN=${cn.replaceAll('/', '\\/')}`]);
    await writeFile(this.path(`${name}.ext`), extensions);
    await run('openssl', ['x509', '-req', '-in', this.path(`${name}.csr`), '-CA', this.path(`${ca}.crt`), '-CAkey', this.path(`${ca}.key`), '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '2', '-out', this.path(`${name}.crt`), '-extfile', this.path(`${name}.ext`)]);
  }

  async files(name: string): Promise<{ key: Buffer; cert: Buffer }> {
    const [key, cert] = await Promise.all([readFile(this.path(`${name}.key`)), readFile(this.path(`${name}.crt`))]);
    return { key, cert };
  }
}

describe('broker over TLS', () => {
  let pki: TestPki;
  let ca: Buffer;
  const auth = new MapAuthenticator().add('t1', 'd1', 's1').add('t1', 'd2', 's2').add('t1', 'rev', 'sr');
  const published: DevicePublish[] = [];
  const rejections: BrokerRejection[] = [];
  const connects: Array<{ identity: DeviceIdentity; clientId: string }> = [];
  const hooks = {
    authenticator: auth,
    certificateAuthenticator: (subject: DeviceIdentity) => auth.verifyCertificateSubject(subject),
    onDevicePublish: async (msg: DevicePublish) => void published.push(msg),
    onReject: (r: BrokerRejection) => void rejections.push(r),
    onConnect: (identity: DeviceIdentity, clientId: string) => void connects.push({ identity, clientId }),
  };
  /** clientCerts 'optional', with a secure WebSocket listener too. */
  let broker: RunningBroker;
  /** clientCerts 'required'. */
  let strict: RunningBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    pki = new TestPki(await mkdtemp(join(tmpdir(), 'qs-broker-tls-')));
    await Promise.all([pki.ca('ca'), pki.ca('other-ca')]);
    await Promise.all([
      pki.leaf('server', 'ca', 'querstrom test server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
      pki.leaf('d1', 'ca', 't1/d1', 'extendedKeyUsage=clientAuth\n'),
      pki.leaf('rev', 'ca', 't1/rev', 'extendedKeyUsage=clientAuth\n'),
      pki.leaf('ghost', 'ca', 't1/ghost', 'extendedKeyUsage=clientAuth\n'),
      pki.leaf('noslash', 'ca', 'd1', 'extendedKeyUsage=clientAuth\n'),
      pki.leaf('forged', 'other-ca', 't1/d1', 'extendedKeyUsage=clientAuth\n'),
    ]);
    ca = await readFile(pki.path('ca.crt'));
    auth.revoke('t1', 'rev');
    const tls = { enabled: true, certFile: pki.path('server.crt'), keyFile: pki.path('server.key'), caFile: pki.path('ca.crt') };
    broker = await startBroker(localBrokerConfig({ tls: { ...tls, clientCerts: 'optional' }, wss: { enabled: true } }), hooks, log);
    strict = await startBroker(localBrokerConfig({ tls: { ...tls, clientCerts: 'required' } }), hooks, log);
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true);
  });

  afterAll(async () => {
    await broker?.close();
    await strict?.close();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  async function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ca, ...opts });
    clients.push(client);
    return client;
  }

  /** CONNACK code of a refused login, 0 if accepted; throws if the connection failed otherwise. */
  async function connackCode(url: string, opts: IClientOptions): Promise<number> {
    try {
      (await connect(url, opts)).end(true);
      return 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'number') throw err;
      return code;
    }
  }

  const mqtts = (b: RunningBroker = broker) => `mqtts://127.0.0.1:${b.tlsPort}`;

  it('logs a device in by password over mqtts and takes its QoS 1 data', async () => {
    expect(broker.tlsPort).toBeGreaterThan(0);
    const c = await connect(mqtts(), { username: 't1/d2', password: 's2', clientId: 'pw-1' });
    await c.publishAsync('qs/v1/t1/d2/data', '{"seq":1}', { qos: 1 });
    const msg = published.find((m) => m.clientId === 'pw-1');
    expect(msg?.identity).toEqual({ tenant: 't1', device: 'd2' });
    expect(msg?.topic).toBe('qs/v1/t1/d2/data');
  });

  it('logs a device in by client certificate alone: identity from the subject CN', async () => {
    const c = await connect(mqtts(), { ...(await pki.files('d1')), clientId: 'cert-1' });
    await c.publishAsync('qs/v1/t1/d1/data', '{"seq":2}', { qos: 1 });
    expect(connects.find((x) => x.clientId === 'cert-1')?.identity).toEqual({ tenant: 't1', device: 'd1' });
    expect(published.find((m) => m.clientId === 'cert-1')?.identity).toEqual({ tenant: 't1', device: 'd1' });
    // The certificate's device owns its prefix only, as with a password login.
    rejections.length = 0;
    await c.publishAsync('qs/v1/t1/d2/data', '{"seq":3}', { qos: 1 });
    await waitForCondition(() => rejections.length > 0, 'ACL rejection');
    expect(rejections[0]!.reason).toContain('may only publish under qs/v1/t1/d1/');
    // Its matching username is fine too (no password needed).
    const named = await connect(mqtts(), { ...(await pki.files('d1')), username: 't1/d1', clientId: 'cert-2' });
    expect(named.connected).toBe(true);
  });

  it('refuses a client certificate from another CA, naming why', async () => {
    rejections.length = 0;
    expect(await connackCode(mqtts(), { ...(await pki.files('forged')), clientId: 'forged-1' })).toBe(5);
    // Even with the right password: an untrusted certificate is not ignored.
    expect(await connackCode(mqtts(), { ...(await pki.files('forged')), username: 't1/d1', password: 's1', clientId: 'forged-2' })).toBe(5);
    expect(rejections.map((r) => r.reason)).toEqual(expect.arrayContaining([expect.stringMatching(/CN=t1\/d1 is not signed by the CA in broker\.tls\.caFile/)]));
    expect(connects.some((c) => c.clientId.startsWith('forged'))).toBe(false);
  });

  it('refuses certificates of revoked and unknown devices and subjects that name no device', async () => {
    rejections.length = 0;
    expect(await connackCode(mqtts(), { ...(await pki.files('rev')), clientId: 'rev-1' })).toBe(5);
    expect(await connackCode(mqtts(), { ...(await pki.files('ghost')), clientId: 'ghost-1' })).toBe(5);
    expect(await connackCode(mqtts(), { ...(await pki.files('noslash')), clientId: 'noslash-1' })).toBe(5);
    const reasons = rejections.map((r) => r.reason);
    expect(reasons.some((r) => r.includes('revoked (t1/rev, by client certificate)'))).toBe(true);
    expect(reasons.some((r) => r.includes('unknown device (t1/ghost, by client certificate)'))).toBe(true);
    expect(reasons.some((r) => r.includes('CN=d1') && r.includes('{tenant}/{device}'))).toBe(true);
  });

  it('closes live certificate sessions of a device when it is revoked', async () => {
    const extra = new MapAuthenticator().add('t1', 'd1', 's1');
    const b = await startBroker(
      localBrokerConfig({ tls: { enabled: true, certFile: pki.path('server.crt'), keyFile: pki.path('server.key'), caFile: pki.path('ca.crt'), clientCerts: 'optional' } }),
      { ...hooks, authenticator: extra, certificateAuthenticator: (s) => extra.verifyCertificateSubject(s) },
      log,
    );
    try {
      const c = await connect(mqtts(b), { ...(await pki.files('d1')), clientId: 'to-revoke' });
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      extra.revoke('t1', 'd1');
      await closed;
      expect(await connackCode(mqtts(b), { ...(await pki.files('d1')), clientId: 'to-revoke' })).toBe(5);
    } finally {
      await b.close();
    }
  });

  it('refuses a username that does not match the certificate', async () => {
    rejections.length = 0;
    expect(await connackCode(mqtts(), { ...(await pki.files('d1')), username: 't1/d2', password: 's2', clientId: 'mismatch-1' })).toBe(5);
    expect(rejections.find((r) => r.clientId === 'mismatch-1')?.reason).toContain('does not match the client certificate (CN=t1/d1)');
  });

  /** What a raw TLS client sees after sending CONNECT: the CONNACK code, or how the connection failed. */
  function rawTlsLogin(port: number, cert: { key: Buffer; cert: Buffer } | undefined, username: string, password: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...(cert ?? {}) }, () => socket.write(encodeConnect(`raw-${username}`, username, password)));
      const finish = (outcome: string): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      };
      const timer = setTimeout(() => finish('no answer'), 5000);
      socket.on('data', (d: Buffer) => finish(d[0] === 0x20 ? `connack ${d[3]}` : `packet 0x${d[0]!.toString(16)}`));
      socket.on('error', (err: Error & { code?: string }) => finish(`error ${err.code ?? err.message}`));
      socket.on('close', () => finish('closed'));
    });
  }

  it("with clientCerts 'required', refuses connections without a valid certificate at the TLS layer", async () => {
    const before = rejections.length;
    const noCert = await rawTlsLogin(strict.tlsPort!, undefined, 't1/d1', 's1');
    const forged = await rawTlsLogin(strict.tlsPort!, await pki.files('forged'), 't1/d1', 's1');
    // TLS 1.3: the server checks the client's certificate after the client finished its side, so
    // the refusal arrives as an alert in place of the CONNACK.
    expect(noCert).toMatch(/^error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|^error ECONNRESET|^closed$/);
    expect(forged).toMatch(/^error ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|^error ECONNRESET|^closed$/);
    // Nothing reached MQTT authentication.
    expect(rejections.length).toBe(before);
    expect(await rawTlsLogin(strict.tlsPort!, await pki.files('d1'), 't1/d1', 'not-checked')).toBe('connack 0');
    const ok = await connect(mqtts(strict), { ...(await pki.files('d1')), clientId: 'strict-ok' });
    expect(ok.connected).toBe(true);
  });

  it('serves MQTT over secure WebSocket, with certificate or password', async () => {
    expect(broker.wssPort).toBeGreaterThan(0);
    const url = `wss://127.0.0.1:${broker.wssPort}/mqtt`;
    const byCert = await connect(url, { ...(await pki.files('d1')), clientId: 'wss-cert' });
    await byCert.publishAsync('qs/v1/t1/d1/data', '{"seq":4}', { qos: 1 });
    expect(published.find((m) => m.clientId === 'wss-cert')?.identity).toEqual({ tenant: 't1', device: 'd1' });
    const byPassword = await connect(url, { username: 't1/d2', password: 's2', clientId: 'wss-pw' });
    await byPassword.publishAsync('qs/v1/t1/d2/data', '{"seq":5}', { qos: 1 });
    expect(published.find((m) => m.clientId === 'wss-pw')?.identity).toEqual({ tenant: 't1', device: 'd2' });
    expect(await connackCode(url, { ...(await pki.files('forged')), clientId: 'wss-forged' })).toBe(5);
  });

  it('applies the packet-size guard on TLS connections too', async () => {
    rejections.length = 0;
    const socket = tlsConnect({ host: '127.0.0.1', port: broker.tlsPort!, ca });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('error', () => undefined);
    // Read (and drop) what comes, or the end of the stream is never seen.
    socket.resume();
    socket.write(encodeConnect('big-1', 't1/d2', 's2'));
    socket.write(encodePublishHeader('qs/v1/t1/d2/data', 1, 1, 10 * 1024 * 1024));
    await closed;
    await waitForCondition(() => rejections.some((r) => r.reason.includes('limit maxPacketBytes')), 'size rejection');
  });

  it('answers HTTPS with the certificate files loaded by src/server/tls.ts', async () => {
    const https = await loadApiTls({ enabled: true, certFile: pki.path('server.crt'), keyFile: pki.path('server.key') });
    expect(https).toBeDefined();
    const app = Fastify({ https: https! });
    app.get('/health', async () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (app.server.address() as { port: number }).port;
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/health', ca }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d));
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('200 {"ok":true}');
    } finally {
      await app.close();
    }
    expect(await loadApiTls({ enabled: false })).toBeUndefined();
  });

  it('names the field when TLS settings are missing or wrong', async () => {
    const bad = configSchema.safeParse({ broker: { tls: { enabled: true, clientCerts: 'required' } }, api: { tls: { enabled: true, certFile: 'x.pem' } } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['broker.tls.certFile', 'broker.tls.keyFile', 'broker.tls.caFile', 'api.tls.keyFile']));
    expect(configSchema.safeParse({ broker: { wss: { enabled: true } } }).error?.issues.map((i) => i.path.join('.'))).toContain('broker.tls.certFile');

    await expect(readTlsFiles({ certFile: pki.path('server.crt'), keyFile: pki.path('d1.key') }, 'api.tls')).rejects.toThrow(/api\.tls: certFile .* and keyFile .* do not form a usable pair/);
    await expect(readTlsFiles({ certFile: pki.path('missing.crt'), keyFile: pki.path('server.key') }, 'broker.tls')).rejects.toThrow(/broker\.tls\.certFile: cannot read/);
    await expect(readTlsFiles({ certFile: pki.path('server.crt'), keyFile: pki.path('server.key'), caFile: pki.path('d1.ext') }, 'broker.tls')).rejects.toThrow(/broker\.tls\.caFile: .* is not a PEM file/);
    // The broker refuses to start with certificate logins on but no way to check them against the registry.
    const { certificateAuthenticator: _, ...withoutCertHook } = hooks;
    await expect(
      startBroker(localBrokerConfig({ tls: { enabled: true, certFile: pki.path('server.crt'), keyFile: pki.path('server.key'), caFile: pki.path('ca.crt'), clientCerts: 'optional' } }), withoutCertHook, log),
    ).rejects.toThrow(/no certificateAuthenticator hook/);
  });
});

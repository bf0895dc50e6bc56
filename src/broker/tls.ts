/**
 * TLS for the MQTT (8883) and secure WebSocket (8084) listeners, and device login by client
 * certificate. The certificate subject names the device the same way the MQTT username does:
 * CN = `{tenant}/{device}` (one CN; other subject fields are ignored). The certificate must chain
 * to broker.tls.caFile; the device must still exist and not be revoked (asked of
 * hooks.certificateAuthenticator).
 */
import type { Client } from 'aedes';
import type { Duplex } from 'node:stream';
import type { TlsOptions, TLSSocket } from 'node:tls';
import type { BrokerTls } from '../config/schema.ts';
import type { DeviceIdentity } from '../identity/types.ts';
import { readTlsFiles, type TlsMaterial } from '../server/tls.ts';
import { excerpt, parseUsername } from './acl.ts';

/** What the connection's client certificate says; undefined on the client = none presented. */
export type PeerCertificate =
  | { ok: true; identity: DeviceIdentity }
  /** Presented but not usable: wrong CA, expired, or a subject that names no device. */
  | { ok: false; reason: string; subject: string };

/** Kept on the connection stream, so it is there before aedes reads the first byte. */
const PEER_CERTIFICATE: unique symbol = Symbol('querstrom.broker.peerCertificate');
type CertifiedStream = Duplex & { [PEER_CERTIFICATE]?: PeerCertificate };

export function attachPeerCertificate(conn: Duplex, peer: PeerCertificate | undefined): void {
  if (peer !== undefined) (conn as CertifiedStream)[PEER_CERTIFICATE] = peer;
}

export function peerCertificateOfClient(client: Client): PeerCertificate | undefined {
  return (client.conn as CertifiedStream)[PEER_CERTIFICATE];
}

/** A TLS handshake that does not finish in this time is dropped (slow or half-open clients). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export async function loadBrokerTls(tls: BrokerTls): Promise<TlsOptions> {
  const material: TlsMaterial = await readTlsFiles(tls, 'broker.tls');
  const wantCerts = tls.clientCerts !== 'off';
  if (wantCerts && material.ca === undefined) throw new Error(`broker.tls.caFile: required when tls.clientCerts is '${tls.clientCerts}'`);
  return {
    cert: material.cert,
    key: material.key,
    ...(wantCerts ? { ca: material.ca, requestCert: true, rejectUnauthorized: tls.clientCerts === 'required' } : { requestCert: false }),
    minVersion: 'TLSv1.2',
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}

/** OpenSSL verification codes that mean "not issued by the CA we trust". */
const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE']);

/** Reads the client certificate of a finished handshake. */
export function peerCertificateOf(socket: TLSSocket): PeerCertificate | undefined {
  const cert = socket.getPeerCertificate();
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return undefined;
  const cn: unknown = cert.subject?.CN;
  const subject = typeof cn === 'string' ? `CN=${excerpt(cn, 80)}` : 'without a single CN';
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'unknown error');
    const why = UNTRUSTED.has(code) ? 'not signed by the CA in broker.tls.caFile' : code === 'CERT_HAS_EXPIRED' ? 'expired' : code === 'CERT_NOT_YET_VALID' ? 'not yet valid' : 'not valid';
    return { ok: false, reason: `client certificate ${subject} is ${why} (${code})`, subject };
  }
  const identity = typeof cn === 'string' ? parseUsername(cn) : null;
  if (identity === null) return { ok: false, reason: `client certificate ${subject}: the subject CN must be {tenant}/{device}`, subject };
  return { ok: true, identity };
}

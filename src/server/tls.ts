/**
 * TLS material from PEM files, checked at startup: a missing file, a key that does not belong
 * to its certificate or an unparsable CA fails here with the config field named, not at the
 * first handshake.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { ApiTls } from '../config/schema.ts';

export interface TlsFiles {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Present when a caFile was given. */
  ca?: Buffer;
}

async function readPem(file: string, field: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (err) {
    throw new Error(`${field}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN ')) throw new Error(`${field}: ${file} is not a PEM file (no "-----BEGIN" line)`);
  return pem;
}

/** Reads and cross-checks cert, key and (optional) CA. `section` names the config block, e.g. `broker.tls`. */
export async function readTlsFiles(files: TlsFiles, section: string): Promise<TlsMaterial> {
  if (files.certFile === undefined) throw new Error(`${section}.certFile: required for TLS`);
  if (files.keyFile === undefined) throw new Error(`${section}.keyFile: required for TLS`);
  const [cert, key, ca] = await Promise.all([
    readPem(files.certFile, `${section}.certFile`),
    readPem(files.keyFile, `${section}.keyFile`),
    files.caFile === undefined ? undefined : readPem(files.caFile, `${section}.caFile`),
  ]);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`${section}: certFile ${files.certFile} and keyFile ${files.keyFile} do not form a usable pair: ${(err as Error).message}`);
  }
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
    } catch (err) {
      throw new Error(`${section}.caFile: ${files.caFile} holds no usable CA certificate: ${(err as Error).message}`);
    }
  }
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

/**
 * Options for fastify's `https` when `api.tls.enabled`, else undefined (plain HTTP):
 * `Fastify({ ...opts, ...(https ? { https } : {}) })`.
 */
export async function loadApiTls(tls: ApiTls): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (!tls.enabled) return undefined;
  const { cert, key } = await readTlsFiles(tls, 'api.tls');
  return { cert, key };
}

import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { watchFile, unwatchFile } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { idSchema, SERVER_TOPIC_IDS } from '../contract/topics.ts';
import type { DeviceAuthenticator, DeviceIdentity, DeviceVerification, Role, TokenIdentity, TokenVerifier } from './types.ts';
import { roles } from './types.ts';

const scrypt = promisify(scryptCb) as (pw: string | Buffer, salt: Buffer, keylen: number, opts: object) => Promise<Buffer>;

/*
 * Device secrets and API tokens are 256-bit random strings we generate, so a slow KDF adds
 * no security against guessing; scrypt with modest cost still protects a leaked file from
 * cheap offline checks while keeping a 5,000-device reconnect storm affordable.
 */
const SCRYPT = { N: 1024, r: 8, p: 1, keylen: 32 } as const;
/** Hashes of one batch computed at a time (libuv's pool has 4 threads by default). */
const HASH_WORKERS = 2;

const deviceRecordSchema = z.object({
  tenant: idSchema,
  device: idSchema,
  type: z.string().optional(),
  secret: z.string(),
  createdAt: z.number(),
  revokedAt: z.number().optional(),
});
const tokenRecordSchema = z.object({
  id: z.string(),
  tenant: idSchema,
  role: z.enum(roles),
  sha256: z.string(),
  label: z.string().optional(),
  createdAt: z.number(),
  revokedAt: z.number().optional(),
});
const fileSchema = z.object({
  version: z.literal(1),
  devices: z.array(deviceRecordSchema),
  tokens: z.array(tokenRecordSchema),
});
type RegistryFile = z.infer<typeof fileSchema>;
export type DeviceRecord = z.infer<typeof deviceRecordSchema>;
export type TokenRecord = z.infer<typeof tokenRecordSchema>;

export interface DeviceCredentials {
  tenant: string;
  device: string;
  username: string;
  password: string;
}

export interface NewDevice {
  device: string;
  type?: string | undefined;
}


const usernameOf = (tenant: string, device: string) => `${tenant}/${device}`;

/** Why `id` is not a valid tenant or device id, naming it; undefined when it is valid. */
export function idProblem(what: 'tenant' | 'device', id: string): string | undefined {
  const r = idSchema.safeParse(id);
  return r.success ? undefined : `${what} "${id}": ${r.error.issues[0]?.message ?? 'invalid id'}`;
}

/**
 * Why the registry refused a change: `invalid` is the caller's input (a bad, reserved or repeated
 * id; `index` is its place in the list), `conflict` is the registry's state (an active device of
 * that id). Anything else thrown is a failure of the registry itself (its file).
 */
export class RegistryError extends Error {
  constructor(
    readonly kind: 'invalid' | 'conflict',
    message: string,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Why a device id cannot be registered (malformed, or reserved for the server's own topics), or undefined. */
export function deviceIdProblem(device: string): string | undefined {
  return idProblem('device', device) ?? (SERVER_TOPIC_IDS.has(device) ? `device "${device}" is reserved for server topics (qs/v1/{tenant}/${device}/...)` : undefined);
}

function checkId(what: 'tenant' | 'device', id: string, index?: number): void {
  const problem = idProblem(what, id);
  if (problem) throw new RegistryError('invalid', problem, index);
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest();

async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function verifySecret(secret: Buffer, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, key] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

/**
 * Devices, their hashed credentials and API tokens, in one JSON file under the data dir.
 * A file (not the database) so `querstrom device add` works while the server runs; the
 * server watches it and picks up additions and revocations.
 */
export class IdentityRegistry implements DeviceAuthenticator, TokenVerifier {
  private data: RegistryFile = { version: 1, devices: [], tokens: [] };
  private devicesByUser = new Map<string, DeviceRecord>();
  private tokensByHash = new Map<string, TokenRecord>();
  /** username → sha256(password) of the last successful scrypt check, so reconnects stay cheap. */
  private verifiedCache = new Map<string, Buffer>();
  private revokedListeners: Array<(revoked: DeviceIdentity[]) => void> = [];
  private watching = false;
  private writes: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {}

  static async open(file: string): Promise<IdentityRegistry> {
    const registry = new IdentityRegistry(file);
    await registry.reload();
    return registry;
  }

  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.index({ version: 1, devices: [], tokens: [] });
      throw err;
    }
    const parsed = fileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`identity file ${this.file} is invalid: ${parsed.error.message}`);
    this.index(parsed.data);
  }

  private index(data: RegistryFile): void {
    const before = this.devicesByUser;
    this.data = data;
    this.devicesByUser = new Map(data.devices.map((d) => [usernameOf(d.tenant, d.device), d]));
    this.tokensByHash = new Map(data.tokens.filter((t) => !t.revokedAt).map((t) => [t.sha256, t]));
    const revoked: DeviceIdentity[] = [];
    for (const [user, old] of before) {
      const now = this.devicesByUser.get(user);
      if (!old.revokedAt && (!now || now.revokedAt || now.secret !== old.secret)) {
        revoked.push({ tenant: old.tenant, device: old.device });
        this.verifiedCache.delete(user);
      }
    }
    if (revoked.length) for (const l of this.revokedListeners) l(revoked);
  }

  /**
   * Reload when another process (the CLI) changes the file. In turn with this process's own
   * writes: two reloads that overlapped could otherwise apply an older read after a newer one (its
   * reads wait in libuv's pool behind fsyncs), and no later change would correct it.
   */
  watch(intervalMs = 1000): void {
    if (this.watching) return;
    this.watching = true;
    watchFile(this.file, { interval: intervalMs }, () => void this.inTurn(() => this.reload()).catch(() => undefined));
  }

  unwatch(): void {
    if (this.watching) unwatchFile(this.file);
    this.watching = false;
  }

  private async save(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600 });
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, this.file);
  }

  /** One file task at a time within this process (writes and watched reloads), in order. */
  private inTurn(task: () => Promise<void>): Promise<void> {
    const run = this.writes.then(task);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /**
   * Read, change and write under a lock on the file, so the CLI and the server, editing at the same
   * moment, never write over each other's change.
   */
  private mutate(change: (data: RegistryFile) => void): Promise<void> {
    return this.inTurn(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const release = await lockfile.lock(this.file, {
        realpath: false,
        stale: 10_000,
        retries: { retries: 60, factor: 1.3, minTimeout: 5, maxTimeout: 250 },
        // A lock taken over as stale while this write runs: the write still completes, as without a lock.
        onCompromised: () => undefined,
      });
      try {
        await this.reload();
        const next = structuredClone(this.data);
        change(next);
        this.index(next);
        await this.save();
      } finally {
        await release().catch(() => undefined);
      }
    });
  }

  async addDevice(tenant: string, device: string, type?: string): Promise<DeviceCredentials> {
    return (await this.addDevices(tenant, [{ device, ...(type ? { type } : {}) }]))[0]!;
  }

  /**
   * Registers devices in one write of the file, all or none: a bad id, a reserved one, a repeat
   * in the list or an active device of the same id refuses the whole list. Each password is
   * returned once; only its hash is stored.
   */
  async addDevices(tenant: string, devices: ReadonlyArray<NewDevice>): Promise<DeviceCredentials[]> {
    checkId('tenant', tenant);
    if (devices.length === 0) return [];
    const seen = new Set<string>();
    devices.forEach(({ device }, i) => {
      const problem = deviceIdProblem(device);
      if (problem) throw new RegistryError('invalid', problem, i);
      if (seen.has(device)) throw new RegistryError('invalid', `device ${tenant}/${device} is listed twice`, i);
      seen.add(device);
    });
    const passwords = devices.map(() => randomBytes(24).toString('base64url'));
    // scrypt runs on libuv's small thread pool, which the store's fsyncs share: a long list keeps
    // only HASH_WORKERS of its threads busy, so ingest does not wait behind a roll-out.
    const secrets = new Array<string>(devices.length);
    let next = 0;
    const worker = async () => {
      while (next < passwords.length) {
        const i = next++;
        secrets[i] = await hashSecret(passwords[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HASH_WORKERS, passwords.length) }, worker));
    await this.mutate((data) => {
      const active = data.devices.filter((d) => d.tenant === tenant && !d.revokedAt && seen.has(d.device)).map((d) => d.device);
      if (active.length === 1) throw new RegistryError('conflict', `device ${tenant}/${active[0]} already exists; revoke it first to issue new credentials`);
      if (active.length > 1) throw new RegistryError('conflict', `${active.length} devices already exist (${active.slice(0, 5).join(', ')}${active.length > 5 ? ', ...' : ''}); revoke them first to issue new credentials`);
      data.devices = data.devices.filter((d) => !(d.tenant === tenant && seen.has(d.device)));
      const createdAt = Date.now();
      devices.forEach(({ device, type }, i) => data.devices.push({ tenant, device, ...(type ? { type } : {}), secret: secrets[i]!, createdAt }));
    });
    return devices.map(({ device }, i) => ({ tenant, device, username: usernameOf(tenant, device), password: passwords[i]! }));
  }

  async revokeDevice(tenant: string, device: string): Promise<boolean> {
    let found = false;
    await this.mutate((data) => {
      const d = data.devices.find((x) => x.tenant === tenant && x.device === device && !x.revokedAt);
      if (d) {
        d.revokedAt = Date.now();
        found = true;
      }
    });
    return found;
  }

  listDevices(tenant?: string): Array<Omit<DeviceRecord, 'secret'>> {
    return this.data.devices
      .filter((d) => !tenant || d.tenant === tenant)
      .map(({ secret: _secret, ...rest }) => rest);
  }

  async verifyDeviceDetailed(username: string, password: Buffer | string | undefined): Promise<DeviceVerification> {
    const record = this.devicesByUser.get(username);
    if (!record) return { ok: false, reason: 'unknown device' };
    if (record.revokedAt) return { ok: false, reason: 'revoked' };
    if (password === undefined) return { ok: false, reason: 'wrong password' };
    const pw = typeof password === 'string' ? Buffer.from(password) : password;
    const identity = { tenant: record.tenant, device: record.device };
    const digest = sha256(pw);
    const cached = this.verifiedCache.get(username);
    if (cached && timingSafeEqual(cached, digest)) return { ok: true, identity };
    if (!(await verifySecret(pw, record.secret))) return { ok: false, reason: 'wrong password' };
    this.verifiedCache.set(username, digest);
    return { ok: true, identity };
  }

  /** A client certificate proved the identity (CN = `{tenant}/{device}`); the device must still be active. */
  async verifyCertificateSubject(subject: DeviceIdentity): Promise<DeviceVerification> {
    const record = this.devicesByUser.get(usernameOf(subject.tenant, subject.device));
    if (!record) return { ok: false, reason: 'unknown device' };
    if (record.revokedAt) return { ok: false, reason: 'revoked' };
    return { ok: true, identity: { tenant: record.tenant, device: record.device } };
  }

  async verifyDevice(username: string, password: Buffer | string | undefined): Promise<DeviceIdentity | null> {
    const v = await this.verifyDeviceDetailed(username, password);
    return v.ok ? v.identity : null;
  }

  onRevoked(listener: (revoked: DeviceIdentity[]) => void): void {
    this.revokedListeners.push(listener);
  }

  async addToken(tenant: string, role: Role, label?: string): Promise<{ id: string; token: string }> {
    idSchema.parse(tenant);
    const token = `qst_${randomBytes(24).toString('base64url')}`;
    const id = randomBytes(6).toString('hex');
    await this.mutate((data) => {
      data.tokens.push({ id, tenant, role, sha256: sha256(token).toString('hex'), ...(label ? { label } : {}), createdAt: Date.now() });
    });
    return { id, token };
  }

  async revokeToken(id: string): Promise<boolean> {
    let found = false;
    await this.mutate((data) => {
      const t = data.tokens.find((x) => x.id === id && !x.revokedAt);
      if (t) {
        t.revokedAt = Date.now();
        found = true;
      }
    });
    return found;
  }

  listTokens(tenant?: string): Array<Omit<TokenRecord, 'sha256'>> {
    return this.data.tokens.filter((t) => !tenant || t.tenant === tenant).map(({ sha256: _h, ...rest }) => rest);
  }

  verifyToken(token: string): TokenIdentity | null {
    // Map lookup on a hash of a 192-bit random token: no timing signal about the token itself.
    const record = this.tokensByHash.get(sha256(token).toString('hex'));
    return record ? { tenant: record.tenant, role: record.role, tokenId: record.id } : null;
  }
}

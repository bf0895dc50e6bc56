import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IdentityRegistry } from '../src/identity/index.ts';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'qs-id-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('IdentityRegistry', () => {
  it('stores device secrets hashed and verifies them', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    const c = await r.addDevice('stadt-a', 'hm-1', 'heat_meter');
    expect(c.username).toBe('stadt-a/hm-1');
    const file = await readFile(join(dir, 'identity.json'), 'utf8');
    expect(file).not.toContain(c.password);
    expect(file).toMatch(/scrypt\$/);
    expect(await r.verifyDevice(c.username, c.password)).toEqual({ tenant: 'stadt-a', device: 'hm-1' });
    expect(await r.verifyDevice(c.username, Buffer.from(c.password))).toEqual({ tenant: 'stadt-a', device: 'hm-1' });
    expect(await r.verifyDevice(c.username, 'wrong')).toBeNull();
    expect(await r.verifyDevice('stadt-a/nobody', c.password)).toBeNull();
    expect(await r.verifyDevice(c.username, undefined)).toBeNull();
    expect(await r.verifyDeviceDetailed('stadt-a/nobody', 'x')).toEqual({ ok: false, reason: 'unknown device' });
    expect(await r.verifyDeviceDetailed(c.username, 'x')).toEqual({ ok: false, reason: 'wrong password' });
  });

  it('refuses duplicate adds and invalid ids', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    await r.addDevice('a', 'd1');
    await expect(r.addDevice('a', 'd1')).rejects.toThrow(/already exists/);
    await expect(r.addDevice('a', 'bad/id')).rejects.toThrow();
  });

  it('revocation stops verification, even cached, and notifies listeners across processes', async () => {
    const server = await IdentityRegistry.open(join(dir, 'identity.json'));
    const cli = await IdentityRegistry.open(join(dir, 'identity.json'));
    const c = await cli.addDevice('a', 'd1');
    await server.reload();
    expect(await server.verifyDevice(c.username, c.password)).not.toBeNull();
    const revoked: string[] = [];
    server.onRevoked((list) => revoked.push(...list.map((d) => `${d.tenant}/${d.device}`)));
    expect(await cli.revokeDevice('a', 'd1')).toBe(true);
    await server.reload();
    expect(revoked).toEqual(['a/d1']);
    expect(await server.verifyDevice(c.username, c.password)).toBeNull();
    expect(await server.verifyDeviceDetailed(c.username, c.password)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('tokens map to one tenant and role and can be revoked', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    const t = await r.addToken('a', 'read');
    expect(r.verifyToken(t.token)).toMatchObject({ tenant: 'a', role: 'read' });
    expect(r.verifyToken(t.token + 'x')).toBeNull();
    expect(await readFile(join(dir, 'identity.json'), 'utf8')).not.toContain(t.token);
    await r.revokeToken(t.id);
    expect(r.verifyToken(t.token)).toBeNull();
  });
});

describe('IdentityRegistry concurrency', () => {
  it('concurrent adds in one process all land in the file', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => r.addDevice('a', `d${i}`)));
    const again = await IdentityRegistry.open(join(dir, 'identity.json'));
    expect(again.listDevices('a')).toHaveLength(20);
  });
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IdentityRegistry, parseDeviceList, RegistryError } from '../src/identity/index.ts';

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

describe('IdentityRegistry batches', () => {
  it('registers a list in one write, each with its own password, in the order given', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    const creds = await r.addDevices('a', [{ device: 'hm-1', type: 'heat_meter' }, { device: 'hm-2' }, { device: 'hp-1', type: 'heat_pump' }]);
    expect(creds.map((c) => c.username)).toEqual(['a/hm-1', 'a/hm-2', 'a/hp-1']);
    expect(new Set(creds.map((c) => c.password)).size).toBe(3);
    const again = await IdentityRegistry.open(join(dir, 'identity.json'));
    for (const c of creds) expect(await again.verifyDevice(c.username, c.password)).toEqual({ tenant: 'a', device: c.device });
    expect(again.listDevices('a').map((d) => [d.device, d.type])).toEqual([['hm-1', 'heat_meter'], ['hm-2', undefined], ['hp-1', 'heat_pump']]);
  });

  it('refuses the whole list for one active, repeated, reserved or invalid id, and says which', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    await r.addDevice('a', 'hm-1');
    await expect(r.addDevices('a', [{ device: 'hm-9' }, { device: 'hm-1' }])).rejects.toThrow('device a/hm-1 already exists; revoke it first');
    await expect(r.addDevices('a', [{ device: 'hm-8' }, { device: 'hm-8' }])).rejects.toThrow('device a/hm-8 is listed twice');
    await expect(r.addDevices('a', [{ device: 'hm-7' }, { device: 'dispatch' }])).rejects.toThrow(/"dispatch" is reserved/);
    await expect(r.addDevices('a', [{ device: 'hm-6' }, { device: 'bad id' }])).rejects.toThrow(/^device "bad id": ids are 1-64 chars/);
    await expect(r.addDevices('bad tenant', [{ device: 'hm-5' }])).rejects.toThrow(/^tenant "bad tenant"/);
    // Typed, so the API answers 400 naming the entry for input, 409 for a clash with the registry.
    const refusal = (devices: string[]) => r.addDevices('a', devices.map((device) => ({ device }))).then(() => undefined, (err: unknown) => err);
    expect(await refusal(['hm-9', 'hm-1'])).toMatchObject({ kind: 'conflict', index: undefined });
    expect(await refusal(['hm-8', 'hm-7', 'hm-8'])).toMatchObject({ kind: 'invalid', index: 2 });
    expect(await refusal(['hm-7', 'dispatch'])).toMatchObject({ kind: 'invalid', index: 1 });
    expect(await refusal(['bad id'])).toBeInstanceOf(RegistryError);
    expect((await IdentityRegistry.open(join(dir, 'identity.json'))).listDevices('a').map((d) => d.device)).toEqual(['hm-1']);
    // A revoked id may be issued again, in a batch as alone.
    await r.revokeDevice('a', 'hm-1');
    const [c] = await r.addDevices('a', [{ device: 'hm-1' }]);
    expect(await r.verifyDevice('a/hm-1', c!.password)).toEqual({ tenant: 'a', device: 'hm-1' });
    expect(await r.addDevices('a', [])).toEqual([]);
  });
});

describe('device lists (CSV)', () => {
  it('reads a spreadsheet export: semicolons, quotes, a BOM, extra columns and comments', () => {
    const list = parseDeviceList('\uFEFFDevice;Type;Location\n"hm-1";heat_meter;Nord\n\n# spare meters follow\nhm-2;;Süd\n');
    expect(list).toEqual({ devices: [{ device: 'hm-1', type: 'heat_meter' }, { device: 'hm-2' }], problems: [] });
    expect(parseDeviceList('device,type\nhp-1,heat_pump\n').devices).toEqual([{ device: 'hp-1', type: 'heat_pump' }]);
  });

  it('names every problem by line and keeps none of the list', () => {
    const list = parseDeviceList('device,type\nhm-1,heat_meter\nhm 2,heat_meter\nhm-1,\nhm-3,boiler2\ndispatch,\n');
    expect(list.devices).toEqual([]);
    expect(list.problems).toEqual([
      'line 3: device "hm 2": ids are 1-64 chars of A-Z a-z 0-9 _ . - and start with a letter or digit',
      'line 4: device "hm-1" is listed twice (first on line 2)',
      expect.stringMatching(/^line 5: unknown type "boiler2"; one of heat_meter, /),
      'line 6: device "dispatch" is reserved for server topics (qs/v1/{tenant}/dispatch/...)',
    ]);
    expect(parseDeviceList('id,type\nhm-1,\n').problems).toEqual(['the header row has no "device" column (it has: id, type)']);
    expect(parseDeviceList('device\n"hm-1\n').problems[0]).toMatch(/^line 2: Quote Not Closed/);
    expect(parseDeviceList('device,type\nhm-1,heat_meter,extra\n').problems[0]).toBe('line 2: Invalid Record Length: columns length is 2, got 3 on line 2');
    expect(parseDeviceList('').problems[0]).toMatch(/^no devices listed/);
  });
});

describe('IdentityRegistry concurrency', () => {
  it('a watching server keeps every device it added while another process adds too: no older read lands last', async () => {
    const file = join(dir, 'identity.json');
    const server = await IdentityRegistry.open(file);
    const cli = await IdentityRegistry.open(file);
    server.watch(5); // polls often, so its reloads overlap its own writes
    try {
      const ours: Array<{ username: string; password: string }> = [];
      for (let i = 0; i < 15; i++) {
        const [mine] = await Promise.all([server.addDevice('a', `srv${i}`), cli.addDevice('a', `cli${i}`)]);
        ours.push(mine);
      }
      await new Promise((resolve) => setTimeout(resolve, 100)); // the watcher's last reloads
      for (const c of ours) expect(await server.verifyDevice(c.username, c.password), c.username).not.toBeNull();
      expect(server.listDevices('a')).toHaveLength(30);
    } finally {
      server.unwatch();
    }
  });

  it('concurrent adds in one process all land in the file', async () => {
    const r = await IdentityRegistry.open(join(dir, 'identity.json'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => r.addDevice('a', `d${i}`)));
    const again = await IdentityRegistry.open(join(dir, 'identity.json'));
    expect(again.listDevices('a')).toHaveLength(20);
  });
});

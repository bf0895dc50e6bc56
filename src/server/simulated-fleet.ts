import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { IdentityRegistry } from '../identity/index.ts';

const credentialsSchema = z.record(z.string(), z.string());

export const simulatorCredentialsFile = (dataDir: string) => join(dataDir, 'simulator-credentials.json');

/**
 * Simulated gateways need their plaintext passwords, which the registry never keeps; they
 * live in a separate file that only simulator runs read. Real devices never appear in it.
 */
export async function provisionSimulatedDevices(
  registry: IdentityRegistry,
  dataDir: string,
  tenant: string,
  devices: Array<{ device: string; type: string }>,
): Promise<(device: string) => string> {
  const file = simulatorCredentialsFile(dataDir);
  let known: Record<string, string> = {};
  try {
    known = credentialsSchema.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is unreadable: ${(err as Error).message}`);
  }
  const active = new Set(registry.listDevices(tenant).filter((d) => !d.revokedAt).map((d) => d.device));
  const missing = devices.filter((d) => !(known[`${tenant}/${d.device}`] && active.has(d.device)));
  // Active without a known password: its credentials are lost, so it gets new ones.
  for (const d of missing) if (active.has(d.device)) await registry.revokeDevice(tenant, d.device);
  for (const c of await registry.addDevices(tenant, missing)) known[`${tenant}/${c.device}`] = c.password;
  if (missing.length > 0) {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(known, null, 2) + '\n', { mode: 0o600 });
  }
  return (device) => {
    const pw = known[`${tenant}/${device}`];
    if (!pw) throw new Error(`no simulator credentials for ${tenant}/${device}`);
    return pw;
  };
}

import { join } from 'node:path';
import { IdentityRegistry } from '../../identity/index.ts';
import { identityFile } from '../../server/index.ts';

export const DEFAULT_DATA_DIR = process.env.QS_DATA_DIR ?? './data';
export const DEFAULT_TENANT = 'demo';

export function openRegistry(dataDir: string): Promise<IdentityRegistry> {
  return IdentityRegistry.open(identityFile(dataDir));
}

export function dataPath(dataDir: string, ...parts: string[]): string {
  return join(dataDir, ...parts);
}

/** Errors a user can act on end the command with a message, not a stack trace. */
export function fail(message: string): never {
  process.stderr.write(`querstrom: ${message}\n`);
  process.exit(1);
}

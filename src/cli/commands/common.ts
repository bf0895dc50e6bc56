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

/** A numeric option: parsed once, checked against its rule, and refused with the flag named. */
export function numberOption(name: string, value: string, rule: { min?: number; above?: number; integer?: boolean; unit?: string }): number {
  const n = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(n) && (!rule.integer || Number.isInteger(n)) && (rule.min === undefined || n >= rule.min) && (rule.above === undefined || n > rule.above);
  if (!ok) {
    const bound = rule.min !== undefined ? `>= ${rule.min}` : rule.above !== undefined ? `> ${rule.above}` : '';
    fail(`--${name} must be ${rule.integer ? 'a whole number' : 'a number'}${bound ? ` ${bound}` : ''}${rule.unit ? ` (${rule.unit})` : ''}, got "${value}"`);
  }
  return n;
}

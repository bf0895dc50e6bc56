import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config, type ConfigInput } from './schema.ts';

/** Environment overrides, for containers: QS_<SECTION>_<KEY>. Only the ones operators need. */
const envOverrides: Array<[string, (c: Record<string, any>, v: string) => void]> = [
  ['QS_DATA_DIR', (c, v) => (c.dataDir = v)],
  ['QS_MQTT_PORT', (c, v) => ((c.broker ??= {}).tcp = { ...(c.broker.tcp ?? {}), port: Number(v) })],
  ['QS_WS_PORT', (c, v) => ((c.broker ??= {}).ws = { ...(c.broker.ws ?? {}), port: Number(v) })],
  ['QS_API_PORT', (c, v) => ((c.api ??= {}).port = Number(v))],
  ['QS_LOG_LEVEL', (c, v) => ((c.log ??= {}).level = v)],
  ['QS_STORE', (c, v) => ((c.store ??= {}).kind = v)],
];

export function describeConfigError(error: z.ZodError, source: string): string {
  return `invalid config (${source}):\n` + error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
}

/** Loads YAML (optional), applies env overrides, then CLI overrides; validated once by zod. */
export async function loadConfig(path: string | undefined, overrides: ConfigInput = {}, env = process.env): Promise<Config> {
  const raw: Record<string, any> = path ? ((parseYaml(await readFile(path, 'utf8')) as Record<string, any> | null) ?? {}) : {};
  for (const [name, apply] of envOverrides) {
    const v = env[name];
    if (v !== undefined && v !== '') apply(raw, v);
  }
  const merged = deepMerge(raw, overrides as Record<string, any>);
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new Error(describeConfigError(result.error, path ?? 'defaults'));
  return result.data;
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? deepMerge(a[k], v) : v;
  }
  return out;
}

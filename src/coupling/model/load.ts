import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { citySchema, type City } from './schema.ts';

/** A city file that does not validate; `issues` name the field of each problem. */
export class CityConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: invalid city model:\n  - ${issues.join('\n  - ')}`);
    this.name = 'CityConfigError';
  }
}

type Issue = z.core.$ZodIssue;

/** Flattens zod issues into "path: message" lines; for number-or-binding unions picks the branch the author meant. */
export function describeCityIssues(issues: readonly Issue[], prefix: (string | number | symbol)[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Branches failing only on the top-level type are not what the author wrote.
      const meant = issue.errors.filter((branch) => !branch.every((i) => i.path.length === 0 && i.code === 'invalid_type'));
      if (meant.length > 0) {
        for (const branch of meant) out.push(...describeCityIssues(branch, path));
        continue;
      }
      out.push(`${fmtPath(path)}: expected a number or a binding {device, metric, default}`);
      continue;
    }
    out.push(`${fmtPath(path)}: ${issue.message}`);
  }
  return out;
}

function fmtPath(path: (string | number | symbol)[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** Validates an already-parsed city object. */
export function parseCity(value: unknown, source = 'city'): City {
  const r = citySchema.safeParse(value);
  if (!r.success) throw new CityConfigError(source, describeCityIssues(r.error.issues));
  return r.data;
}

/** Loads and validates a city from YAML (or JSON) text. */
export function parseCityYaml(text: string, source = 'city'): City {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new CityConfigError(source, [`not valid YAML: ${(err as Error).message}`]);
  }
  return parseCity(value, source);
}

/** Loads a city model file; throws CityConfigError naming each bad field. */
export function loadCity(path: string): City {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CityConfigError(path, [`cannot read: ${(err as Error).message}`]);
  }
  return parseCityYaml(text, path);
}

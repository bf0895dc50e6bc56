/**
 * Loads a scenario: YAML or JSON text → `extends` resolved → zod-validated → city resolved
 * (inline, or a file plus changes) → semantic checks against the city (ids, input names, CSV
 * columns and lengths) → warnings → content hash. Every problem names its field, e.g.
 * `units[2].phaseOut: ...`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { describeCityIssues } from '../coupling/model/load.ts';
import { collectInputs, type InputRegistry } from '../coupling/model/inputs.ts';
import { citySchema, type City } from '../coupling/model/schema.ts';
import { readCsvTable, type CsvTable } from './csv.ts';
import { canonicalJson, overlay } from './merge.ts';
import { scenarioSchema, type ScenarioSpec } from './schema.ts';
import { buildTimeline, type Timeline } from './time.ts';
import { scenarioWarnings } from './warnings.ts';

/** The project root, from this module's location (not the working directory). */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
/** Scenarios shipped with the product. */
export const shippedScenarioDir = resolve(projectRoot, 'config/scenarios');
/** Public reference data next to the project (read in place, never copied). */
export const sharedDataDir = resolve(projectRoot, '../shared/data');

export interface ScenarioIssue {
  path: string;
  message: string;
}

export class ScenarioConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ScenarioIssue[],
  ) {
    super(`${source}: invalid scenario:\n  - ${issues.map((i) => `${i.path}: ${i.message}`).join('\n  - ')}`);
    this.name = 'ScenarioConfigError';
  }
}

export interface LoadOptions {
  /** Where relative paths in the text resolve from (a file's own directory). */
  baseDir?: string;
  /** When set, every file the scenario reads must lie inside one of these directories. */
  allowedRoots?: string[];
  /** Name for messages. */
  source?: string;
}

export interface ResolvedScenario {
  spec: ScenarioSpec;
  city: City;
  registry: InputRegistry;
  timeline: Timeline;
  sources: Map<string, CsvTable>;
  /** sha256 over the merged scenario, the resolved city and the bytes of every profile file. */
  hash: string;
  warnings: ScenarioIssue[];
  source: string;
  /** The merged scenario (after `extends`) as plain data, for the run record. */
  merged: Record<string, unknown>;
}

type Path = (string | number)[];

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const s = String(p);
      out += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? (out === '' ? s : `.${s}`) : `[${JSON.stringify(s)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

function zodIssues(issues: readonly z.core.$ZodIssue[], prefix: Path = []): ScenarioIssue[] {
  const out: ScenarioIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as Path)];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: formatPath([...path, k]), message: `unknown field "${k}"` });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest (fewest issues beyond a wrong top-level type).
      const branches = issue.errors.filter((b) => !b.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'unrecognized_keys')));
      const best = (branches.length > 0 ? branches : issue.errors).reduce((a, b) => (b.length < a.length ? b : a));
      if (branches.length === 0) out.push({ path: formatPath(path), message: issue.message });
      else out.push(...zodIssues(best, path));
    } else out.push({ path: formatPath(path), message: issue.message });
  }
  return out;
}

function parseText(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ScenarioConfigError(source, [{ path: '(root)', message: `not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}` }]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ScenarioConfigError(source, [{ path: '(root)', message: 'a scenario is a mapping (name, horizon, city, ...)' }]);
  }
  return value as Record<string, unknown>;
}

function checkAllowed(file: string, roots: string[] | undefined, path: string, source: string): void {
  if (!roots) return;
  const ok = roots.some((r) => {
    const rel = relative(resolve(r), file);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  });
  if (!ok) throw new ScenarioConfigError(source, [{ path, message: 'this file lies outside the directories scenarios may read' }]);
}

/** Makes the relative file paths of one raw scenario absolute, against its own directory. */
function absolutize(raw: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const out = { ...raw };
  if (typeof out.cityFile === 'string') out.cityFile = resolve(baseDir, out.cityFile);
  const profiles = out.profiles as Record<string, unknown> | undefined;
  const sources = profiles && typeof profiles === 'object' ? (profiles.sources as Record<string, unknown> | undefined) : undefined;
  if (sources && typeof sources === 'object') {
    const s2: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(sources)) {
      s2[k] = v && typeof v === 'object' && typeof (v as Record<string, unknown>).file === 'string' ? { ...(v as object), file: resolve(baseDir, (v as { file: string }).file) } : v;
    }
    out.profiles = { ...profiles, sources: s2 };
  }
  return out;
}

function readRaw(text: string, baseDir: string, source: string, roots: string[] | undefined, depth: number, seen: string[]): Record<string, unknown> {
  const raw = absolutize(parseText(text, source), baseDir);
  const parent = raw.extends;
  if (parent === undefined) return raw;
  if (typeof parent !== 'string' || parent === '') throw new ScenarioConfigError(source, [{ path: 'extends', message: 'expected the path of another scenario file' }]);
  const file = resolve(baseDir, parent);
  checkAllowed(file, roots, 'extends', source);
  if (seen.includes(file)) throw new ScenarioConfigError(source, [{ path: 'extends', message: `extends itself in a cycle: ${[...seen, file].join(' → ')}` }]);
  if (depth >= 8) throw new ScenarioConfigError(source, [{ path: 'extends', message: 'more than 8 levels of extends' }]);
  let parentText: string;
  try {
    parentText = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ScenarioConfigError(source, [{ path: 'extends', message: `cannot read ${parent}: ${(err as Error).message}` }]);
  }
  const base = readRaw(parentText, dirname(file), file, roots, depth + 1, [...seen, file]);
  const { extends: _drop, ...child } = raw;
  return overlay(base, child) as Record<string, unknown>;
}

/** Loads a scenario file. */
export function loadScenarioFile(file: string, opts: Omit<LoadOptions, 'baseDir'> = {}): ResolvedScenario {
  const abs = resolve(file);
  const source = opts.source ?? file;
  checkAllowed(abs, opts.allowedRoots, '(file)', source);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ScenarioConfigError(source, [{ path: '(file)', message: `cannot read: ${(err as Error).message}` }]);
  }
  return parseScenario(text, { ...opts, baseDir: dirname(abs), source });
}

/** Parses and resolves scenario text (YAML or JSON). Throws ScenarioConfigError naming each bad field. */
export function parseScenario(text: string, opts: LoadOptions = {}): ResolvedScenario {
  const source = opts.source ?? 'scenario';
  const baseDir = opts.baseDir ?? shippedScenarioDir;
  const merged = readRaw(text, baseDir, source, opts.allowedRoots, 0, []);
  const parsed = scenarioSchema.safeParse(merged);
  if (!parsed.success) throw new ScenarioConfigError(source, zodIssues(parsed.error.issues));
  const spec = parsed.data;
  const issues: ScenarioIssue[] = [];

  // ---- city: inline, or a file plus changes
  let cityRaw: unknown = spec.city;
  if (spec.cityFile !== undefined) {
    checkAllowed(spec.cityFile, opts.allowedRoots, 'cityFile', source);
    let base: unknown;
    try {
      base = parseYaml(readFileSync(spec.cityFile, 'utf8'));
    } catch (err) {
      throw new ScenarioConfigError(source, [{ path: 'cityFile', message: `cannot read the city model: ${(err as Error).message.split('\n')[0]}` }]);
    }
    cityRaw = overlay(base, spec.city);
  }
  if (cityRaw === undefined) throw new ScenarioConfigError(source, [{ path: 'city', message: 'give the city model inline (city) or as a file (cityFile)' }]);
  const cityParsed = citySchema.safeParse(cityRaw);
  if (!cityParsed.success) {
    const prefix = spec.cityFile !== undefined ? 'city (cityFile with changes)' : 'city';
    throw new ScenarioConfigError(
      source,
      describeCityIssues(cityParsed.error.issues, ['city']).map((line) => {
        const i = line.indexOf(': ');
        return { path: line.slice(0, i), message: i >= 0 ? `${line.slice(i + 2)} [${prefix}]` : line };
      }),
    );
  }
  const city = structuredClone(cityParsed.data);

  // ---- horizon
  let timeline: Timeline | undefined;
  const fromMs = spec.horizon.from;
  const toMs = spec.horizon.to ?? Date.UTC(new Date(fromMs).getUTCFullYear() + 1, new Date(fromMs).getUTCMonth(), new Date(fromMs).getUTCDate(), new Date(fromMs).getUTCHours());
  if (!(toMs > fromMs)) issues.push({ path: 'horizon.to', message: 'must be after horizon.from' });
  else if (toMs - fromMs > 61 * 366 * 86_400_000) issues.push({ path: 'horizon.to', message: 'a horizon spans at most 60 years' });
  else {
    try {
      timeline = buildTimeline(fromMs, toMs, spec.horizon.resolution);
    } catch (err) {
      issues.push({ path: 'horizon', message: (err as Error).message });
    }
  }

  // ---- unit and storage plans
  const unitKinds = new Map(city.units.map((u) => [u.id, u.kind]));
  const storageIds = new Set(city.storages.map((s) => s.id));
  const sizable = new Set(['gas_boiler', 'electric_boiler', 'heat_pump']);
  const seenPlan = new Set<string>();
  spec.units.forEach((p, i) => {
    const at = (f?: string) => formatPath(f ? ['units', i, ...f.split('.')] : ['units', i]);
    if (seenPlan.has(p.id)) issues.push({ path: at('id'), message: `"${p.id}" is listed twice` });
    seenPlan.add(p.id);
    const kind = unitKinds.get(p.id);
    if (kind === undefined) {
      issues.push({ path: at('id'), message: `no unit "${p.id}" in the city (units: ${[...unitKinds.keys()].join(', ') || 'none'})` });
      return;
    }
    if (p.phaseIn !== undefined && p.phaseOut !== undefined && p.phaseOut <= p.phaseIn) {
      issues.push({ path: at('phaseOut'), message: `must be after phaseIn (${new Date(p.phaseIn).toISOString()})` });
    }
    if (p.size) {
      const u = city.units.find((x) => x.id === p.id)!;
      if (!sizable.has(kind)) issues.push({ path: at('size'), message: `sizing supports gas_boiler, electric_boiler and heat_pump, not ${kind}` });
      else if (p.size.annualCostEurPerMw === undefined && (p.size.capexEurPerMw === undefined || p.size.lifetimeYears === undefined)) {
        issues.push({ path: at('size'), message: 'give annualCostEurPerMw, or capexEurPerMw with lifetimeYears (and interestRate)' });
      } else if (p.size.annualCostEurPerMw !== undefined && p.size.capexEurPerMw !== undefined) {
        issues.push({ path: at('size.capexEurPerMw'), message: 'give annualCostEurPerMw or capexEurPerMw, not both' });
      }
      if ('heatMinMw' in u && u.heatMinMw > 0) issues.push({ path: at('size'), message: `a sized unit cannot have a minimum output (heatMinMw ${u.heatMinMw} in the city)` });
      const max = p.size.maxMw ?? ('heatMaxMw' in u ? u.heatMaxMw : undefined) ?? 0;
      if (p.size.minMw > max) issues.push({ path: at('size.minMw'), message: `exceeds maxMw (${max})` });
      else if ('heatMaxMw' in u) (u as { heatMaxMw: number }).heatMaxMw = max;
    }
  });
  const seenStorage = new Set<string>();
  spec.storages.forEach((p, i) => {
    const at = (f?: string) => formatPath(f ? ['storages', i, ...f.split('.')] : ['storages', i]);
    if (seenStorage.has(p.id)) issues.push({ path: at('id'), message: `"${p.id}" is listed twice` });
    seenStorage.add(p.id);
    if (!storageIds.has(p.id)) {
      issues.push({ path: at('id'), message: `no storage "${p.id}" in the city (storages: ${[...storageIds].join(', ') || 'none'})` });
      return;
    }
    if (p.phaseIn !== undefined && p.phaseOut !== undefined && p.phaseOut <= p.phaseIn) {
      issues.push({ path: at('phaseOut'), message: `must be after phaseIn (${new Date(p.phaseIn).toISOString()})` });
    }
    if (p.size) {
      const s = city.storages.find((x) => x.id === p.id)!;
      if (p.size.annualCostEurPerMWh === undefined && (p.size.capexEurPerMWh === undefined || p.size.lifetimeYears === undefined)) {
        issues.push({ path: at('size'), message: 'give annualCostEurPerMWh, or capexEurPerMWh with lifetimeYears (and interestRate)' });
      }
      if (spec.run.storageBoundary !== 'cyclic') issues.push({ path: at('size'), message: 'sizing a storage needs run.storageBoundary: cyclic' });
      const max = p.size.maxMWh ?? s.capacityMWh;
      if (p.size.minMWh > max) issues.push({ path: at('size.minMWh'), message: `exceeds maxMWh (${max})` });
      else {
        const ratioC = p.size.powerPerEnergy ?? s.chargeMaxMw / s.capacityMWh;
        const ratioD = p.size.powerPerEnergy ?? s.dischargeMaxMw / s.capacityMWh;
        s.capacityMWh = max;
        s.chargeMaxMw = ratioC * max;
        s.dischargeMaxMw = ratioD * max;
      }
    }
  });
  const sizing = spec.units.some((u) => u.size) || spec.storages.some((s) => s.size);
  if (sizing && spec.run.mode === 'rolling') issues.push({ path: 'run.mode', message: 'capacity sizing needs perfect foresight (use perfect_foresight or both)' });

  // ---- inputs, profiles, paths
  const registry = collectInputs(city);
  const inputNames = () => registry.defs.map((d) => d.name).join(', ');
  const sources = new Map<string, CsvTable>();
  for (const [id, src] of Object.entries(spec.profiles.sources)) {
    const path = formatPath(['profiles', 'sources', id, 'file']);
    checkAllowed(src.file, opts.allowedRoots, path, source);
    try {
      sources.set(id, readCsvTable(src.file, src.separator));
    } catch (err) {
      issues.push({ path, message: `cannot read: ${(err as Error).message}` });
    }
  }
  const periods = timeline?.periods ?? 0;
  const checkColumn = (path: Path, ref: { source: string; column: string }) => {
    const table = sources.get(ref.source);
    if (!table) {
      if (!(ref.source in spec.profiles.sources)) issues.push({ path: formatPath([...path, 'source']), message: `no source "${ref.source}" in profiles.sources` });
      return;
    }
    const col = table.column(ref.column);
    if ('error' in col) {
      issues.push({ path: formatPath([...path, 'column']), message: col.error });
      return;
    }
    const n = col.length;
    if (![8760, 8784, 35040, 35136].includes(n) && n !== periods) {
      issues.push({
        path: formatPath(path),
        message: `${n} rows; a profile covers one year (8760 or 8784 hourly, 35040 or 35136 quarter-hourly rows) or the whole horizon (${periods} rows)`,
      });
    }
  };
  for (const [name, s] of Object.entries(spec.profiles.series)) {
    const path: Path = ['profiles', 'series', name];
    const idx = registry.byName.get(name);
    if (idx === undefined) {
      issues.push({ path: formatPath(path), message: `the city has no input ${name} (inputs: ${inputNames()})` });
      continue;
    }
    if ('source' in s) checkColumn(path, s);
    else if ('siglinde' in s && registry.defs[idx]!.quantity !== 'power') {
      issues.push({ path: formatPath([...path, 'siglinde']), message: `SigLinDe gives heat demand in MW; ${name} is a ${registry.defs[idx]!.quantity}` });
    }
  }
  const temp = spec.profiles.weather.temperatureC;
  if (temp && 'source' in temp) {
    checkColumn(['profiles', 'weather', 'temperatureC'], temp);
    const col = sources.get(temp.source)?.column(temp.column);
    if (col && !('error' in col) && ![8760, 8784, 35040, 35136].includes(col.length)) {
      issues.push({ path: 'profiles.weather.temperatureC', message: 'temperatures must cover one typical year (8760/8784 hourly or 35040/35136 quarter-hourly rows)' });
    }
  }
  for (const kind of ['scale', 'add'] as const) {
    for (const name of Object.keys(spec.paths[kind])) {
      if (!registry.byName.has(name)) issues.push({ path: formatPath(['paths', kind, name]), message: `the city has no input ${name} (inputs: ${inputNames()})` });
    }
  }
  if (issues.length > 0 || !timeline) throw new ScenarioConfigError(source, issues);

  // ---- hash: the merged scenario without machine-specific paths, the city, the profile bytes
  const { cityFile: _c, extends: _e, ...forHash } = merged;
  const fileHashes: Record<string, string> = {};
  for (const [id, t] of sources) fileHashes[id] = t.sha256;
  const hashInput = canonicalJson({ scenario: stripFiles(forHash), city, files: fileHashes });
  const hash = createHash('sha256').update(hashInput).digest('hex');

  return { spec, city, registry, timeline, sources, hash, warnings: scenarioWarnings(spec, city, timeline), source, merged };
}

function stripFiles(raw: Record<string, unknown>): Record<string, unknown> {
  const profiles = raw.profiles as Record<string, unknown> | undefined;
  if (!profiles?.sources) return raw;
  const sources: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(profiles.sources as Record<string, Record<string, unknown>>)) {
    const { file: _f, ...rest } = v;
    sources[k] = rest;
  }
  return { ...raw, city: undefined, profiles: { ...profiles, sources } };
}

/** A shipped scenario by name (`config/scenarios/{name}.yaml`), or undefined. */
export function shippedScenarioPath(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name) || name.includes('..')) return undefined;
  const file = resolve(shippedScenarioDir, `${name}.yaml`);
  return file.startsWith(shippedScenarioDir + sep) ? file : undefined;
}

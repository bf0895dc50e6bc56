/**
 * Planning sanity warnings (the scenario still runs):
 * - a phase-in with no fossil phase-out within `phaseMatchYears`: capacity is added, none retired;
 * - a fossil unit still running after the end of the target year.
 */
import type { City } from '../coupling/model/schema.ts';
import type { ScenarioSpec } from './schema.ts';
import type { Timeline } from './time.ts';

export interface Warning {
  path: string;
  message: string;
}

const YEAR_MS = 365.25 * 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function isFossilKind(kind: string): boolean {
  return kind === 'gas_boiler' || kind === 'gas_chp';
}

export function scenarioWarnings(spec: ScenarioSpec, city: City, timeline: Timeline): Warning[] {
  const out: Warning[] = [];
  const planOf = new Map(spec.units.map((p, i) => [p.id, { p, i }]));
  const fossil = (id: string, kind: string) => planOf.get(id)?.p.fossil ?? isFossilKind(kind);
  const fossilOuts = city.units.filter((u) => fossil(u.id, u.kind)).flatMap((u) => (planOf.get(u.id)?.p.phaseOut !== undefined ? [planOf.get(u.id)!.p.phaseOut!] : []));

  spec.units.forEach((p, i) => {
    const u = city.units.find((x) => x.id === p.id);
    if (!u || p.phaseIn === undefined || fossil(u.id, u.kind)) return;
    const match = fossilOuts.some((out) => Math.abs(out - p.phaseIn!) <= spec.phaseMatchYears * YEAR_MS);
    if (!match) {
      out.push({
        path: `units[${i}].phaseIn`,
        message: `${p.id} is phased in on ${day(p.phaseIn)} but no fossil unit is phased out within ${spec.phaseMatchYears} years of it: capacity is added, none retired`,
      });
    }
  });
  spec.storages.forEach((p, i) => {
    if (p.phaseIn === undefined) return;
    const match = fossilOuts.some((out) => Math.abs(out - p.phaseIn!) <= spec.phaseMatchYears * YEAR_MS);
    if (!match) {
      out.push({ path: `storages[${i}].phaseIn`, message: `${p.id} is phased in on ${day(p.phaseIn)} but no fossil unit is phased out within ${spec.phaseMatchYears} years of it` });
    }
  });

  if (spec.targetYear !== undefined) {
    const endOfTarget = Date.UTC(spec.targetYear + 1, 0, 1);
    city.units.forEach((u, ci) => {
      if (!fossil(u.id, u.kind)) return;
      const plan = planOf.get(u.id);
      const outAt = plan?.p.phaseOut;
      if (outAt === undefined) {
        out.push({
          path: plan ? `units[${plan.i}].phaseOut` : `city.units[${ci}]`,
          message: `fossil unit ${u.id} has no phase-out date and outlives the target year ${spec.targetYear}`,
        });
      } else if (outAt > endOfTarget) {
        out.push({ path: `units[${plan!.i}].phaseOut`, message: `fossil unit ${u.id} is phased out on ${day(outAt)}, after the target year ${spec.targetYear}` });
      }
    });
  }
  if (spec.targetYear !== undefined && spec.targetYear > new Date(timeline.toMs - 1).getUTCFullYear()) {
    out.push({ path: 'targetYear', message: `the target year ${spec.targetYear} lies after the horizon (which ends ${day(timeline.toMs)})` });
  }
  return out;
}

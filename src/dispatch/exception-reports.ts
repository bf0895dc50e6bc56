/**
 * What goes out by exception (as Sparkplug reports by exception) on the retained dispatch topics
 * `.../alarms` and `.../units/{unit}`: a message at the first tick, then only when it would say
 * something new. A new subscriber still gets the current ones at once. Pure: results in, messages out.
 */
import { round6 } from '../common/round.ts';
import type { DispatchAlarm, DispatchAlarmsMessage, DispatchResult, DispatchUnitMessage } from '../coupling/index.ts';
import type { Component, UnitControl } from './control.ts';

/** One alarm by level, code and input: its message text carries ages that change every tick. */
export const alarmId = (a: DispatchAlarm): string => `${a.level}:${a.code}:${a.input ?? ''}`;

/** A set of alarms, by their alarmIds. */
export function alarmKey(alarms: readonly DispatchAlarm[]): string {
  return alarms.map(alarmId).sort().join('|');
}

/** The alarms message when the set of alarms or the tick status changed. */
export class AlarmReports {
  private last: string | undefined;

  due(r: DispatchResult): DispatchAlarmsMessage | undefined {
    const key = `${r.status}|${alarmKey(r.alarms)}`;
    if (key === this.last) return undefined;
    this.last = key;
    return { ts: r.ts, tick: r.tick, status: r.status, alarms: r.alarms };
  }
}

/** A unit's message when its recommendation moved beyond its deadband since the last one, or its mode or status changed. */
export class UnitReports {
  private readonly sent = new Map<string, { valueMw: number; mode: DispatchUnitMessage['mode']; status: DispatchUnitMessage['status'] }>();

  constructor(private readonly control: Pick<UnitControl, 'components' | 'deadband' | 'mode'>) {}

  /** The messages due after a tick; none after a failed one, which holds the last setpoints. */
  due(r: DispatchResult, values: ReadonlyMap<string, number>): DispatchUnitMessage[] {
    if (r.status !== 'optimal') return [];
    const out: DispatchUnitMessage[] = [];
    const explanations = r.explanations;
    for (const c of this.control.components) {
      const valueMw = values.get(c.id);
      if (valueMw === undefined) continue;
      const mode = this.control.mode(c.id);
      const explanation = explanations[c.id];
      const status = explanation?.status;
      const last = this.sent.get(c.id);
      if (last && last.mode === mode && last.status === status && Math.abs(valueMw - last.valueMw) <= this.control.deadband(c)) continue;
      this.sent.set(c.id, { valueMw, mode, status });
      out.push(message(r, c, valueMw, mode, explanation));
    }
    return out;
  }
}

function message(r: DispatchResult, c: Component, valueMw: number, mode: DispatchUnitMessage['mode'], explanation: DispatchResult['explanations'][string] | undefined): DispatchUnitMessage {
  return {
    ts: r.ts,
    tick: r.tick,
    unit: c.id,
    kind: c.kind,
    ...(c.zone !== undefined ? { zone: c.zone } : {}),
    field: c.target?.field ?? c.field,
    valueMw: round6(valueMw),
    mode,
    ...(explanation ? { status: explanation.status, binding: explanation.binding } : {}),
  };
}

/**
 * What goes out on qs/v1/{tenant}/dispatch/units/{unit}, by exception (as Sparkplug reports by
 * exception): a unit's message at the first tick, then only when its recommendation moved beyond
 * its deadband since the last message, or its mode or status changed. The topics are retained, so
 * a new subscriber still gets every unit's current message at once. Pure: results in, messages out.
 */
import { round6 } from '../common/round.ts';
import type { DispatchResult, DispatchUnitMessage } from '../coupling/index.ts';
import type { Component, UnitControl } from './control.ts';

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

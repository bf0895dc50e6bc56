/**
 * Advisory and automatic mode per unit (and storage). Advisory, the default, only recommends.
 * Automatic sends the recommended setpoint to the device that controls the unit (coupling[].controls)
 * as a `setpoint` command on its cmd topic, whenever it moved by more than the deadband, and
 * tracks the device's ack: pending → acked | refused | timed_out (a timed-out command is re-sent
 * on a later tick). Every mode change, command and ack goes to the audit trail.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { City, DispatchResult, setpointFields } from '../coupling/index.ts';
import { formatTopic, idSchema, normalise, quantityOf, setpointCommandSchema, type AckPayload } from '../contract/index.ts';
import type { ControlTarget } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import { unitModes, type AuditEntry, type CommandState, type CommandView, type UnitMode, type UnitView } from './schemas.ts';

export type SetpointField = (typeof setpointFields)[number];

/** A unit or storage of the city, as far as control is concerned. */
export interface Component {
  id: string;
  kind: string;
  zone: string | undefined;
  /** Rated power for the relative deadband, MW. */
  ratedMw: number;
  /** What a recommendation means for this component when no control mapping says otherwise. */
  field: SetpointField;
  target: ResolvedTarget | undefined;
}

export interface ResolvedTarget {
  device: string;
  metric: string;
  unit: string;
  field: SetpointField;
  /** Command units per MW. */
  perMw: number;
  topic: string;
}

function defaultField(kind: string, metric?: string): SetpointField {
  if (kind === 'storage') return 'netChargeMw';
  if (metric === 'el_power' || kind === 'pv' || kind === 'wind' || kind === 'grid') return 'elMw';
  if (kind === 'waste_heat_source') return 'sourceHeatMw';
  return 'heatMw';
}

function ratedMw(u: City['units'][number]): number {
  switch (u.kind) {
    case 'gas_boiler':
    case 'electric_boiler':
    case 'heat_pump':
      return u.heatMaxMw;
    case 'gas_chp':
      return u.heatMaxMw ?? u.elMaxMw;
    case 'wte_chp':
      return u.wasteMaxTph * u.lhvMWhPerT * u.etaTh;
    case 'pv':
    case 'wind':
      return u.capacityMw;
    case 'grid':
      return Math.max(u.importMaxMw, u.exportMaxMw);
    case 'waste_heat_source':
      return u.directMaxMw ?? 0;
  }
}

/** Validates the control mappings against the city; the error names the config field. */
export function resolveComponents(city: City, tenant: string, controls: Record<string, ControlTarget>, path: string): Component[] {
  const components: Component[] = [
    ...city.units.map((u) => ({ id: u.id, kind: u.kind as string, zone: 'zone' in u ? u.zone : u.kind === 'waste_heat_source' ? u.directZone : undefined, ratedMw: ratedMw(u) })),
    ...city.storages.map((s) => ({ id: s.id, kind: 'storage', zone: s.zone as string | undefined, ratedMw: Math.max(s.chargeMaxMw, s.dischargeMaxMw) })),
  ].map((c) => ({ ...c, field: defaultField(c.kind), target: undefined as ResolvedTarget | undefined }));
  const byId = new Map(components.map((c) => [c.id, c]));
  for (const [id, t] of Object.entries(controls)) {
    const at = `${path}.controls.${id}`;
    const c = byId.get(id);
    if (!c) throw new Error(`${at}: the city "${city.name}" has no unit or storage "${id}" (it has ${[...byId.keys()].join(', ')})`);
    const parts = t.device.split('/');
    if (parts.length > 2 || parts.some((p) => !idSchema.safeParse(p).success)) {
      throw new Error(`${at}.device: "${t.device}" is not a device id (gateway or gateway/subdevice, each 1-64 chars of A-Z a-z 0-9 _ . -)`);
    }
    if (quantityOf(t.unit) !== 'power') throw new Error(`${at}.unit: "${t.unit}" is not a power unit (use kW, MW or W)`);
    const field = t.field ?? defaultField(c.kind, t.metric);
    if ((field === 'netChargeMw') !== (c.kind === 'storage')) {
      throw new Error(`${at}.field: "${field}" ${c.kind === 'storage' ? 'does not apply to a storage (use netChargeMw)' : 'applies to storages only'}`);
    }
    const kwPerUnit = (normalise(1, t.unit) as { value: number }).value;
    c.target = {
      device: t.device,
      metric: t.metric,
      unit: t.unit,
      field,
      perMw: 1000 / kwPerUnit,
      topic: formatTopic({ tenant, gateway: parts[0]!, ...(parts[1] ? { subdevice: parts[1] } : {}), kind: 'cmd' }),
    };
  }
  return components;
}

/** The value a recommendation carries for the component, MW; undefined when the result lacks it. */
export function recommendedMw(r: DispatchResult, c: Component, field: SetpointField = c.target?.field ?? c.field): number | undefined {
  if (c.kind === 'storage') {
    const s = r.storage[c.id];
    return s ? s.chargeMw - s.dischargeMw : undefined;
  }
  const sp = r.setpoints[c.id];
  if (!sp) return undefined;
  switch (field) {
    case 'heatMw':
      return sp.heatMw;
    case 'elMw':
      // Consumers report electricity as negative; their devices take a positive input power.
      return c.kind === 'heat_pump' || c.kind === 'electric_boiler' ? -sp.elMw : sp.elMw;
    case 'sourceHeatMw':
      return sp.sourceHeatMw ?? sp.output;
    case 'output':
      return sp.output;
    case 'netChargeMw':
      return undefined;
  }
}

interface CommandRecord extends CommandView {
  unitId: string;
  device: string;
  sentAt: number;
}

export interface ControlOptions {
  tenant: string;
  components: Component[];
  /** Publishes a command (QoS 1). */
  send: (topic: string, payload: string) => Promise<void>;
  audit: (e: AuditEntry) => void;
  log: Logger;
  ackTimeoutMs: number;
  deadbandMw: number;
  deadbandFraction: number;
  /** Where modes survive restarts. */
  modesFile: string;
  now?: () => number;
}

export type ModeChange = { ok: true; view: UnitView } | { ok: false; status: 404 | 409; message: string };

const modesFileSchema = z.object({ modes: z.record(z.string(), z.enum(unitModes)) });

export class UnitControl {
  private readonly byId: Map<string, Component>;
  private readonly modes = new Map<string, UnitMode>();
  private readonly lastCommand = new Map<string, CommandRecord>();
  private readonly pending = new Map<string, { cmd: CommandRecord; timer: NodeJS.Timeout }>();
  private readonly now: () => number;
  private last: { ts: number; values: Map<string, number> } | undefined;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;
  /** Commands published since start. */
  commandsSent = 0;

  constructor(private readonly o: ControlOptions) {
    this.byId = new Map(o.components.map((c) => [c.id, c]));
    this.now = o.now ?? Date.now;
  }

  get components(): readonly Component[] {
    return this.o.components;
  }

  /** Restores automatic modes saved before a restart (only where a control mapping still exists). */
  async loadModes(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.o.modesFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read ${this.o.modesFile}: ${(err as Error).message}`);
    }
    const parsed = modesFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      this.o.log.warn({ file: this.o.modesFile }, 'unit modes file is invalid; every unit starts in advisory mode');
      return;
    }
    for (const [id, mode] of Object.entries(parsed.data.modes)) {
      const c = this.byId.get(id);
      if (mode === 'automatic' && c?.target) this.modes.set(id, 'automatic');
      else if (mode === 'automatic') this.o.log.warn({ unit: id }, 'unit was automatic but has no control mapping any more; it stays advisory');
    }
  }

  mode(id: string): UnitMode {
    return this.modes.get(id) ?? 'advisory';
  }

  /** Every recommended value of a result (MW), by component. */
  recommendations(r: DispatchResult): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.o.components) {
      const v = recommendedMw(r, c);
      if (v !== undefined && Number.isFinite(v)) out.set(c.id, v);
    }
    return out;
  }

  deadband(c: Component): number {
    return Math.max(this.o.deadbandMw, this.o.deadbandFraction * c.ratedMw);
  }

  /** After each tick: remember the recommendation; in automatic mode send what moved. Returns the commands sent. */
  onResult(r: DispatchResult, values: Map<string, number>): number {
    this.last = { ts: r.ts, values };
    if (r.status !== 'optimal' || this.closed) return 0; // a failed tick holds the last setpoints
    let sent = 0;
    for (const [id, mode] of this.modes) {
      if (mode !== 'automatic') continue;
      const c = this.byId.get(id)!;
      const v = values.get(id);
      if (v === undefined || !c.target) continue;
      const prev = this.lastCommand.get(id);
      // A refused value is not repeated; one that went unanswered is (once per ack timeout).
      if (!prev || Math.abs(v - prev.valueMw) > this.deadband(c) || prev.state === 'timed_out') {
        this.send(c, v, r.tick);
        sent++;
      }
    }
    return sent;
  }

  setMode(id: string, mode: UnitMode, by: string, latest: DispatchResult | undefined): ModeChange {
    const c = this.byId.get(id);
    if (!c) return { ok: false, status: 404, message: `no unit or storage "${id}" in this city` };
    if (mode === 'automatic' && !c.target) {
      return { ok: false, status: 409, message: `unit "${id}" has no control mapping (coupling[].controls.${id}: {device, metric}) so it can only be advisory` };
    }
    const from = this.mode(id);
    if (from !== mode) {
      if (mode === 'automatic') this.modes.set(id, mode);
      else this.modes.delete(id);
      this.o.audit({ type: 'mode', ts: this.now(), unit: id, from, to: mode, by });
      this.saveModes();
      // Switching to automatic acts on the current recommendation at once.
      if (mode === 'automatic' && latest?.status === 'optimal') {
        const v = recommendedMw(latest, c);
        if (v !== undefined && Number.isFinite(v)) this.send(c, v, latest.tick);
      }
    }
    return { ok: true, view: this.view(c) };
  }

  private send(c: Component, valueMw: number, tick: number): void {
    const t = c.target!;
    const ts = this.now();
    const value = Math.round(valueMw * t.perMw * 1000) / 1000;
    const id = randomUUID();
    const payload = setpointCommandSchema.parse({ id, type: 'setpoint', ts, metric: t.metric, value, unit: t.unit });
    const cmd: CommandRecord = { id, ts, tick, value, unit: t.unit, valueMw, state: 'pending', unitId: c.id, device: t.device, sentAt: ts };
    this.lastCommand.set(c.id, cmd);
    this.commandsSent++;
    const timer = setTimeout(() => this.timedOut(id), this.o.ackTimeoutMs);
    timer.unref();
    this.pending.set(id, { cmd, timer });
    this.o.audit({ type: 'command', ts, unit: c.id, id, tick, device: t.device, metric: t.metric, value, valueUnit: t.unit, valueMw });
    this.o.send(t.topic, JSON.stringify(payload)).catch((err: Error) => this.o.log.warn({ err, unit: c.id, device: t.device }, 'could not publish a setpoint command; it will time out'));
  }

  /** An ack from a device of this tenant; true when it answered one of our commands. */
  onAck(device: string, ack: AckPayload): boolean {
    const p = this.pending.get(ack.id);
    if (!p) return false;
    // Only the device the command went to may settle it.
    if (p.cmd.device !== device) {
      this.o.log.warn({ device, expected: p.cmd.device, id: ack.id }, 'ack for a command sent to another device; ignored');
      return false;
    }
    clearTimeout(p.timer);
    this.pending.delete(ack.id);
    const now = this.now();
    this.settle(p.cmd, ack.ok ? 'acked' : 'refused', now, ack.reason);
    this.o.audit({ type: 'ack', ts: now, unit: p.cmd.unitId, id: ack.id, device, ok: ack.ok, ...(ack.reason !== undefined ? { reason: ack.reason } : {}), latencyMs: now - p.cmd.sentAt });
    return true;
  }

  private timedOut(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const now = this.now();
    this.settle(p.cmd, 'timed_out', now);
    this.o.audit({ type: 'ack_timeout', ts: now, unit: p.cmd.unitId, id, device: p.cmd.device, afterMs: now - p.cmd.sentAt });
  }

  private settle(cmd: CommandRecord, state: CommandState, at: number, reason?: string): void {
    cmd.state = state;
    cmd.settledAt = at;
    if (reason !== undefined) cmd.reason = reason;
  }

  view(c: Component): UnitView {
    const cmd = this.lastCommand.get(c.id);
    const sp = this.last?.values.get(c.id);
    return {
      unit: c.id,
      kind: c.kind,
      ...(c.zone !== undefined ? { zone: c.zone } : {}),
      mode: this.mode(c.id),
      controllable: c.target !== undefined,
      ...(c.target ? { control: { device: c.target.device, metric: c.target.metric, unit: c.target.unit, field: c.target.field } } : {}),
      setpointMw: sp ?? null,
      setpointTs: sp !== undefined ? this.last!.ts : null,
      lastCommand: cmd
        ? {
            id: cmd.id,
            ts: cmd.ts,
            tick: cmd.tick,
            value: cmd.value,
            unit: cmd.unit,
            valueMw: cmd.valueMw,
            state: cmd.state,
            ...(cmd.reason !== undefined ? { reason: cmd.reason } : {}),
            ...(cmd.settledAt !== undefined ? { settledAt: cmd.settledAt } : {}),
          }
        : null,
    };
  }

  views(): UnitView[] {
    return this.o.components.map((c) => this.view(c));
  }

  private saveModes(): void {
    const modes = Object.fromEntries(this.modes);
    const file = this.o.modesFile;
    this.saving = this.saving.then(async () => {
      try {
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file + '.tmp', JSON.stringify({ modes }, null, 2) + '\n');
        await rename(file + '.tmp', file);
      } catch (err) {
        this.o.log.error({ err, file }, 'could not save unit modes');
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    await this.saving;
  }
}

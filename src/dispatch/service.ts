/**
 * The live dispatch of one tenant: its accepted readings feed the coupling engine, which ticks
 * on an interval and soon after a bound input changed. Each result is published on MQTT
 * (retained `qs/v1/{tenant}/dispatch/latest`, a small `.../kpis`, and `.../alarms` and
 * `.../units/{unit}` by exception), pushed to live streams, acted on by units in automatic mode,
 * stored as series of the reserved device `dispatch` (at most every seriesIntervalMs) and recorded
 * in the audit trail when it changed.
 *
 * Nothing here may take the server down: every step after the (never-throwing) tick is guarded.
 */
import { join } from 'node:path';
import { round6 } from '../common/round.ts';
import { createDispatchEngine, type City, type DispatchEngine, type DispatchKpiMessage, type DispatchResult } from '../coupling/index.ts';
import { dispatchPublishOptions, dispatchTopic, type AckPayload } from '../contract/index.ts';
import type { CouplingEntry } from '../config/schema.ts';
import type { DurableWriter } from '../ingest/durable-writer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Reading } from '../store/types.ts';
import { AuditTrail } from './audit.ts';
import { UnitControl, type Component, type ModeChange } from './control.ts';
import { TickScheduler, type TickReason } from './scheduler.ts';
import { AlarmReports, alarmId, alarmKey, UnitReports } from './exception-reports.ts';
import type { AuditEntry, UnitMode, UnitView } from './schemas.ts';
import { DISPATCH_DEVICE, dispatchReadings } from './series.ts';

export type Publish = (topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }) => Promise<void>;

export interface DispatchServiceOptions {
  entry: CouplingEntry;
  city: City;
  components: Component[];
  dataDir: string;
  writer: Pick<DurableWriter, 'append'>;
  publish: Publish;
  log: Logger;
  /** Clock (epoch ms); default Date.now. */
  now?: () => number;
}

/** A tick as live consumers get it: the result and its JSON, serialised once. */
export type TickListener = (json: string, result: DispatchResult) => void;

const MAX_AUDIT_ALARMS = 50;

export interface DispatchStats {
  ticks: number;
  inputTicks: number;
  intervalTicks: number;
  readings: number;
  rejectedReadings: number;
  lastTickUs: number;
}

export class DispatchService {
  readonly tenant: string;
  readonly audit: AuditTrail;
  readonly control: UnitControl;
  private readonly scheduler: TickScheduler;
  private readonly unitReports: UnitReports;
  private readonly alarmReports = new AlarmReports();
  private readonly intervalMs: number;
  private lastReason: TickReason = 'interval';
  private readonly listeners = new Set<TickListener>();
  private readonly now: () => number;
  private latestResult: DispatchResult | undefined;
  private latestText: string | undefined;
  private lastSeriesAt = -Infinity;
  private seriesInFlight = new Set<Promise<void>>();
  private audited: { at: number; tick: number; status: string; alarmKey: string; values: Map<string, number> } | undefined;
  private readonly alarmsSinceAudit = new Map<string, DispatchResult['alarms'][number]>();
  private readonly errorsLoggedAt = new Map<string, number>();
  private closed = false;
  /** Bound inputs without a reading yet; the first tick waits for them (at most warmupMs). */
  private awaiting: Set<string> | undefined;
  readonly stats: DispatchStats = { ticks: 0, inputTicks: 0, intervalTicks: 0, readings: 0, rejectedReadings: 0, lastTickUs: 0 };

  static async create(o: DispatchServiceOptions): Promise<DispatchService> {
    // The storage plan runs in a worker thread, so a re-plan never delays a tick.
    const engine = await createDispatchEngine(o.city, { autoReplan: 'background', ...(o.now ? { now: o.now } : {}) });
    const service = new DispatchService(o, engine);
    await service.control.loadModes();
    return service;
  }

  private constructor(
    private readonly o: DispatchServiceOptions,
    readonly engine: DispatchEngine,
  ) {
    this.tenant = o.entry.tenant;
    this.now = o.now ?? Date.now;
    const log = o.log;
    this.audit = new AuditTrail(join(o.dataDir, 'audit', this.tenant), log, o.entry.auditRetentionDays, this.now);
    this.control = new UnitControl({
      tenant: this.tenant,
      components: o.components,
      send: (topic, payload) => o.publish(topic, payload, { qos: 1 }),
      audit: (e) => this.audit.append(e),
      log,
      ackTimeoutMs: o.entry.ackTimeoutMs,
      deadbandMw: o.entry.deadbandMw,
      deadbandFraction: o.entry.deadbandFraction,
      modesFile: join(o.dataDir, 'dispatch', this.tenant, 'modes.json'),
      now: this.now,
    });
    this.unitReports = new UnitReports(this.control);
    this.intervalMs = o.entry.tickMs ?? o.city.tickS * 1000;
    this.scheduler = new TickScheduler({
      intervalMs: this.intervalMs,
      minGapMs: o.entry.minTickGapMs,
      // tick() never throws by contract; a timer callback that did would end the process.
      run: (reason) => this.guard('tick', () => void this.tick(reason)),
      now: this.now,
    });
  }

  /**
   * Starts ticking. The first tick waits until every bound input has a reading, or warmupMs:
   * it is the reference the ramp limits of later ticks start from, so it should not rest on
   * safe defaults that live readings are about to replace.
   */
  start(): void {
    this.awaiting = new Set(this.engine.inputBindings().map((b) => b.input));
    if (this.awaiting.size === 0 || this.o.entry.warmupMs === 0) this.awaiting = undefined;
    this.scheduler.start(this.awaiting ? this.o.entry.warmupMs : 0);
  }

  /** Inputs the first tick still waits for (empty once ticking). */
  get waitingFor(): string[] {
    return this.awaiting ? [...this.awaiting] : [];
  }

  get latest(): DispatchResult | undefined {
    return this.latestResult;
  }

  get latestJson(): string | undefined {
    return this.latestText;
  }

  /** Live results; returns the unsubscribe function. */
  subscribe(listener: TickListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Accepted (durable) readings of this tenant. */
  onReadings(device: string, readings: readonly Reading[]): void {
    if (this.closed) return;
    let changed = false;
    for (const r of readings) {
      const out = this.engine.ingest(device, r.metric, r.value, r.ts);
      this.stats.readings++;
      if ('rejected' in out) {
        // The next tick carries the alarm; tick soon so it shows.
        this.stats.rejectedReadings++;
        changed = true;
      } else if (out.updated.length > 0) {
        if (this.awaiting) for (const name of out.updated) this.awaiting.delete(name);
        if (out.changed) changed = true;
      }
    }
    if (this.awaiting) {
      if (this.awaiting.size > 0) return;
      this.awaiting = undefined;
      changed = true;
    }
    if (changed) this.scheduler.inputChanged();
  }

  onAck(device: string, ack: AckPayload): void {
    if (this.closed) return;
    this.control.onAck(device, ack);
  }

  setMode(unit: string, mode: UnitMode, by: string): ModeChange {
    const before = this.control.commandsSent;
    const change = this.control.setMode(unit, mode, by, this.latestResult);
    // The command acts on the latest recommendation: make sure the trail holds it.
    const r = this.latestResult;
    if (r && this.control.commandsSent > before && this.audited?.tick !== r.tick) {
      this.guard('audit', () => this.auditRecommendation(r, this.lastReason, this.control.recommendations(r), 1));
    }
    return change;
  }

  units(): UnitView[] {
    return this.control.views();
  }

  /** The last tick's problem as CPLEX LP text; undefined before the first tick. */
  exportLp(): string | undefined {
    return this.latestResult ? this.engine.exportLp('lp') : undefined;
  }

  /** One tick and everything that follows from it; public for tests and the benchmark. */
  tick(reason: TickReason): DispatchResult | undefined {
    if (this.closed) return undefined;
    this.awaiting = undefined;
    const r = this.engine.tick(this.now());
    this.stats.ticks++;
    if (reason === 'input') this.stats.inputTicks++;
    else this.stats.intervalTicks++;
    this.stats.lastTickUs = r.tickUs;
    this.latestResult = r;
    this.lastReason = reason;

    let json: string | undefined;
    this.guard('serialise', () => {
      json = JSON.stringify(r);
      this.latestText = json;
    });
    if (json !== undefined) {
      const text = json;
      this.guard('publish', () => {
        this.o.publish(dispatchTopic(this.tenant, 'latest'), text, dispatchPublishOptions.latest).catch((err: Error) => this.logError('publish', err));
        this.o.publish(dispatchTopic(this.tenant, 'kpis'), JSON.stringify(kpiMessage(r)), dispatchPublishOptions.kpis).catch((err: Error) => this.logError('publish', err));
      });
      for (const l of this.listeners) this.guard('stream', () => l(text, r));
    }
    let values = new Map<string, number>();
    let commands = 0;
    this.guard('control', () => {
      values = this.control.recommendations(r);
      commands = this.control.onResult(r, values);
    });
    this.guard('reports', () => {
      const alarms = this.alarmReports.due(r);
      if (alarms) this.o.publish(dispatchTopic(this.tenant, 'alarms'), JSON.stringify(alarms), dispatchPublishOptions.alarms).catch((err: Error) => this.logError('publish', err));
      for (const m of this.unitReports.due(r, values)) {
        this.o.publish(dispatchTopic(this.tenant, 'units', m.unit), JSON.stringify(m), dispatchPublishOptions.units).catch((err: Error) => this.logError('publish', err));
      }
    });
    this.guard('audit', () => this.auditRecommendation(r, reason, values, commands));
    this.guard('series', () => this.storeSeries(r, values));
    return r;
  }

  /**
   * A recommendation is recorded when it differs from the last recorded one: status, alarms,
   * or a setpoint beyond its deadband (at most once per auditMinGapMs, ticks in between are
   * summarised with their alarms), and always when it led to a command.
   */
  private auditRecommendation(r: DispatchResult, reason: TickReason, values: Map<string, number>, commands: number): void {
    for (const a of r.alarms) {
      const key = alarmId(a);
      if (this.alarmsSinceAudit.size < MAX_AUDIT_ALARMS || this.alarmsSinceAudit.has(key)) this.alarmsSinceAudit.set(key, a);
    }
    const alarms = alarmKey(r.alarms);
    const prev = this.audited;
    let due = prev === undefined || prev.status !== r.status || commands > 0;
    if (!due && prev && r.ts - prev.at >= (this.o.entry.auditMinGapMs ?? this.intervalMs)) {
      due = prev.alarmKey !== alarms || this.moved(prev.values, values);
    }
    if (!due) return;
    const setpointsMw: Record<string, number> = {};
    for (const [id, v] of values) setpointsMw[id] = round6(v);
    const entry: AuditEntry = {
      type: 'recommendation',
      ts: r.ts,
      tick: r.tick,
      reason,
      ticksSince: prev ? r.tick - prev.tick : 0,
      status: r.status,
      objective: finiteOrNull(r.objective),
      costEurPerH: finiteOrNull(r.kpis.costEurPerH),
      co2TPerH: finiteOrNull(r.kpis.co2TPerH),
      unmetMw: finiteOrNull(r.kpis.unmetDemandMw),
      setpointsMw,
      prices: { heat: roundAll(r.prices.heat), electricity: finiteOrNull(r.prices.electricity) },
      alarms: [...this.alarmsSinceAudit.values()].map((a) => ({ ...(a.input !== undefined ? { input: a.input } : {}), level: a.level, code: a.code, message: a.message.slice(0, 300) })),
    };
    this.alarmsSinceAudit.clear();
    this.audited = { at: r.ts, tick: r.tick, status: r.status, alarmKey: alarms, values };
    this.audit.append(entry);
  }

  private moved(before: Map<string, number>, after: Map<string, number>): boolean {
    for (const c of this.control.components) {
      const a = before.get(c.id);
      const b = after.get(c.id);
      if (a === undefined || b === undefined) {
        if (a !== b) return true;
        continue;
      }
      if (Math.abs(a - b) > this.control.deadband(c)) return true;
    }
    return false;
  }

  private storeSeries(r: DispatchResult, values: Map<string, number>): void {
    if (r.ts - this.lastSeriesAt < this.o.entry.seriesIntervalMs && r.ts >= this.lastSeriesAt) return;
    this.lastSeriesAt = r.ts;
    const readings = dispatchReadings(this.tenant, r, Object.fromEntries(values));
    const p = this.o.writer
      .append({ tenant: this.tenant, device: DISPATCH_DEVICE, readings })
      .catch((err: Error) => this.logError('series', err))
      .finally(() => this.seriesInFlight.delete(p));
    this.seriesInFlight.add(p);
  }

  private guard(step: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logError(step, err as Error);
    }
  }

  /** At most one log line per step and minute: a broken step must not flood the log at tick rate. */
  private logError(step: string, err: Error): void {
    const now = Date.now();
    if (now - (this.errorsLoggedAt.get(step) ?? 0) < 60_000) return;
    this.errorsLoggedAt.set(step, now);
    this.o.log.error({ err, tenant: this.tenant, step }, `dispatch ${step} failed`);
  }

  /** Stops ticking and live streams; waits for series and audit lines; frees the engine. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.stop();
    this.listeners.clear();
    await Promise.allSettled([...this.seriesInFlight]);
    await this.control.close();
    await this.audit.close();
    this.engine.dispose();
  }
}

const finiteOrNull = (v: number | null | undefined) => (v !== null && v !== undefined && Number.isFinite(v) ? round6(v) : null);
function roundAll(o: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (Number.isFinite(v)) out[k] = round6(v);
  return out;
}

/** The small message on `.../dispatch/kpis` (dispatchKpiMessageSchema). */
export function kpiMessage(r: DispatchResult): DispatchKpiMessage {
  let critical = 0;
  for (const a of r.alarms) if (a.level === 'critical') critical++;
  return {
    ts: r.ts,
    tick: r.tick,
    status: r.status,
    objective: r.objective,
    kpis: r.kpis,
    prices: r.prices,
    alarms: { critical, warning: r.alarms.length - critical },
  };
}

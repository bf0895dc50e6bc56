/// <reference lib="dom" />
/**
 * Shared live data for all pages: the dispatch stream (with polling as the fallback), device
 * status, and the installation's health. Started at log-in, stopped at log-out; pages
 * subscribe and get the latest value at once.
 */
import { ApiFailure, getJson } from './api.ts';
import { openStream } from './sse.ts';
import type { ProblemDevices } from './alarms-model.ts';
import type { DeviceList, DispatchResult } from './types.ts';

type Listener<T> = (value: T) => void;

class Topic<T> {
  private listeners = new Set<Listener<T>>();
  constructor(public value: T) {}
  set(value: T): void {
    this.value = value;
    for (const l of this.listeners) l(value);
  }
  subscribe(l: Listener<T>): () => void {
    this.listeners.add(l);
    l(this.value);
    return () => this.listeners.delete(l);
  }
}

export type StreamState = 'connecting' | 'live' | 'retrying' | 'polling' | 'unavailable' | 'paused';

export interface Health {
  ready: boolean | null;
  checks: Record<string, boolean>;
  /** From /metrics: the production store's state and its disk spool, when that store is in use. */
  influxUp: number | null;
  spoolBytes: number | null;
  at: number;
}

export const dispatch = new Topic<DispatchResult | null>(null);
export const streamState = new Topic<StreamState>('connecting');
/** The problem devices behind the alarms (not the whole fleet: the devices page asks for its own rows). */
export const devices = new Topic<{ problems: ProblemDevices | null; error: ApiFailure | null; at: number }>({ problems: null, error: null, at: 0 });
const PROBLEMS_LISTED = 200;
/** Why the live dispatch is unavailable, in the server's words (e.g. no engine for this tenant). */
export let unavailableReason = '';
export const health = new Topic<Health>({ ready: null, checks: {}, influxUp: null, spoolBytes: null, at: 0 });

let stops: (() => void)[] = [];
let paused = false;
/** Pages that show device status ask for fresh data; otherwise a slow poll feeds the alarm badge. */
let fastDeviceUsers = 0;
const DEVICES_FAST_MS = 3000;
const DEVICES_SLOW_MS = 15_000;
let pollDevicesNow: (() => void) | undefined;

export function wantFreshDevices(): () => void {
  fastDeviceUsers++;
  pollDevicesNow?.();
  return () => void fastDeviceUsers--;
}

function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = async () => {
    await fn().catch(() => undefined);
    if (!stopped) timer = setTimeout(() => void loop(), ms);
  };
  void loop();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([-0-9.eE+]+|NaN)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * The engine may tick many times a second; people read at most one picture a second. The server
 * coalesces the stream to that (the latest tick of each second), so the rest never crosses the network.
 */
const RENDER_EVERY_MS = 1000;

function startDispatch(): () => void {
  let pollStop: (() => void) | undefined;
  const startPolling = () => {
    pollStop ??= every(5000, async () => {
      try {
        const r = await getJson<DispatchResult>('/dispatch/latest');
        if (!paused) dispatch.set(r);
        streamState.set(paused ? 'paused' : 'polling');
      } catch (err) {
        if (err instanceof ApiFailure && (err.notAvailable || err.status === 404)) streamState.set('unavailable');
      }
    });
  };
  const stopStream = openStream(`/dispatch/stream?minIntervalMs=${RENDER_EVERY_MS}`, {
    onEvent: (event, data) => {
      if (event !== 'dispatch' || paused) return;
      try {
        dispatch.set(JSON.parse(data) as DispatchResult);
      } catch {
        /* a broken event; the next tick replaces it */
      }
    },
    onState: (state, detail) => {
      if (state === 'unavailable') {
        unavailableReason = detail ?? '';
        return startPolling();
      }
      streamState.set(paused && state === 'live' ? 'paused' : state);
    },
  });
  return () => {
    stopStream();
    pollStop?.();
  };
}

function pollDevices(): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    try {
      // Only what the alarms need, problems first and cut: a handful of devices on a healthy fleet
      // of thousands, and no more than PROBLEMS_LISTED when a district's network fails.
      const r = await getJson<DeviceList>(`/devices?status=problems&order=severity&limit=${PROBLEMS_LISTED}`);
      if (!stopped) devices.set({ problems: { list: r.devices, total: r.total, counts: r.counts }, error: null, at: Date.now() });
    } catch (err) {
      if (!stopped) devices.set({ problems: devices.value.problems, error: err as ApiFailure, at: Date.now() });
    }
    if (!stopped) timer = setTimeout(() => void poll(), fastDeviceUsers > 0 ? DEVICES_FAST_MS : DEVICES_SLOW_MS);
  };
  // A page that needs fresh status gets it now if the last poll is older than the fast interval,
  // else when that interval is up (not at the slow poll already scheduled).
  pollDevicesNow = () => {
    if (stopped) return;
    const due = devices.value.at + DEVICES_FAST_MS - Date.now();
    if (due <= 0) return void poll();
    // No timer means a poll is in flight; it schedules the next one at the fast interval.
    if (timer) {
      clearTimeout(timer);
      timer = setTimeout(() => void poll(), due);
    }
  };
  void poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

export function startLive(): void {
  stopLive();
  stops = [
    startDispatch(),
    pollDevices(),
    every(10_000, async () => {
      const ready = await fetch('/ready', { cache: 'no-store' })
        .then((r) => r.json() as Promise<{ ready: boolean; checks: Record<string, boolean> }>)
        .catch(() => null);
      const metrics = await fetch('/metrics', { cache: 'no-store' })
        .then((r) => (r.ok ? r.text() : ''))
        .catch(() => '');
      health.set({
        ready: ready?.ready ?? null,
        checks: ready?.checks ?? {},
        influxUp: metricValue(metrics, 'querstrom_influx_up'),
        spoolBytes: metricValue(metrics, 'querstrom_influx_spool_bytes'),
        at: Date.now(),
      });
    }),
  ];
}

export function stopLive(): void {
  for (const s of stops) s();
  stops = [];
  dispatch.value = null;
}

/** Freezes what the pages show (WCAG 2.2.2); the connection stays open. */
export function setPaused(p: boolean): void {
  paused = p;
  streamState.set(p ? 'paused' : 'live');
}
export const isPaused = () => paused;

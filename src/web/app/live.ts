/// <reference lib="dom" />
/**
 * Shared live data for all pages: the dispatch stream (with polling as the fallback), device
 * status, and the installation's health. Started at log-in, stopped at log-out; pages
 * subscribe and get the latest value at once.
 */
import { ApiFailure, getJson } from './api.ts';
import { openStream } from './sse.ts';
import type { Device, DispatchResult } from './types.ts';

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
export const devices = new Topic<{ list: Device[] | null; error: ApiFailure | null; at: number }>({ list: null, error: null, at: 0 });
export const health = new Topic<Health>({ ready: null, checks: {}, influxUp: null, spoolBytes: null, at: 0 });

let stops: (() => void)[] = [];
let paused = false;

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
  const stopStream = openStream('/dispatch/stream', {
    onEvent: (event, data) => {
      if (event !== 'dispatch' || paused) return;
      try {
        dispatch.set(JSON.parse(data) as DispatchResult);
      } catch {
        /* a broken event; the next tick replaces it */
      }
    },
    onState: (state) => {
      if (state === 'unavailable') return startPolling();
      streamState.set(paused && state === 'live' ? 'paused' : state);
    },
  });
  // Show the last result at once rather than waiting for the next tick.
  void getJson<DispatchResult>('/dispatch/latest').then(
    (r) => dispatch.value ?? dispatch.set(r),
    () => undefined,
  );
  return () => {
    stopStream();
    pollStop?.();
  };
}

export function startLive(): void {
  stopLive();
  stops = [
    startDispatch(),
    every(3000, async () => {
      try {
        const r = await getJson<{ devices: Device[] }>('/devices');
        devices.set({ list: r.devices, error: null, at: Date.now() });
      } catch (err) {
        devices.set({ list: devices.value.list, error: err as ApiFailure, at: Date.now() });
      }
    }),
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

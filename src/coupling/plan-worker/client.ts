/**
 * Runs the look-ahead storage plan in a worker thread, so planning (HiGHS, 10-50 ms on the
 * reference city) neither blocks the event loop nor evicts the dispatch tick's data from the
 * CPU caches of the thread that ticks.
 */
import { Worker } from 'node:worker_threads';
import type { CityInput } from '../model/schema.ts';
import type { StoragePlan } from '../plan.ts';

export interface PlanWorkerInit {
  type: 'init';
  city: CityInput;
}
export interface PlanRequest {
  type: 'plan';
  id: number;
  now: number;
  values: Float64Array;
  co2PriceEurPerT: number;
}
export type PlanResponse = { type: 'ready' } | { type: 'plan'; id: number; plan: StoragePlan } | { type: 'error'; id: number; message: string };

export class PlanWorker {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (p: StoragePlan) => void; reject: (e: Error) => void }>();
  private failed: Error | undefined;

  /** `city` is the validated city as plain data (it is re-validated in the worker). */
  constructor(city: CityInput) {
    this.worker = new Worker(new URL('./entry.mjs', import.meta.url));
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (m: PlanResponse) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error' && m.id === -1) reject(new Error(m.message));
        else this.settle(m);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (err) => {
        this.failed = err;
        reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
    });
    this.ready.catch(() => undefined);
    this.worker.postMessage({ type: 'init', city } satisfies PlanWorkerInit);
  }

  private settle(m: PlanResponse): void {
    if (m.type === 'ready') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'plan') p.resolve(m.plan);
    else p.reject(new Error(m.message));
  }

  async plan(now: number, values: Float64Array, co2PriceEurPerT: number): Promise<StoragePlan> {
    if (this.failed) throw this.failed;
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'plan', id, now, values, co2PriceEurPerT } satisfies PlanRequest);
    });
  }

  async terminate(): Promise<void> {
    for (const p of this.pending.values()) p.reject(new Error('plan worker terminated'));
    this.pending.clear();
    await this.worker.terminate();
  }
}

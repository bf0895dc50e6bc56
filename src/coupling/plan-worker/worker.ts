/** Worker side of the off-thread planner: one HiGHS runtime and one look-ahead model per worker. */
import { parentPort } from 'node:worker_threads';
import { loadHighs } from '../lp/highs.ts';
import { collectInputs } from '../model/inputs.ts';
import { parseCity } from '../model/load.ts';
import { LookAheadPlanner } from '../plan.ts';
import type { PlanRequest, PlanResponse, PlanWorkerInit } from './client.ts';

let planner: LookAheadPlanner | undefined;

parentPort!.on('message', async (msg: PlanWorkerInit | PlanRequest) => {
  try {
    if (msg.type === 'init') {
      const city = parseCity(msg.city, 'plan worker');
      planner = new LookAheadPlanner(city, collectInputs(city), await loadHighs());
      parentPort!.postMessage({ type: 'ready' } satisfies PlanResponse);
      return;
    }
    if (!planner) throw new Error('plan worker not initialised');
    const plan = planner.plan(msg.now, msg.values, msg.co2PriceEurPerT);
    parentPort!.postMessage({ type: 'plan', id: msg.id, plan } satisfies PlanResponse);
  } catch (err) {
    parentPort!.postMessage({ type: 'error', id: 'id' in msg ? msg.id : -1, message: (err as Error).message } satisfies PlanResponse);
  }
});

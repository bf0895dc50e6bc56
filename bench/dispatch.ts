/**
 * `querstrom bench dispatch`: the coupling engine's tick on the reference city over many ticks
 * with varying inputs, against HiGHS building and solving the same LP from scratch each tick,
 * measured in the same run on the same problems.
 *
 * Passes over the same problems, in one run: (0) an engine ticks with its re-plans (the look-ahead
 * plan in the worker thread, awaited before the tick that uses it), recording readings, plans and
 * objectives; (1) a second engine replays exactly those readings and plans back to back, which is
 * the measured steady-state tick (every record read; each tick's LP numbers are kept; its
 * objectives must equal pass 0's); (2) HiGHS builds and solves each kept LP from scratch; (3) one
 * persistent HiGHS model is updated in place and hot-started through the same sequence.
 * Interleaving them would let HiGHS's WebAssembly working set evict the engine's caches between
 * ticks, which production does not do. Ticks after a wait (pass 0's re-plan ticks) are reported
 * apart: on a shared 2-core machine, any pause of a few milliseconds leaves the next tick several
 * times slower (cold caches), whatever the engine does.
 *
 * Inputs: heat demand, PV and wind from ../shared/data/dispatch-profiles.csv and prices / grid
 * CO2 from ../shared/data/district-heating-2019.csv (hourly, interpolated to the tick time) with
 * per-device offsets and noise; a seeded random walk where the files are absent. A zone's heat
 * demand follows the year's profile scaled so that its peak hour is the binding's default (the
 * reference city's design peak), times demandScale. Storage state of charge is fed back from the
 * engine's own dispatch, as a tank would report it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { DispatchEngine } from '../src/coupling/engine.ts';
import { loadCity } from '../src/coupling/model/load.ts';
import type { City } from '../src/coupling/model/schema.ts';
import { loadHighs, objectiveFromScratch, PersistentHighs } from '../src/coupling/lp/highs.ts';
import { cloneLp, type LpProblem } from '../src/coupling/lp/problem.ts';
import type { DispatchResult } from '../src/coupling/result.ts';
import type { StoragePlan } from '../src/coupling/plan.ts';
import { seededRandom } from '../src/coupling/random-city.ts';
import { FixedWork } from './noise.ts';

export interface DispatchBenchOptions {
  city?: string;
  ticks?: number;
  warmup?: number;
  /** Simulated seconds between ticks (default: the city's tickS). */
  stepS?: number;
  seed?: number;
  dataDir?: string;
  /** Readings for the end-to-end reading → dispatch run in a real server (0 skips it). */
  e2eReadings?: number;
  /** Heat demand relative to the zones' design (1: the year's peak hour at the design peak; above 1 overloads the city). */
  demandScale?: number;
  log?: (line: string) => void;
}

export interface DispatchBenchResult {
  city: string;
  units: number;
  storages: number;
  links: number;
  heat_zones: number;
  variables: number;
  constraints: number;
  nonzeros: number;
  ticks: number;
  warmup_ticks: number;
  step_s: number;
  inputs_source: string;
  readings_per_tick: number;
  /** Heat demand relative to the zones' design (see DispatchBenchOptions.demandScale). */
  demand_scale: number;
  /** Heat supplied to the zones, mean and maximum over the measured ticks (MW). */
  heat_supplied_mean_mw: number;
  heat_supplied_max_mw: number;
  /** Measured ticks with heat demand the city could not meet, and the largest shortfall (MW). */
  unmet_heat_ticks: number;
  unmet_heat_max_mw: number;
  tick_p50_us: number;
  tick_p99_us: number;
  tick_p90_us: number;
  tick_p95_us: number;
  tick_max_us: number;
  /** tick_p99_us / tick_p50_us, to read against baseline_p99_over_p50. */
  tick_p99_over_p50: number;
  /**
   * Same-run baseline (bench/noise.ts): identical CPU work, about 50 µs, timed once after every
   * measured tick. Its tail is the machine's alone, as the code's is the same each time.
   */
  baseline_p50_us: number;
  baseline_p99_us: number;
  baseline_p99_over_p50: number;
  /**
   * Ticks right after waiting for a re-plan (pass 0): the tick itself, with the CPU's caches gone
   * cold in the wait, as for any tick after idle time; the new storage values also move the basis.
   */
  tick_after_pause_p50_us: number;
  tick_after_pause_p90_us: number;
  ticks_after_pause: number;
  solve_p50_us: number;
  solve_p99_us: number;
  iterations_mean: number;
  iterations_max: number;
  fallbacks: number;
  highs_from_scratch_p50_us: number;
  highs_from_scratch_p99_us: number;
  highs_persistent_p50_us: number;
  speedup: number;
  speedup_vs_highs_persistent: number;
  max_rel_gap: number;
  /** Building setpoints, flows, storage, buses and input records from the tick (first access). */
  views_p50_us: number;
  /** tick() plus building all those records, per tick. */
  tick_with_views_p50_us: number;
  tick_with_views_p99_us: number;
  explain_p50_us: number;
  /** Matrix columns changed per tick (heat-pump COPs) and basis refactorisations per 1000 ticks. */
  changed_columns_mean: number;
  refactorizations_per_1000_ticks: number;
  /** Mean microseconds per tick in each phase. */
  phase_mean_us: { inputs: number; update: number; solve: number; report: number };
  ingest_per_reading_us: number;
  replans: number;
  /** Look-ahead plan solve time in the worker thread. */
  plan_p50_ms: number;
  plan_max_ms: number;
  /** End to end in the real server, see benchReadingToDispatch (null when not run). */
  reading_to_dispatch_p50_ms: number | null;
  reading_to_dispatch_p99_ms: number | null;
  reading_to_dispatch: ReadingToDispatchResult | null;
  cpu_s: number;
  rss_mb: number;
  load_avg_1m: number;
}

interface Series {
  demand: Float64Array;
  pv: Float64Array;
  wind: Float64Array;
  gas: Float64Array;
  price: Float64Array;
  co2: Float64Array;
  source: string;
}

function readCsvColumns(path: string, sep: string, cols: number[]): Float64Array[] {
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(1);
  return cols.map((c) => Float64Array.from(lines, (l) => Number(l.split(sep)[c])));
}

function randomWalk(n: number, rand: () => number, start: number, step: number, lo: number, hi: number): Float64Array {
  const out = new Float64Array(n);
  let v = start;
  for (let i = 0; i < n; i++) {
    v = Math.min(hi, Math.max(lo, v + (rand() - 0.5) * step));
    out[i] = v;
  }
  return out;
}

export function loadSeries(dataDir: string, rand: () => number): Series {
  const prof = resolve(dataDir, 'dispatch-profiles.csv');
  const dh = resolve(dataDir, 'district-heating-2019.csv');
  const sources: string[] = [];
  let demand: Float64Array, pv: Float64Array, wind: Float64Array;
  if (existsSync(prof)) {
    [demand, pv, wind] = readCsvColumns(prof, ',', [0, 2, 3]) as [Float64Array, Float64Array, Float64Array];
    sources.push('dispatch-profiles.csv');
  } else {
    demand = randomWalk(8760, rand, 0.5, 0.08, 0.1, 1);
    pv = Float64Array.from({ length: 8760 }, (_, h) => Math.max(0, Math.sin(((h % 24) - 6) * (Math.PI / 12))) * (0.6 + 0.4 * rand()));
    wind = randomWalk(8760, rand, 0.3, 0.1, 0, 1);
    sources.push('random walk (demand, pv, wind)');
  }
  let gas: Float64Array, price: Float64Array, co2: Float64Array;
  if (existsSync(dh)) {
    [gas, price, co2] = readCsvColumns(dh, ';', [2, 3, 4]) as [Float64Array, Float64Array, Float64Array];
    sources.push('district-heating-2019.csv');
  } else {
    gas = randomWalk(8760, rand, 25, 1, 10, 60);
    price = randomWalk(8760, rand, 50, 15, -20, 200);
    co2 = randomWalk(8760, rand, 0.35, 0.03, 0.1, 0.7);
    sources.push('random walk (prices, grid CO2)');
  }
  return { demand, pv, wind, gas, price, co2, source: sources.join(' + ') };
}

/** Linear interpolation of an hourly series at fractional hour h (wrapping over the year). */
function at(s: Float64Array, h: number): number {
  const n = s.length;
  const i = Math.floor(h);
  const f = h - i;
  const a = s[((i % n) + n) % n]!;
  const b = s[(((i + 1) % n) + n) % n]!;
  return a + (b - a) * f;
}

interface Feed {
  device: string;
  metric: string;
  value: (h: number, last: DispatchResult | undefined) => number;
}

/** One reading generator per bound input, in the binding's (canonical) unit. */
export function buildFeeds(engine: DispatchEngine, city: City, series: Series, rand: () => number, demandScale = 1): Feed[] {
  const maxDemand = series.demand.reduce((a, b) => Math.max(a, b), 0);
  const noise = (amp: number) => 1 + amp * (rand() * 2 - 1);
  const unitById = new Map(city.units.map((u) => [u.id, u]));
  const feeds: Feed[] = [];
  const seen = new Set<string>();
  for (const b of engine.inputBindings()) {
    const key = `${b.device}/${b.metric}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const def = engine.registry.defs[engine.registry.byName.get(b.input)!]!;
    const dflt = def.binding!.defaultValue / def.binding!.factor;
    const component = def.component;
    const offset = rand() * 2 - 1;
    const phase = rand() * 24;
    let value: Feed['value'];
    if (b.metric === 'heat_power' && b.device.startsWith('hm-')) value = (h) => ((dflt * demandScale * at(series.demand, h + offset)) / maxDemand) * noise(0.02);
    else if (b.metric === 'supply_temp') value = (h) => 75 + 30 * Math.min(1, at(series.demand, h) / maxDemand) + 0.5 * (rand() - 0.5);
    else if (b.metric === 'heat_power') value = (h) => dflt * (0.85 + 0.15 * Math.sin((2 * Math.PI * (h + phase)) / 24)) * noise(0.02);
    else if (b.metric === 'source_temp') value = (h) => dflt + 3 * Math.sin((2 * Math.PI * (h + phase)) / 24) + 0.3 * (rand() - 0.5);
    else if (b.metric === 'el_power') {
      const u = unitById.get(component);
      const capKw = (u && (u.kind === 'pv' || u.kind === 'wind') ? u.capacityMw : 1) * 1000;
      const s = u?.kind === 'wind' ? series.wind : series.pv;
      value = (h) => Math.max(0, capKw * at(s, h + (u?.kind === 'wind' ? offset * 3 : 0)) * noise(0.05));
    } else if (b.device.startsWith('grid') && b.metric === 'price') value = (h) => at(series.price, h);
    else if (b.metric === 'co2_intensity') value = (h) => Math.max(0, at(series.co2, h) * 1000);
    else if (b.metric === 'gas_price') value = (h) => at(series.gas, h);
    else if (b.metric === 'outdoor_temp') value = (h) => 2 + 6 * Math.sin((2 * Math.PI * (h - 9)) / 24) + 0.3 * (rand() - 0.5);
    else if (b.metric === 'soc') {
      value = (_h, last) => {
        const st = last?.storage[component];
        return st ? Math.min(100, Math.max(0, st.socFraction * 100)) : dflt;
      };
    } else {
      let v = dflt;
      value = () => (v = Math.max(0, v * noise(0.01)));
    }
    feeds.push({ device: b.device, metric: b.metric, value });
  }
  return feeds;
}

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

export async function benchDispatch(o: DispatchBenchOptions = {}): Promise<DispatchBenchResult> {
  const say = o.log ?? (() => undefined);
  const cityPath = o.city ?? 'config/reference-city.yaml';
  const ticks = o.ticks ?? 2000;
  const warmup = o.warmup ?? 50;
  const rand = seededRandom(o.seed ?? 42);
  const city = loadCity(cityPath);
  const stepS = o.stepS ?? city.tickS;
  const highs = await loadHighs();
  const series = loadSeries(o.dataDir ?? resolve(process.cwd(), '../shared/data'), rand);
  // The bench schedules re-plans itself (in the worker thread, off the tick path) and times them apart.
  const t0 = Date.UTC(2019, 0, 7, 0, 0, 0);
  const planner = new DispatchEngine(city, { highs, autoReplan: false, now: () => t0 });
  const engine = new DispatchEngine(city, { highs, autoReplan: false, now: () => t0 });
  const demandScale = o.demandScale ?? 1;
  const feeds = buildFeeds(planner, city, series, rand, demandScale);
  const lp = engine.lastLp();
  say(`dispatch bench: ${city.name}: ${city.units.length} units, ${city.storages.length} storages, ${city.links.length} links; LP ${lp.numCols} columns x ${lp.numRows} rows`);
  say(`inputs: ${feeds.length} readings per tick from ${series.source}; ${ticks} ticks (+${warmup} warm-up) every ${stepS} s simulated`);

  const tickUs: number[] = [];
  const baselineUs: number[] = [];
  const fixedWork = new FixedWork().calibrate(50);
  const solveUs: number[] = [];
  const scratchUs: number[] = [];
  const persistentUs: number[] = [];
  const explainUs: number[] = [];
  const viewsUs: number[] = [];
  const fullUs: number[] = [];
  const phaseSum = new Float64Array(4);
  const planMs: number[] = [];
  let ingestMs = 0;
  let readings = 0;
  let iterSum = 0;
  let iterMax = 0;
  let fallbacks = 0;
  let changedCols = 0;
  let heatSum = 0;
  let heatMax = 0;
  let unmetTicks = 0;
  let unmetMax = 0;
  const simplexStats = (engine as unknown as { simplex: { refactorizations: number } }).simplex;
  let refactor0 = 0;
  let last: DispatchResult | undefined;
  // Each measured tick's LP numbers (the structure is fixed) in one preallocated buffer, so keeping
  // them does not load the garbage collector during the measured pass.
  const n = lp.numCols;
  const m = lp.numRows;
  const nz = lp.values.length;
  const stride = 3 * n + 2 * m + nz;
  const numbers = new Float64Array(stride * ticks);
  const objectives = new Float64Array(ticks);
  const changedList: Int32Array[] = [];
  const keep = (k: number) => {
    let o = k * stride;
    for (const a of [lp.colCost, lp.colLower, lp.colUpper, lp.rowLower, lp.rowUpper, lp.values]) {
      numbers.set(a, o);
      o += a.length;
    }
  };
  const restore = (k: number, into: LpProblem) => {
    let o = k * stride;
    for (const a of [into.colCost, into.colLower, into.colUpper, into.rowLower, into.rowUpper, into.values]) {
      a.set(numbers.subarray(o, o + a.length));
      o += a.length;
    }
  };
  const h0 = 6 * 24; // 7 January
  const cpu0 = process.cpuUsage();
  const loadBefore = loadavg()[0]!;
  const total = warmup + ticks;
  const F = feeds.length;

  // Pass 0: the engine with its re-plans: readings in, the look-ahead plan when due (in the worker
  // thread, awaited here so that every run sees the same plans), tick, records read. It records each
  // tick's readings, plan and objective so that pass 1 can replay them exactly, and warms up the JIT.
  // A tick right after a re-plan waited ~10 ms for the worker with the CPU's caches going cold
  // meanwhile; those ticks are reported apart (tick_after_pause_*), as a tick after idle time is.
  const readingLog = new Float64Array(total * F);
  const plans: (StoragePlan | undefined)[] = new Array<StoragePlan | undefined>(total);
  const planObjectives = new Float64Array(total);
  const pausedUs: number[] = [];
  for (let k = 0; k < total; k++) {
    const now = t0 + k * stepS * 1000;
    const h = h0 + (k * stepS) / 3600;
    for (let f = 0; f < F; f++) {
      const v = feeds[f]!.value(h, last);
      readingLog[k * F + f] = v;
      planner.ingest(feeds[f]!.device, feeds[f]!.metric, v, now);
    }
    const plan = planner.storagePlan();
    if (!plan || now - plan.at >= city.planning.replanS * 1000) {
      const p = await planner.replanAsync(now);
      plans[k] = p;
      if (k >= warmup && p) planMs.push(p.solveMs);
    }
    const a = performance.now();
    const r = planner.tick(now);
    if (plans[k] && k >= warmup) pausedUs.push((performance.now() - a) * 1000);
    if (r.status !== 'optimal') throw new Error(`tick ${k}: engine ${r.status}: ${r.alarms.map((x) => x.message).join('; ')}`);
    void r.setpoints;
    void r.storage;
    planObjectives[k] = r.objective!;
    last = r;
  }
  planner.dispose();
  say(`pass 0 (re-plans, warm-up): ${planMs.length} re-plans; now ${ticks} ticks back to back on the same readings and plans`);

  // Pass 1 (measured): a second engine replays the same readings and plans back to back, in steady
  // state, as it is between re-plans. Every record is read; each tick's LP numbers are kept.
  for (let k = 0; k < total; k++) {
    const now = t0 + k * stepS * 1000;
    const i0 = performance.now();
    for (let f = 0; f < F; f++) engine.ingest(feeds[f]!.device, feeds[f]!.metric, readingLog[k * F + f]!, now);
    ingestMs += performance.now() - i0;
    readings += F;
    const p = plans[k];
    if (p) engine.usePlan(p);

    const a = performance.now();
    const r = engine.tick(now);
    const dt = (performance.now() - a) * 1000;
    const baseUs = fixedWork.timed();
    // What a consumer that publishes every record pays on top of the tick.
    const v0 = performance.now();
    void r.setpoints;
    void r.flows;
    void r.storage;
    void r.buses;
    void r.inputs;
    const vUs = (performance.now() - v0) * 1000;
    const e = performance.now();
    void r.explanations;
    const explUs = (performance.now() - e) * 1000;
    if (r.status !== 'optimal') throw new Error(`tick ${k}: engine ${r.status}: ${r.alarms.map((x) => x.message).join('; ')}`);
    if (r.objective !== planObjectives[k]) throw new Error(`tick ${k}: the replay solved to ${r.objective}, pass 0 to ${planObjectives[k]}: the passes differ`);
    if (k < warmup) continue;
    if (k === warmup) refactor0 = simplexStats.refactorizations;
    keep(k - warmup);
    objectives[k - warmup] = r.objective!;
    changedList.push(engine.model.changedCols.slice(0, engine.model.changedCount));
    changedCols += engine.model.changedCount;
    tickUs.push(dt);
    baselineUs.push(baseUs);
    solveUs.push(r.solveUs);
    phaseSum[0]! += r.timingsUs.inputs;
    phaseSum[1]! += r.timingsUs.update;
    phaseSum[2]! += r.timingsUs.solve;
    phaseSum[3]! += r.timingsUs.report;
    explainUs.push(explUs);
    viewsUs.push(vUs);
    fullUs.push(dt + vUs);
    iterSum += r.iterations;
    iterMax = Math.max(iterMax, r.iterations);
    heatSum += r.kpis.heatSuppliedMw;
    heatMax = Math.max(heatMax, r.kpis.heatSuppliedMw);
    if (r.kpis.unmetHeatMw > 1e-6) unmetTicks++;
    unmetMax = Math.max(unmetMax, r.kpis.unmetHeatMw);
    if (r.solver !== 'simplex') fallbacks++;
  }
  const refactors = simplexStats.refactorizations - refactor0;
  engine.dispose();
  say(`engine: tick p50 ${round(pct(tickUs.slice().sort((p, q) => p - q), 0.5))} µs over ${ticks} ticks; now HiGHS on the same ${ticks} problems`);

  // Pass 2: HiGHS builds and solves each tick's LP from scratch.
  let maxGap = 0;
  const scratch = cloneLp(lp);
  for (let k = 0; k < ticks; k++) {
    restore(k, scratch);
    const b = performance.now();
    const base = objectiveFromScratch(highs, scratch);
    scratchUs.push((performance.now() - b) * 1000);
    if (!base.optimal) throw new Error(`tick ${k}: HiGHS found no optimum`);
    maxGap = Math.max(maxGap, Math.abs(objectives[k]! - base.objective) / Math.max(1, Math.abs(base.objective)));
    if (k % 500 === 499) say(`  tick ${k + 1}: engine ${objectives[k]!.toFixed(2)} EUR/h, HiGHS ${base.objective.toFixed(2)} EUR/h`);
  }

  // Pass 3: one persistent HiGHS model updated in place and hot-started through the same sequence.
  const seq = cloneLp(lp);
  restore(0, seq);
  const persistent = new PersistentHighs(highs, seq);
  for (let k = 0; k < ticks; k++) {
    restore(k, seq);
    const changed = changedList[k]!;
    const c = performance.now();
    persistent.solve(changed, changed.length);
    persistentUs.push((performance.now() - c) * 1000);
  }
  persistent.dispose();
  const cpu = process.cpuUsage(cpu0);
  const sort = (xs: number[]) => xs.slice().sort((p, q) => p - q);
  const t = sort(tickUs);
  const bl = sort(baselineUs);
  const s = sort(solveUs);
  const hs = sort(scratchUs);
  const hp = sort(persistentUs);
  const ex = sort(explainUs);
  const pl = sort(planMs);
  const result: DispatchBenchResult = {
    city: city.name,
    units: city.units.length,
    storages: city.storages.length,
    links: city.links.length,
    heat_zones: city.buses.filter((x) => x.kind === 'heat').length,
    variables: lp.numCols,
    constraints: lp.numRows,
    nonzeros: lp.values.length,
    ticks,
    warmup_ticks: warmup,
    step_s: stepS,
    inputs_source: series.source,
    readings_per_tick: feeds.length,
    demand_scale: demandScale,
    heat_supplied_mean_mw: round(heatSum / ticks),
    heat_supplied_max_mw: round(heatMax),
    unmet_heat_ticks: unmetTicks,
    unmet_heat_max_mw: round(unmetMax),
    tick_p50_us: round(pct(t, 0.5)),
    tick_p99_us: round(pct(t, 0.99)),
    tick_p90_us: round(pct(t, 0.9)),
    tick_p95_us: round(pct(t, 0.95)),
    tick_max_us: round(t[t.length - 1] ?? NaN),
    tick_p99_over_p50: round(pct(t, 0.99) / pct(t, 0.5), 2),
    baseline_p50_us: round(pct(bl, 0.5)),
    baseline_p99_us: round(pct(bl, 0.99)),
    baseline_p99_over_p50: round(pct(bl, 0.99) / pct(bl, 0.5), 2),
    tick_after_pause_p50_us: round(pct(sort(pausedUs), 0.5)),
    tick_after_pause_p90_us: round(pct(sort(pausedUs), 0.9)),
    ticks_after_pause: pausedUs.length,

    solve_p50_us: round(pct(s, 0.5)),
    solve_p99_us: round(pct(s, 0.99)),
    iterations_mean: round(iterSum / ticks, 2),
    iterations_max: iterMax,
    fallbacks,
    highs_from_scratch_p50_us: round(pct(hs, 0.5)),
    highs_from_scratch_p99_us: round(pct(hs, 0.99)),
    highs_persistent_p50_us: round(pct(hp, 0.5)),
    speedup: round(pct(hs, 0.5) / pct(t, 0.5), 2),
    speedup_vs_highs_persistent: round(pct(hp, 0.5) / pct(t, 0.5), 2),
    max_rel_gap: maxGap,
    views_p50_us: round(pct(sort(viewsUs), 0.5)),
    tick_with_views_p50_us: round(pct(sort(fullUs), 0.5)),
    tick_with_views_p99_us: round(pct(sort(fullUs), 0.99)),
    explain_p50_us: round(pct(ex, 0.5)),
    changed_columns_mean: round(changedCols / ticks, 2),
    refactorizations_per_1000_ticks: round((refactors * 1000) / ticks, 1),
    phase_mean_us: { inputs: round(phaseSum[0]! / ticks), update: round(phaseSum[1]! / ticks), solve: round(phaseSum[2]! / ticks), report: round(phaseSum[3]! / ticks) },
    ingest_per_reading_us: round((ingestMs * 1000) / readings, 3),
    replans: planMs.length,
    plan_p50_ms: round(pct(pl, 0.5), 2),
    plan_max_ms: round(pl[pl.length - 1] ?? NaN, 2),
    reading_to_dispatch_p50_ms: null,
    reading_to_dispatch_p99_ms: null,
    reading_to_dispatch: null,
    cpu_s: round((cpu.user + cpu.system) / 1e6, 2),
    rss_mb: round(process.resourceUsage().maxRSS / 1024, 1),
    load_avg_1m: round(Math.max(loadBefore, loadavg()[0]!), 2),
  };
  say(`load: heat supplied mean ${result.heat_supplied_mean_mw} MW, max ${result.heat_supplied_max_mw} MW (demand scale ${demandScale}); unmet heat in ${unmetTicks} ticks, at most ${result.unmet_heat_max_mw} MW`);
  say(`tick p50 ${result.tick_p50_us} µs, p90 ${result.tick_p90_us} µs, p99 ${result.tick_p99_us} µs (solve p50 ${result.solve_p50_us} µs, ${result.iterations_mean} iterations on average)`);
  say(`same-run baseline (fixed work, once per tick): p50 ${result.baseline_p50_us} µs, p99 ${result.baseline_p99_us} µs, p99/p50 ${result.baseline_p99_over_p50} (tick p99/p50 ${result.tick_p99_over_p50})`);
  say(`ticks right after a wait for a re-plan (cold caches, pass 0): p50 ${result.tick_after_pause_p50_us} µs, p90 ${result.tick_after_pause_p90_us} µs over ${result.ticks_after_pause}`);
  say(`HiGHS from scratch p50 ${result.highs_from_scratch_p50_us} µs -> speedup ${result.speedup}x; HiGHS persistent p50 ${result.highs_persistent_p50_us} µs`);
  say(`max relative objective gap vs HiGHS ${result.max_rel_gap.toExponential(2)}; ${fallbacks} fallbacks; ${result.replans} re-plans, p50 ${result.plan_p50_ms} ms`);
  say(`mean per tick: inputs ${result.phase_mean_us.inputs} µs, LP update ${result.phase_mean_us.update} µs, solve ${result.phase_mean_us.solve} µs, result ${result.phase_mean_us.report} µs`);
  say(`records on first access p50 ${result.views_p50_us} µs (tick + records p50 ${result.tick_with_views_p50_us} µs, p99 ${result.tick_with_views_p99_us} µs)`);
  say(`explanations on demand p50 ${result.explain_p50_us} µs; cpu ${result.cpu_s} s; max RSS ${result.rss_mb} MB; load average ${result.load_avg_1m}`);
  const e2e = o.e2eReadings ?? 300;
  if (e2e > 0) {
    const r = await benchReadingToDispatch({ city: cityPath, readings: e2e, log: say });
    result.reading_to_dispatch = r;
    result.reading_to_dispatch_p50_ms = r.reading_to_dispatch_p50_ms;
    result.reading_to_dispatch_p99_ms = r.reading_to_dispatch_p99_ms;
  }
  return result;
}

export interface ReadingToDispatchOptions {
  city?: string;
  /** Measured readings (each changes a bound input). */
  readings?: number;
  warmup?: number;
  /** Pause between a dispatch arriving and the next reading, ms (above the server's minTickGapMs). */
  gapMs?: number;
  /** Broker sessions and retained messages: disk (the server default) or memory. */
  persistence?: 'disk' | 'memory';
  log?: (line: string) => void;
}

export interface ReadingToDispatchResult {
  city: string;
  readings: number;
  gap_ms: number;
  persistence: 'disk' | 'memory';
  /** MQTT publish of a reading (QoS 1) → the updated dispatch delivered on qs/v1/{tenant}/dispatch/latest. */
  reading_to_dispatch_p50_ms: number;
  reading_to_dispatch_p90_ms: number;
  reading_to_dispatch_p99_ms: number;
  reading_to_dispatch_max_ms: number;
  /** Where the time goes (p50): publish → durable (WAL fsync, listeners called), durable → tick published, → delivered. */
  to_durable_p50_ms: number;
  durable_to_tick_p50_ms: number;
  tick_to_delivery_p50_ms: number;
  to_durable_p99_ms: number;
  /** The dispatch's own share: readings durable → updated dispatch delivered (tick, result JSON, publish). */
  durable_to_delivery_p50_ms: number;
  durable_to_delivery_p99_ms: number;
  result_json_kb: number;
  load_avg_1m: number;
}

/**
 * The end-to-end path in a real server on 127.0.0.1: a gateway of the reference city publishes
 * one reading (QoS 1) over MQTT/TCP; the server makes it durable (WAL fsync), feeds the live
 * coupling engine, which ticks and publishes the result; an in-process subscription of the
 * broker (where an MQTT bridge or dashboard plugin would listen) receives it. Each reading
 * changes a bound input (zone heat demand); the next is sent `gapMs` after the previous dispatch.
 */
export async function benchReadingToDispatch(o: ReadingToDispatchOptions = {}): Promise<ReadingToDispatchResult> {
  const say = o.log ?? (() => undefined);
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const mqtt = (await import('mqtt')).default;
  const { configSchema } = await import('../src/config/schema.ts');
  const { createLogger } = await import('../src/observability/logger.ts');
  const { startServer } = await import('../src/server/index.ts');
  const cityPath = resolve(o.city ?? 'config/reference-city.yaml');
  const n = o.readings ?? 300;
  const warmup = o.warmup ?? 30;
  const gapMs = o.gapMs ?? 30;
  const persistence = o.persistence ?? 'disk';
  const tenant = 'bench';
  const city = loadCity(cityPath);
  // A bound exact heat-demand input of the city: its device publishes the readings.
  const bus = city.buses.find((b) => b.kind === 'heat' && typeof b.demandMw === 'object' && b.demandMw.device !== undefined);
  if (!bus || bus.kind !== 'heat' || typeof bus.demandMw !== 'object') throw new Error(`${cityPath}: no heat zone with a device-bound demand to publish`);
  const device = bus.demandMw.device!;
  const input = `${bus.id}.demandMw`;
  const base = bus.demandMw.default;

  const dir = await mkdtemp(join(tmpdir(), 'qs-bench-r2d-'));
  const config = configSchema.parse({
    dataDir: dir,
    broker: { tcp: { host: '127.0.0.1', port: 0 }, ws: { enabled: false }, persistence: { kind: persistence } },
    api: { enabled: false },
    log: { level: 'silent' },
    coupling: [{ tenant, city: cityPath, warmupMs: 0 }],
  });
  const server = await startServer(config, { log: createLogger('silent') });
  const client = await (async () => {
    try {
      const { password } = await server.registry.addDevice(tenant, device, 'heat_meter');
      return await mqtt.connectAsync(`mqtt://127.0.0.1:${server.broker.tcpPort}`, { clientId: `${tenant}/${device}`, username: `${tenant}/${device}`, password, protocolVersion: 4, reconnectPeriod: 0 });
    } catch (err) {
      await server.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  })();
  const service = server.dispatch.service(tenant)!;

  // Timestamps of the reading in flight: durable (pipeline listeners), ticked, delivered.
  let want: number | undefined;
  let durableAt = 0;
  let tickAt = 0;
  let jsonBytes = 0;
  let delivered: ((at: number) => void) | undefined;
  server.pipeline.on({ readings: (t, d) => void (t === tenant && d === device && (durableAt = performance.now())) });
  service.subscribe((json, r) => {
    if (want !== undefined && Math.abs(r.inputs[input]!.value - want) < 1e-9) {
      tickAt = performance.now();
      jsonBytes = json.length;
    }
  });
  await new Promise<void>((done) =>
    server.broker.aedes.subscribe(
      `qs/v1/${tenant}/dispatch/latest`,
      (packet, cb) => {
        const at = performance.now();
        cb();
        if (want === undefined || !delivered) return;
        const r = JSON.parse(packet.payload.toString()) as DispatchResult;
        if (Math.abs(r.inputs[input]!.value - want) < 1e-9) delivered(at);
      },
      done,
    ),
  );

  const total: number[] = [];
  const toDurable: number[] = [];
  const toTick: number[] = [];
  const toDelivery: number[] = [];
  const dispatchPart: number[] = [];
  const loadBefore = loadavg()[0]!;
  say(`reading to dispatch: ${city.name}, device ${device} → ${input}; ${n} readings (+${warmup} warm-up), ${gapMs} ms apart, broker persistence ${persistence}`);
  try {
    for (let k = 0; k < warmup + n; k++) {
      const kw = base * (0.8 + 0.4 * ((k * 7919) % 1000) / 1000) + k * 1e-3; // distinct every time
      want = kw / 1000;
      const arrived = new Promise<number>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`reading ${k}: no updated dispatch within 5 s`)), 5000);
        delivered = (at) => {
          clearTimeout(timer);
          delivered = undefined;
          res(at);
        };
      });
      const t0 = performance.now();
      client.publish(`qs/v1/${tenant}/${device}/data`, JSON.stringify({ seq: k + 1, samples: [{ ts: Date.now(), metrics: { heat_power: kw } }], units: { heat_power: 'kW' } }), { qos: 1 });
      const at = await arrived;
      if (k >= warmup) {
        total.push(at - t0);
        toDurable.push(durableAt - t0);
        toTick.push(tickAt - durableAt);
        toDelivery.push(at - tickAt);
        dispatchPart.push(at - durableAt);
      }
      await new Promise((r) => setTimeout(r, gapMs));
    }
  } finally {
    await client.endAsync(true);
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  const sort = (xs: number[]) => xs.slice().sort((a, b) => a - b);
  const t = sort(total);
  const r2 = (v: number) => round(v, 2);
  const result: ReadingToDispatchResult = {
    city: city.name,
    readings: n,
    gap_ms: gapMs,
    persistence,
    reading_to_dispatch_p50_ms: r2(pct(t, 0.5)),
    reading_to_dispatch_p90_ms: r2(pct(t, 0.9)),
    reading_to_dispatch_p99_ms: r2(pct(t, 0.99)),
    reading_to_dispatch_max_ms: r2(t[t.length - 1] ?? NaN),
    to_durable_p50_ms: r2(pct(sort(toDurable), 0.5)),
    durable_to_tick_p50_ms: r2(pct(sort(toTick), 0.5)),
    tick_to_delivery_p50_ms: r2(pct(sort(toDelivery), 0.5)),
    to_durable_p99_ms: r2(pct(sort(toDurable), 0.99)),
    durable_to_delivery_p50_ms: r2(pct(sort(dispatchPart), 0.5)),
    durable_to_delivery_p99_ms: r2(pct(sort(dispatchPart), 0.99)),
    result_json_kb: round(jsonBytes / 1024, 1),
    load_avg_1m: round(Math.max(loadBefore, loadavg()[0]!), 2),
  };
  say(
    `reading to dispatch p50 ${result.reading_to_dispatch_p50_ms} ms, p99 ${result.reading_to_dispatch_p99_ms} ms (publish → durable p50 ${result.to_durable_p50_ms} ms, p99 ${result.to_durable_p99_ms} ms; durable → delivered p50 ${result.durable_to_delivery_p50_ms} ms, p99 ${result.durable_to_delivery_p99_ms} ms; result ${result.result_json_kb} KB; load ${result.load_avg_1m})`,
  );
  return result;
}

/**
 * The coupling engine: city model, dispatch LP, solvers and the runtime engine.
 *
 * Wiring (server):
 *   const engine = await createDispatchEngine(loadCity('config/demo-city.yaml'), { autoReplan: 'background' });
 *   // every normalised reading (canonical unit, ts in ms); unknown device/metric pairs are ignored:
 *   const out = engine.ingest(deviceKey, metric, value, ts);   // { updated: [...], changed } | { rejected: reason }
 *   // on a timer or after readings arrive:
 *   const result = engine.tick();                               // never throws; DispatchResult
 *   // result.setpoints / flows / storage / buses / explanations / inputs are built on first access
 *   // (reading them after later ticks still gives this tick's: the engine copies what they need first).
 *   // They are accessors, so JSON.stringify(result) includes them but spreading result does not.
 *   engine.exportLp('lp');                                      // the last tick's LP for auditors
 *   engine.dispose();                                           // on shutdown (HiGHS, plan worker)
 * dispatchResultSchema is the zod schema of a tick's result (for the API's OpenAPI).
 */
export { DispatchEngine, createDispatchEngine, type DispatchEngineOptions, type InputBinding } from './engine.ts';
export {
  dispatchResultSchema,
  dispatchKpiMessageSchema,
  dispatchUnitMessageSchema,
  dispatchAlarmsMessageSchema,
  unitModes,
  setpointFields,
  alarmSchema,
  setpointSchema,
  explanationSchema,
  kpiSchema,
  type DispatchResult,
  type DispatchKpiMessage,
  type DispatchUnitMessage,
  type DispatchAlarmsMessage,
  type Setpoint,
  type LinkFlow,
  type StorageState,
  type UnitExplanation,
  type DispatchKpis,
  type DispatchAlarm,
} from './result.ts';
export { loadCity, parseCity, parseCityYaml, CityConfigError, citySchema, type City, type CityInput } from './model/index.ts';
export { collectInputs, type InputRegistry, type InputDef } from './model/inputs.ts';
export type { IngestOutcome, Alarm } from './input-store.ts';
export { writeCplexLp, writeMps } from './lp/write.ts';
export type { LpProblem } from './lp/problem.ts';
export { loadHighs } from './lp/highs.ts';
export { generateReferenceCity } from './reference-city.ts';

/** The coupling engine: city model, dispatch LP, solvers and the runtime engine. */
export { DispatchEngine, createDispatchEngine, type DispatchEngineOptions, type InputBinding } from './engine.ts';
export {
  dispatchResultSchema,
  alarmSchema,
  setpointSchema,
  explanationSchema,
  kpiSchema,
  type DispatchResult,
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

export { createRng, hashInts, hashString, smoothNoise, layeredNoise, normalCdf, uniformAt, gaussianAt, type Rng } from './random.ts';
export { weatherAt, sunElevationDeg, clearSkyIrradiance, defaultSite, type Site, type Weather } from './weather.ts';
export {
  Environment,
  envAt,
  localTime,
  marketAt,
  sewageTempAt,
  heatFactorFor,
  windPowerCurve,
  hubWindSpeed,
  type EnvSnapshot,
  type LocalTime,
  type Market,
} from './environment.ts';
export {
  modelDefs,
  simulatedDeviceTypes,
  isSimulatedType,
  heatFromFlow,
  carnotCop,
  WATER_DENSITY,
  WATER_HEAT_CAPACITY,
  KELVIN,
  type SimulatedDeviceType,
  type SetpointResult,
} from './models.ts';
export { DeviceModel, type DeviceModelOptions, type WireMetric } from './device-model.ts';
export { unitConverter, roundSignificant } from './wire-units.ts';

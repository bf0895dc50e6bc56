/** Virtual gateways for every device type, with realistic signals and fault injection. */
export { runSimulation, startSimulation, type RunSimulationOptions, type SimulatedDevice, type SimulationHandle, type SimulationReport, type SimulationProgress, type SimulationTotals } from './runner.ts';
export { VirtualGateway, type GatewayOptions, type GatewayReport, type CommandRecord, type SimLogger } from './gateway.ts';
export { planFleet, type FleetDevice } from './fleet.ts';
export { simulateOptionsSchema, simulationFromOptions, type SimulateOptions, type SimulateOptionsInput } from './options.ts';
export {
  faultOptionsSchema,
  faultsFromNames,
  faultNames,
  malformedKinds,
  malformPayload,
  type FaultName,
  type FaultOptions,
  type FaultOptionsInput,
  type MalformedKind,
} from './faults.ts';
export { SampleStream, type OutgoingMessage, type DataMessage, type MalformedMessage } from './stream.ts';
export { DeviceModel, Environment, simulatedDeviceTypes, isSimulatedType, type SimulatedDeviceType } from './signals/index.ts';

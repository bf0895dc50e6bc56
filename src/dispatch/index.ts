/**
 * Live dispatch: the coupling engine inside the server, one per `config.coupling` entry.
 *
 * Wiring (server):
 *   const loaded = loadCouplings(config);            // fail fast: field-named errors
 *   const hub = await startDispatch(loaded, { pipeline, writer, publish, log, dataDir });
 *   // API: pass hub.apiPlugin to listenApi; on shutdown: await hub.close() before api.close()
 */
export { loadCouplings, startDispatch, type DispatchHub, type DispatchDeps, type LoadedCoupling } from './hub.ts';
export { DispatchService, kpiMessage, type Publish, type TickListener, type DispatchStats } from './service.ts';
export { resolveComponents, recommendedMw, type Component, type SetpointField } from './control.ts';
export { AuditTrail, type AuditQuery } from './audit.ts';
export { DISPATCH_DEVICE, dispatchReadings } from './series.ts';
export { TickScheduler, type TickReason } from './scheduler.ts';
export { HEARTBEAT_MS, MAX_STREAMS_PER_TENANT } from './api.ts';
export * from './schemas.ts';

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DeviceDirectory } from '../devices/types.ts';
import type { TokenVerifier } from '../identity/types.ts';
import type { Store } from '../store/types.ts';

export interface DeviceAdmin {
  /**
   * Issues credentials for new gateways, all or none, in the order given. Refusals are thrown as
   * the registry's `RegistryError` (invalid input or a conflict); any other error is a failure.
   */
  add(tenant: string, devices: ReadonlyArray<{ device: string; type?: string | undefined }>): Promise<Array<{ device: string; username: string; password: string }>>;
  /** Resolves false when there is no such active device. */
  revoke(tenant: string, device: string): Promise<boolean>;
}

export interface ApiDeps {
  store: Store;
  tokens: TokenVerifier;
  devices: DeviceDirectory;
  /** The process registry; the API adds its HTTP metrics to it. */
  metrics: Registry;
  ready: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  log: Logger;
  /** Admin actions wired to the identity registry; their routes exist only when present. */
  deviceAdmin?: DeviceAdmin;
}

/** A route plugin added by a later capability (dispatch, scenarios, web). */
export type ApiPlugin = (app: FastifyInstance, deps: ApiDeps) => Promise<void>;

/**
 * Where aedes keeps sessions: subscriptions of persistent (clean:false) sessions, QoS 1/2
 * messages queued for offline devices, retained messages, QoS 2 dedup entries and wills.
 *
 * memory: aedes' built-in store; all of it ends with the process.
 * disk:   aedes-persistence-level (the moscajs LevelDB persistence aedes 1.x lists as its peer)
 *         over `level` (classic-level, prebuilt LevelDB binaries inside the npm package), in
 *         `${dataDir}/broker` unless broker.persistence.dir says otherwise. Survives a restart and
 *         a kill -9 of the process (LevelDB's log is written before each call returns); not an
 *         OS crash or power cut (writes are not fsync'd).
 *
 * NOT YET ENABLED: aedes-persistence-level and level are not dependencies yet. Until they are
 * installed (aedes-persistence-level@9.2.0, level@10.0.0), kind 'disk' logs a warning and runs on
 * memory. Once installed, this file needs no change: the dynamic imports below find them.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BrokerPersistence } from '../config/schema.ts';
import type { PersistenceInfo } from './types.ts';

export interface OpenedPersistence {
  info: PersistenceInfo;
  /** For `new Aedes({ persistence })`; undefined = aedes' built-in memory persistence. */
  instance: AedesPersistenceHandle | undefined;
  /** Closes the store (frees the directory's lock for the next broker). */
  close(): Promise<void>;
}

/** The part of an aedes persistence the broker itself touches. */
export interface AedesPersistenceHandle {
  delWill(client: { id: string; brokerId?: string }): Promise<unknown>;
  destroy(): Promise<void>;
}

/** The documented APIs of the two packages, as much as used here. */
interface LevelModule {
  Level: new (location: string, options?: object) => { open(): Promise<void>; close(): Promise<void> };
}
type AedesPersistenceLevelModule = { default: (db: unknown) => AedesPersistenceHandle };

export const DISK_PERSISTENCE_PACKAGES = ['aedes-persistence-level@9.2.0', 'level@10.0.0'] as const;

/** Specifiers in variables, so TypeScript does not resolve them while they are not installed. */
const LEVEL = 'level';
const AEDES_PERSISTENCE_LEVEL = 'aedes-persistence-level';

function isMissingModule(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

const memory = (): OpenedPersistence => ({ info: { kind: 'memory' }, instance: undefined, close: async () => undefined });

export async function openPersistence(config: BrokerPersistence, dataDir: string | undefined, log: Logger): Promise<OpenedPersistence> {
  if (config.kind === 'memory') return memory();

  let level: LevelModule;
  let aedesPersistenceLevel: AedesPersistenceLevelModule;
  try {
    [level, aedesPersistenceLevel] = await Promise.all([import(LEVEL) as Promise<LevelModule>, import(AEDES_PERSISTENCE_LEVEL) as Promise<AedesPersistenceLevelModule>]);
  } catch (err) {
    if (!isMissingModule(err)) throw err;
    // INTERIM (see the header): remove this fallback once the packages are dependencies.
    log.warn(
      { missing: DISK_PERSISTENCE_PACKAGES },
      'broker.persistence.kind is "disk" but its packages are not installed; sessions and queued messages are kept in memory and lost on restart',
    );
    return memory();
  }

  const dir = config.dir ?? (dataDir === undefined ? undefined : join(dataDir, 'broker'));
  if (dir === undefined) throw new Error("broker.persistence.kind is 'disk' but no directory is known: set broker.persistence.dir, or pass { dataDir } to startBroker");
  await mkdir(dir, { recursive: true });
  const db = new level.Level(dir);
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: Error }).cause?.message;
    throw new Error(`broker.persistence: cannot open ${dir}: ${(err as Error).message}${cause ? ` (${cause})` : ''}; is another broker using this directory?`);
  }
  const instance = aedesPersistenceLevel.default(db);
  log.info({ dir }, 'broker sessions persisted on disk');
  return {
    info: { kind: 'disk', dir },
    instance,
    close: () => instance.destroy(),
  };
}

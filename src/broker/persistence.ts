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

 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BrokerPersistence } from '../config/schema.ts';
import type { PersistenceInfo } from './types.ts';
import { Level } from 'level';
// @ts-expect-error: the package ships no type declarations; its documented default export is used below.
import aedesPersistenceLevel from 'aedes-persistence-level';

export interface OpenedPersistence {
  info: PersistenceInfo;
  /** For `new Aedes({ persistence })`; undefined = aedes' built-in memory persistence. */
  instance: AedesPersistenceHandle | undefined;
  /** Closes the store (frees the directory's lock for the next broker). */
  close(): Promise<void>;
}

/** An aedes persistence (aedes-persistence interface); the broker itself only ever destroys one. */
export interface AedesPersistenceHandle {
  destroy(): Promise<void>;
}

const memory = (): OpenedPersistence => ({ info: { kind: 'memory' }, instance: undefined, close: async () => undefined });

/** A persistence the caller made and closes. */
export function externalPersistence(instance: unknown): OpenedPersistence {
  return { info: { kind: 'external' }, instance: instance as AedesPersistenceHandle, close: async () => undefined };
}

export async function openPersistence(config: BrokerPersistence, dataDir: string | undefined, log: Logger): Promise<OpenedPersistence> {
  if (config.kind === 'memory') return memory();

  const dir = config.dir ?? (dataDir === undefined ? undefined : join(dataDir, 'broker'));
  if (dir === undefined) throw new Error("broker.persistence.kind is 'disk' but no directory is known: set broker.persistence.dir, or pass { dataDir } to startBroker");
  await mkdir(dir, { recursive: true });
  const db = new Level(dir);
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: Error }).cause?.message;
    throw new Error(`broker.persistence: cannot open ${dir}: ${(err as Error).message}${cause ? ` (${cause})` : ''}; is another broker using this directory?`);
  }
  const instance = (aedesPersistenceLevel as (db: unknown) => AedesPersistenceHandle)(db);
  log.info({ dir }, 'broker sessions persisted on disk');
  return {
    info: { kind: 'disk', dir },
    instance,
    close: () => instance.destroy(),
  };
}

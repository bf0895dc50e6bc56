/**
 * Where aedes keeps sessions: subscriptions of persistent (clean:false) sessions, QoS 1/2
 * messages queued for offline devices, retained messages, QoS 2 dedup entries and wills.
 *
 * memory: aedes' built-in store; all of it ends with the process.
 * disk:   aedes-persistence-level (the moscajs LevelDB persistence aedes 1.x lists as its peer)
 *         over `level` (classic-level, prebuilt LevelDB binaries inside the npm package), in
 *         `${dataDir}/broker` unless broker.persistence.dir says otherwise. Survives a restart and
 *         a kill -9 of the process (LevelDB's log is written before each call returns); not an
 *         OS crash or power cut (writes are not fsync'd). Retained messages on the server's own
 *         topics (qs/v1/{tenant}/dispatch/..., see SERVER_TOPIC_IDS) stay in memory: the
 *         dispatch republishes its ~140 KB result there on every tick, which would otherwise be
 *         a LevelDB write each time, and after a restart it would be stale until the next tick.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BrokerPersistence } from '../config/schema.ts';
import type { PersistenceInfo } from './types.ts';
import { Level } from 'level';
import aedesMemoryPersistence from 'aedes-persistence';
import { isServerTopic } from './acl.ts';
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
  const instance = serverRetainedInMemory((aedesPersistenceLevel as (db: unknown) => RetainedStore)(db));
  log.info({ dir }, 'broker sessions persisted on disk');
  return {
    info: { kind: 'disk', dir },
    instance,
    close: () => instance.destroy(),
  };
}

interface RetainedPacket {
  topic: string;
  payload: Buffer;
}

/** The part of an aedes persistence that retained messages go through (aedes-persistence's callback layer). */
interface RetainedStore extends AedesPersistenceHandle {
  broker: unknown;
  storeRetained(packet: RetainedPacket, cb?: (err: Error | null) => void): Promise<void> | undefined;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}


/**
 * `disk` with the retained messages of server topics kept in aedes' memory persistence instead;
 * everything else (and retained messages of device topics) goes to `disk`. Retained messages left
 * on disk under server topics by an earlier version are not served.
 */
function serverRetainedInMemory(disk: RetainedStore): RetainedStore {
  // The package is CommonJS: its module.exports is the factory its typings call the default export.
  const memory = (aedesMemoryPersistence as unknown as () => RetainedStore)();
  // Memory holds server topics only; disk may still hold some from an earlier version: skipped.
  const both = (streams: [Readable, Readable]) =>
    Readable.from(
      (async function* () {
        for await (const packet of streams[0] as AsyncIterable<RetainedPacket>) if (!isServerTopic(packet.topic)) yield packet;
        yield* streams[1] as AsyncIterable<RetainedPacket>;
      })(),
    );
  const overrides: Partial<RetainedStore> = {
    storeRetained: (packet, cb) => (isServerTopic(packet.topic) ? memory : disk).storeRetained(packet, cb),
    createRetainedStream: (pattern) => both([disk.createRetainedStream(pattern), memory.createRetainedStream(pattern)]),
    createRetainedStreamCombi: (patterns) => both([disk.createRetainedStreamCombi(patterns), memory.createRetainedStreamCombi(patterns)]),
    destroy: async () => {
      await memory.destroy();
      await disk.destroy();
    },
  };
  return new Proxy(disk, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof RetainedStore];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
    set(target, prop, value) {
      // aedes hands itself to its persistence (persistence.broker = aedes): both need it.
      if (prop === 'broker') memory.broker = value;
      return Reflect.set(target, prop, value, target);
    },
  });
}

/**
 * The durable write path: an ingest entry is durable once its WAL group commit is fsynced
 * (that is when `append` resolves and the broker may PUBACK); a background loop then moves
 * committed batches into the store, recording the WAL marker in the same store commit, so a
 * crash at any point neither loses nor duplicates readings.
 */
import type { DeadLetter, Reading, Store, WalMarker } from '../store/types.ts';
import { compareMarkers, maxMarker, Wal, type WalLogger } from './wal.ts';

export interface IngestEntry {
  tenant: string;
  /** Device key. */
  device: string;
  /** Data message seq, for duplicate detection after a restart. */
  seq?: number;
  /** May be empty. */
  readings: Reading[];
  /** A rejected message, stored durably too. */
  deadLetter?: DeadLetter;
}

export interface DurableWriterOptions {
  dir: string;
  store: Store;
  /** Group-commit window of the WAL. */
  maxDelayMs: number;
  keepAppliedMs?: number;
  /** How often committed batches are moved into the store (they are coalesced into one write). */
  applyIntervalMs?: number;
  segmentBytes?: number;
  /** Readings held in memory for the store; beyond this, batches are re-read from the WAL. */
  maxPendingReadings?: number;
  /** Most readings per store write. */
  maxApplyReadings?: number;
  log?: WalLogger;
}

export interface DurableWriterStats {
  appended: number;
  committedBatches: number;
  appliedReadings: number;
  pendingEntries: number;
  walBytes: number;
  lastCommitMs: number;
  storeErrors: number;
}

export interface RecoveredSequence {
  tenant: string;
  device: string;
  seq: number;
}

const DEFAULT_APPLY_INTERVAL_MS = 50;
const DEFAULT_MAX_PENDING_READINGS = 500_000;
const DEFAULT_MAX_APPLY_READINGS = 100_000;
/** Matches the duplicate-detection window of one device: older seqs cannot be told apart anyway. */
const RECOVERED_SEQS_PER_DEVICE = 4096;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

// ---------------------------------------------------------------------------------------
// Entry codec. One WAL record per entry, little-endian:
//   u8 flags (1 = seq, 2 = dead letter) | str tenant | str device | [f64 seq] | u32 nReadings
//   reading: str tenant | str device | str metric | str unit | f64 ts | f64 value
//   [dead letter: str tenant | str device | str topic | str reason | str excerpt | f64 receivedAt]
// str = u16 ref: 0 introduces a new string (u32 byteLength + UTF-8), k > 0 repeats string k-1
// of this record. Tenant/device/metric/unit repeat, so a reading costs 24 bytes.
// ---------------------------------------------------------------------------------------

const FLAG_SEQ = 1;
const FLAG_DEAD_LETTER = 2;
const MAX_STRINGS = 0xfffe;

export class EntryEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;
  private readonly dict = new Map<string, number>();
  private strings = 0;

  /** Encodes into a reused buffer: the returned view is valid until the next call. */
  encode(e: IngestEntry): Buffer {
    if (typeof e !== 'object' || e === null) throw new TypeError('entry must be an object');
    const readings = e.readings;
    if (!Array.isArray(readings)) throw new TypeError('entry.readings must be an array');
    this.pos = 0;
    this.dict.clear();
    this.strings = 0;
    this.ensure(16 + readings.length * 24);
    const hasSeq = e.seq !== undefined;
    if (hasSeq && (typeof e.seq !== 'number' || !Number.isFinite(e.seq))) throw new TypeError('entry.seq must be a finite number');
    this.buf[this.pos++] = (hasSeq ? FLAG_SEQ : 0) | (e.deadLetter ? FLAG_DEAD_LETTER : 0);
    this.str(e.tenant, 'tenant');
    this.str(e.device, 'device');
    if (hasSeq) this.f64(e.seq!);
    this.ensure(4);
    this.buf.writeUInt32LE(readings.length, this.pos);
    this.pos += 4;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      if (typeof r.ts !== 'number' || typeof r.value !== 'number') throw new TypeError(`readings[${i}]: ts and value must be numbers`);
      this.str(r.tenant, 'tenant');
      this.str(r.device, 'device');
      this.str(r.metric, 'metric');
      this.str(r.unit, 'unit');
      this.f64(r.ts);
      this.f64(r.value);
    }
    const d = e.deadLetter;
    if (d) {
      if (typeof d.receivedAt !== 'number') throw new TypeError('deadLetter.receivedAt must be a number');
      this.str(d.tenant, 'tenant');
      this.str(d.device, 'device');
      this.str(d.topic, 'topic');
      this.str(d.reason, 'reason');
      this.str(d.excerpt, 'excerpt');
      this.f64(d.receivedAt);
    }
    return this.buf.subarray(0, this.pos);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + extra) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  private str(s: string, name: string): void {
    const ref = this.dict.get(s);
    this.ensure(2);
    if (ref !== undefined) {
      this.buf.writeUInt16LE(ref, this.pos);
      this.pos += 2;
      return;
    }
    if (typeof s !== 'string') throw new TypeError(`${name} must be a string`);
    if (this.strings >= MAX_STRINGS) throw new RangeError(`entry has more than ${MAX_STRINGS} distinct strings`);
    this.dict.set(s, ++this.strings);
    this.buf.writeUInt16LE(0, this.pos);
    this.ensure(6 + s.length * 3);
    const n = this.buf.write(s, this.pos + 6, 'utf8');
    this.buf.writeUInt32LE(n, this.pos + 2);
    this.pos += 6 + n;
  }
}

class EntryDecoder {
  private pos = 0;
  private strings: string[] = [];
  constructor(private readonly buf: Buffer) {}

  str(): string {
    const ref = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    if (ref !== 0) {
      const s = this.strings[ref - 1];
      if (s === undefined) throw new Error(`WAL record: bad string ref ${ref}`);
      return s;
    }
    const n = this.buf.readUInt32LE(this.pos);
    const s = this.buf.toString('utf8', this.pos + 4, this.pos + 4 + n);
    this.pos += 4 + n;
    this.strings.push(s);
    return s;
  }
  f64(): number {
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u8(): number {
    return this.buf[this.pos++]!;
  }
}

export function decodeEntry(buf: Buffer): IngestEntry {
  const d = new EntryDecoder(buf);
  const flags = d.u8();
  const tenant = d.str();
  const device = d.str();
  const entry: IngestEntry = { tenant, device, readings: [] };
  if (flags & FLAG_SEQ) entry.seq = d.f64();
  const n = d.u32();
  const readings: Reading[] = new Array(n);
  for (let i = 0; i < n; i++) {
    readings[i] = { tenant: d.str(), device: d.str(), metric: d.str(), unit: d.str(), ts: d.f64(), value: d.f64() };
  }
  entry.readings = readings;
  if (flags & FLAG_DEAD_LETTER) {
    entry.deadLetter = { tenant: d.str(), device: d.str(), topic: d.str(), reason: d.str(), excerpt: d.str(), receivedAt: d.f64() };
  }
  return entry;
}

/** Only what duplicate detection needs, without decoding the readings. */
function decodeHeader(buf: Buffer): { tenant: string; device: string; seq: number | undefined } {
  const d = new EntryDecoder(buf);
  const flags = d.u8();
  const tenant = d.str();
  const device = d.str();
  return { tenant, device, seq: flags & FLAG_SEQ ? d.f64() : undefined };
}

// ---------------------------------------------------------------------------------------

/** Committed batches waiting for the store: held in memory, or (beyond the budget) only as a WAL range. */
type PendingItem =
  | { kind: 'mem'; marker: WalMarker; entries: IngestEntry[]; readings: number }
  | { kind: 'wal'; after: WalMarker | null; to: WalMarker };

interface Collected {
  readings: Reading[];
  deadLetters: Array<{ marker: WalMarker; letter: DeadLetter }>;
  entries: number;
  marker: WalMarker;
  /** Queue items fully consumed. */
  items: number;
  /** When the last consumed item is a partly read WAL range: how far it was read. */
  partialTo: WalMarker | null;
}

const noopLog: WalLogger = { info() {}, warn() {}, error() {} };

export class DurableWriter {
  private wal!: Wal<IngestEntry>;
  private readonly store: Store;
  private readonly log: WalLogger;
  private readonly encoder = new EntryEncoder();
  private readonly applyIntervalMs: number;
  private readonly maxPendingReadings: number;
  private readonly maxApplyReadings: number;

  private readonly queue: PendingItem[] = [];
  private memReadings = 0;
  private lastCommitted: WalMarker | null = null;
  private applied: WalMarker | null = null;
  /** Dead letters up to here are already in the store (their readings write failed after them). */
  private deadLettersWrittenTo: WalMarker | null = null;
  private applying = false;
  private applyTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private closing = false;
  private readonly waiters: Array<{ target: WalMarker; resolve: () => void }> = [];

  private appended = 0;
  private committedBatches = 0;
  private appliedReadings = 0;
  private pendingEntries = 0;
  private storeErrors = 0;

  private constructor(opts: DurableWriterOptions) {
    this.store = opts.store;
    this.log = opts.log ?? noopLog;
    this.applyIntervalMs = opts.applyIntervalMs ?? DEFAULT_APPLY_INTERVAL_MS;
    this.maxPendingReadings = opts.maxPendingReadings ?? DEFAULT_MAX_PENDING_READINGS;
    this.maxApplyReadings = opts.maxApplyReadings ?? DEFAULT_MAX_APPLY_READINGS;
  }

  /**
   * Recovers the WAL, schedules every batch the store has not applied (flush() waits for
   * them), and returns the (tenant, device, seq) of the retained entries, newest
   * RECOVERED_SEQS_PER_DEVICE per device, in WAL order.
   */
  static async open(opts: DurableWriterOptions): Promise<{ writer: DurableWriter; recoveredSequences: RecoveredSequence[] }> {
    const writer = new DurableWriter(opts);
    const storeApplied = maxMarker(await opts.store.appliedWalMarkers());
    writer.wal = await Wal.open<IngestEntry>({
      dir: opts.dir,
      maxDelayMs: opts.maxDelayMs,
      segmentBytes: opts.segmentBytes,
      keepAppliedMs: opts.keepAppliedMs,
      // New segments must sort after anything the store already applied, even if the WAL directory was lost.
      firstSegment: storeApplied ? storeApplied.segment + 1 : 1,
      onCommit: (marker, entries) => writer.onCommit(marker, entries),
      onAbort: (entries) => {
        writer.pendingEntries -= entries.length;
      },
      log: writer.log,
    });

    const perDevice = new Map<string, { tenant: string; device: string; seqs: number[] }>();
    let unappliedEntries = 0;
    let unappliedBatches = 0;
    const last = writer.wal.lastCommitted;
    for await (const batch of writer.wal.readBatches(null, last)) {
      const unapplied = !storeApplied || compareMarkers(batch.marker, storeApplied) > 0;
      if (unapplied) {
        unappliedBatches++;
        unappliedEntries += batch.records.length;
      }
      for (const rec of batch.records) {
        const h = decodeHeader(rec);
        if (h.seq === undefined) continue;
        const key = `${h.tenant}\u0000${h.device}`;
        let d = perDevice.get(key);
        if (!d) perDevice.set(key, (d = { tenant: h.tenant, device: h.device, seqs: [] }));
        d.seqs.push(h.seq);
        if (d.seqs.length > 2 * RECOVERED_SEQS_PER_DEVICE) d.seqs.splice(0, d.seqs.length - RECOVERED_SEQS_PER_DEVICE);
      }
    }
    const recoveredSequences: RecoveredSequence[] = [];
    for (const d of perDevice.values()) {
      for (const seq of d.seqs.slice(-RECOVERED_SEQS_PER_DEVICE)) recoveredSequences.push({ tenant: d.tenant, device: d.device, seq });
    }

    writer.lastCommitted = last;
    writer.applied = storeApplied;
    if (storeApplied) writer.wal.release(storeApplied);
    if (last && unappliedBatches > 0) {
      writer.queue.push({ kind: 'wal', after: storeApplied, to: last });
      writer.pendingEntries += unappliedEntries;
      writer.log.info({ batches: unappliedBatches, entries: unappliedEntries, from: storeApplied, to: last }, 'WAL recovery: re-applying batches the store had not stored');
      writer.kick(0);
    }
    return { writer, recoveredSequences };
  }

  /** Resolves once the entry is fsynced in the WAL. The store receives it asynchronously. */
  append(entry: IngestEntry): Promise<void> {
    if (this.closing) return Promise.reject(new Error('durable writer is closed'));
    let record: Buffer;
    try {
      record = this.encoder.encode(entry);
    } catch (err) {
      return Promise.reject(new Error(`entry rejected: ${(err as Error).message}`, { cause: err }));
    }
    this.appended++;
    this.pendingEntries++;
    return this.wal.append(record, entry);
  }

  /** Resolves once everything appended so far is in the store (and its marker recorded). */
  async flush(): Promise<void> {
    await this.wal.sync();
    const target = this.lastCommitted;
    if (!target || (this.applied && compareMarkers(this.applied, target) >= 0)) return;
    const done = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    if (this.backoffMs === 0) this.kick(0);
    await done;
  }

  /**
   * Flushes, stops timers and closes the WAL (not the store). If the store does not take the
   * backlog within `flushTimeoutMs`, it stays in the WAL and is applied on the next open.
   */
  async close(opts: { flushTimeoutMs?: number } = {}): Promise<void> {
    if (this.closing) return;
    const timeoutMs = opts.flushTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.flush().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.log.warn({ pendingEntries: this.pendingEntries }, 'durable writer closing with entries not yet in the store; they stay in the WAL for the next start');
    this.closing = true;
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.applyTimer = undefined;
    while (this.applying) await new Promise((r) => setTimeout(r, 5));
    await this.wal.close();
  }

  stats(): DurableWriterStats {
    const w = this.wal.stats();
    return {
      appended: this.appended,
      committedBatches: this.committedBatches,
      appliedReadings: this.appliedReadings,
      pendingEntries: this.pendingEntries,
      walBytes: w.bytes,
      lastCommitMs: w.lastCommitMs,
      storeErrors: this.storeErrors,
    };
  }

  private onCommit(marker: WalMarker, entries: IngestEntry[]): void {
    const prev = this.lastCommitted;
    this.lastCommitted = marker;
    this.committedBatches++;
    let readings = 0;
    for (const e of entries) readings += e.readings.length;
    const tail = this.queue.at(-1);
    if (this.memReadings + readings + entries.length > this.maxPendingReadings) {
      // Over the memory budget: keep only the range; the applier re-reads it from the WAL.
      if (tail?.kind === 'wal') tail.to = marker;
      else this.queue.push({ kind: 'wal', after: prev, to: marker });
    } else {
      this.queue.push({ kind: 'mem', marker, entries, readings });
      this.memReadings += readings + entries.length;
    }
    this.kick(this.applyIntervalMs);
  }

  /** Starts the apply loop after `delayMs`, unless it is running or already due sooner. */
  private kick(delayMs: number): void {
    if (this.applying || this.closing) return;
    if (this.applyTimer) {
      // A pending backoff is never cut short; otherwise an earlier start wins.
      if (delayMs > 0 || this.backoffMs > 0) return;
      clearTimeout(this.applyTimer);
    }
    this.applyTimer = setTimeout(() => {
      this.applyTimer = undefined;
      void this.applyLoop();
    }, delayMs);
  }

  private async applyLoop(): Promise<void> {
    if (this.applying) return;
    this.applying = true;
    try {
      while (this.queue.length > 0 && !this.closing) {
        let chunk: Collected;
        try {
          chunk = await this.collect();
          await this.writeChunk(chunk);
        } catch (err) {
          this.storeErrors++;
          this.backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
          this.log.error({ err: (err as Error).message, retryInMs: this.backoffMs, pendingEntries: this.pendingEntries }, 'store write failed; batches stay in the WAL and are retried');
          this.applying = false;
          if (!this.closing) {
            this.applyTimer = setTimeout(() => {
              this.applyTimer = undefined;
              void this.applyLoop();
            }, this.backoffMs);
          }
          return;
        }
        this.backoffMs = 0;
        this.consume(chunk);
      }
    } finally {
      this.applying = false;
    }
  }

  /** Gathers queued batches, oldest first, up to maxApplyReadings (whole batches only). */
  private async collect(): Promise<Collected> {
    const c: Collected = { readings: [], deadLetters: [], entries: 0, marker: this.queue[0]!.kind === 'mem' ? this.queue[0]!.marker : this.queue[0]!.to, items: 0, partialTo: null };
    const take = (marker: WalMarker, entries: IngestEntry[]): void => {
      for (const e of entries) {
        const rs = e.readings;
        for (let i = 0; i < rs.length; i++) c.readings.push(rs[i]!);
        if (e.deadLetter) c.deadLetters.push({ marker, letter: e.deadLetter });
      }
      c.entries += entries.length;
      c.marker = marker;
    };
    for (const item of this.queue) {
      if (c.items > 0 && c.readings.length >= this.maxApplyReadings) break;
      if (item.kind === 'mem') {
        take(item.marker, item.entries);
        c.items++;
        continue;
      }
      let last: WalMarker | null = null;
      for await (const batch of this.wal.readBatches(item.after, item.to)) {
        take(batch.marker, batch.records.map(decodeEntry));
        last = batch.marker;
        if (c.readings.length >= this.maxApplyReadings) break;
      }
      if (!last) throw new Error(`WAL range after ${JSON.stringify(item.after)} to ${JSON.stringify(item.to)} is missing`);
      if (compareMarkers(last, item.to) < 0) {
        c.partialTo = last;
        break;
      }
      c.items++;
    }
    return c;
  }

  private async writeChunk(c: Collected): Promise<void> {
    const done = this.deadLettersWrittenTo;
    const letters = c.deadLetters.filter((d) => !done || compareMarkers(d.marker, done) > 0).map((d) => d.letter);
    if (letters.length > 0) {
      await this.store.writeDeadLetters(letters);
      this.deadLettersWrittenTo = c.marker;
    }
    await this.store.writeReadings(c.readings, c.marker);
  }

  private consume(c: Collected): void {
    for (let i = 0; i < c.items; i++) {
      const item = this.queue.shift()!;
      if (item.kind === 'mem') this.memReadings -= item.readings + item.entries.length;
    }
    if (c.partialTo) {
      const head = this.queue[0];
      if (head?.kind === 'wal') head.after = c.partialTo;
    }
    this.applied = c.marker;
    this.appliedReadings += c.readings.length;
    this.pendingEntries -= c.entries;
    this.wal.release(c.marker);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (compareMarkers(w.target, c.marker) <= 0) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}

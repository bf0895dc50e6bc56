/**
 * Append-only, segmented write-ahead log with group commit.
 *
 * Records appended while a previous fsync is in flight (or within `maxDelayMs`) go to disk
 * as ONE frame with ONE write and ONE fdatasync: a batch. A batch is named by a WalMarker
 * {segment, batch}. Every append's promise resolves only after its batch is synced.
 *
 * On disk a segment file `seg-NNNNNNNNNN.wal` is a sequence of frames:
 *   u32 payloadLength | u32 crc32(payload) | payload
 *   payload = u32 recordCount | (u32 recordLength | record bytes)*
 * A frame whose length runs past the end of the file, whose CRC does not match or whose
 * record lengths do not add up is a torn tail: it and everything after it in that segment
 * is cut off on open, never misread.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { WalMarker } from '../store/types.ts';

export interface WalLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface WalOptions<T> {
  dir: string;
  /** Longest an append waits for its group commit to start. 0 = commit at the end of the current event-loop turn. */
  maxDelayMs: number;
  /** A new segment starts once the current one would exceed this size. */
  segmentBytes?: number;
  /** Applied segments stay on disk this long (recent history for duplicate detection after a restart). */
  keepAppliedMs?: number;
  /** Lowest number the first new segment may take, e.g. above markers a store already holds. */
  firstSegment?: number;
  /** A pending batch this large is committed without waiting for `maxDelayMs`. */
  maxBatchBytes?: number;
  /** Called once per committed batch, after its fsync and before the appends' promises resolve. */
  onCommit?: (marker: WalMarker, attachments: T[]) => void;
  /** Called when a batch could not be made durable; its appends' promises reject. */
  onAbort?: (attachments: T[], err: Error) => void;
  log?: WalLogger;
}

export interface WalBatch {
  marker: WalMarker;
  /** Views into a read buffer: copy what you keep. */
  records: Buffer[];
}

export interface WalStats {
  committedBatches: number;
  committedRecords: number;
  bytes: number;
  segments: number;
  lastCommitMs: number;
}

const FRAME_HEADER = 8;
const PAYLOAD_HEADER = 4;
const RECORD_HEADER = 4;
const DEFAULT_SEGMENT_BYTES = 32 * 1024 * 1024;
const DEFAULT_KEEP_APPLIED_MS = 10 * 60_000;
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
const READ_CHUNK_BYTES = 8 * 1024 * 1024;
const SEGMENT_FILE = /^seg-(\d{10})\.wal$/;

export function compareMarkers(a: WalMarker, b: WalMarker): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.batch - b.batch;
}

export function maxMarker(markers: readonly WalMarker[]): WalMarker | null {
  let best: WalMarker | null = null;
  for (const m of markers) if (!best || compareMarkers(m, best) > 0) best = m;
  return best;
}

function segmentFileName(id: number): string {
  return `seg-${String(id).padStart(10, '0')}.wal`;
}

interface Segment {
  id: number;
  file: string;
  /** Start offset of every committed frame; the index is the batch number. */
  offsets: number[];
  /** Committed bytes (end of the last good frame). */
  size: number;
  /** No more batches will be added. */
  sealed: boolean;
  /** Found on open (written by an earlier run). */
  recovered: boolean;
  lastWriteMs: number;
  appliedAt?: number;
}

class PendingBatch<T> {
  buf: Buffer;
  used = FRAME_HEADER + PAYLOAD_HEADER;
  count = 0;
  firstAt = 0;
  urgent = false;
  attachments: T[] = [];
  promise: Promise<void> | undefined;
  resolve!: () => void;
  reject!: (err: Error) => void;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  getPromise(): Promise<void> {
    if (!this.promise) {
      this.promise = new Promise<void>((res, rej) => {
        this.resolve = res;
        this.reject = rej;
      });
    }
    return this.promise;
  }

  reset(): void {
    this.used = FRAME_HEADER + PAYLOAD_HEADER;
    this.count = 0;
    this.urgent = false;
    this.attachments = [];
    this.promise = undefined;
  }

  ensure(extra: number): void {
    if (this.used + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.used + extra) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

function fsyncDir(dir: string): Promise<void> {
  return fsp.open(dir, 'r').then(async (h) => {
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  });
}

function writeAll(fd: number, buf: Buffer, len: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void => {
      fs.write(fd, buf, done, len - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done < len) step();
        else resolve();
      });
    };
    step();
  });
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Parses frames from `buf` (which starts at file offset `base`), calling `onFrame` for each
 * valid one. Returns the offset just past the last valid frame and why parsing stopped.
 */
function scanFrames(
  buf: Buffer,
  base: number,
  onFrame: (offset: number, records: Buffer[]) => void,
): { end: number; problem?: string } {
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < FRAME_HEADER) return { end: base + pos, problem: `partial frame header (${buf.length - pos} bytes)` };
    const len = buf.readUInt32LE(pos);
    const crc = buf.readUInt32LE(pos + 4);
    if (len < PAYLOAD_HEADER) return { end: base + pos, problem: `invalid frame length ${len}` };
    if (pos + FRAME_HEADER + len > buf.length) return { end: base + pos, problem: `frame of ${len} bytes runs past the end of the file` };
    const payload = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + len);
    if (crc32(payload) !== crc) return { end: base + pos, problem: 'CRC mismatch' };
    const count = payload.readUInt32LE(0);
    const records: Buffer[] = [];
    let p = PAYLOAD_HEADER;
    let ok = true;
    for (let i = 0; i < count; i++) {
      if (p + RECORD_HEADER > len) {
        ok = false;
        break;
      }
      const rl = payload.readUInt32LE(p);
      p += RECORD_HEADER;
      if (p + rl > len) {
        ok = false;
        break;
      }
      records.push(payload.subarray(p, p + rl));
      p += rl;
    }
    if (!ok || p !== len) return { end: base + pos, problem: 'record lengths do not match the frame' };
    onFrame(base + pos, records);
    pos += FRAME_HEADER + len;
  }
  return { end: base + pos };
}

export class Wal<T = unknown> {
  private readonly dir: string;
  private readonly maxDelayMs: number;
  private readonly segmentBytes: number;
  private readonly keepAppliedMs: number;
  private readonly maxBatchBytes: number;
  private readonly onCommit: ((marker: WalMarker, attachments: T[]) => void) | undefined;
  private readonly onAbort: ((attachments: T[], err: Error) => void) | undefined;
  private readonly log: WalLogger | undefined;

  private readonly segments: Segment[] = [];
  private current!: Segment;
  private fd = -1;
  private pending: PendingBatch<T>;
  private spare: PendingBatch<T> | undefined;
  private inFlight: PendingBatch<T> | undefined;
  private inFlightDone: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private cleanupTimer: NodeJS.Timeout | undefined;
  private mustRotate = false;
  /** Next segment number to try; never reused, even when creating a segment failed half-way. */
  private nextSegmentId = 1;
  private closed = false;
  private last: WalMarker | null = null;
  private stat: WalStats = { committedBatches: 0, committedRecords: 0, bytes: 0, segments: 0, lastCommitMs: 0 };

  private constructor(opts: WalOptions<T>) {
    this.dir = opts.dir;
    this.maxDelayMs = Math.max(0, opts.maxDelayMs);
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.keepAppliedMs = opts.keepAppliedMs ?? DEFAULT_KEEP_APPLIED_MS;
    this.maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.onCommit = opts.onCommit;
    this.onAbort = opts.onAbort;
    this.log = opts.log;
    this.pending = new PendingBatch<T>(64 * 1024);
  }

  /**
   * Opens (or creates) the log in `dir`: validates every segment, cuts torn tails, and starts
   * a fresh segment for new appends. Recovered batches are read with `readBatches`.
   */
  static async open<T = unknown>(opts: WalOptions<T>): Promise<Wal<T>> {
    if (!(opts.maxDelayMs >= 0)) throw new Error(`WAL maxDelayMs must be >= 0, got ${opts.maxDelayMs}`);
    const wal = new Wal<T>(opts);
    await fsp.mkdir(opts.dir, { recursive: true });
    await wal.recover();
    const lastId = wal.segments.at(-1)?.id ?? 0;
    wal.nextSegmentId = Math.max(lastId + 1, opts.firstSegment ?? 1);
    await wal.startSegment();
    const every = Math.max(1000, Math.min(wal.keepAppliedMs, 30_000));
    wal.cleanupTimer = setInterval(() => void wal.cleanup(), every);
    wal.cleanupTimer.unref();
    return wal;
  }

  private async recover(): Promise<void> {
    const names = (await fsp.readdir(this.dir)).filter((n) => SEGMENT_FILE.test(n)).sort();
    for (const name of names) {
      const id = Number(SEGMENT_FILE.exec(name)![1]);
      const file = path.join(this.dir, name);
      const buf = await fsp.readFile(file);
      const offsets: number[] = [];
      const { end, problem } = scanFrames(buf, 0, (offset) => offsets.push(offset));
      const { mtimeMs } = await fsp.stat(file);
      if (problem) {
        this.log?.warn({ segment: id, validBytes: end, cutBytes: buf.length - end, problem }, 'WAL: cutting torn or corrupt tail');
        const h = await fsp.open(file, 'r+');
        try {
          await h.truncate(end);
          await h.datasync();
        } finally {
          await h.close();
        }
      }
      this.segments.push({ id, file, offsets, size: end, sealed: true, recovered: true, lastWriteMs: mtimeMs });
      this.stat.bytes += end;
      if (offsets.length > 0) this.last = { segment: id, batch: offsets.length - 1 };
    }
  }

  private async startSegment(): Promise<void> {
    const id = this.nextSegmentId++;
    const file = path.join(this.dir, segmentFileName(id));
    const fd = await new Promise<number>((resolve, reject) => fs.open(file, 'wx', (err, f) => (err ? reject(err) : resolve(f))));
    try {
      // The new name must survive a crash before any batch in it is acknowledged.
      await fdatasync(fd);
      await fsyncDir(this.dir);
    } catch (err) {
      fs.close(fd, () => undefined);
      throw err;
    }
    if (this.fd >= 0) {
      const old = this.fd;
      fs.close(old, () => undefined);
    }
    if (this.segments.length > 0) this.segments.at(-1)!.sealed = true;
    this.fd = fd;
    this.current = { id, file, offsets: [], size: 0, sealed: false, recovered: false, lastWriteMs: Date.now() };
    this.segments.push(this.current);
  }

  /** Marker of the newest committed batch (recovered or new), or null for an empty log. */
  get lastCommitted(): WalMarker | null {
    return this.last;
  }

  stats(): WalStats {
    return { ...this.stat, segments: this.segments.length };
  }

  /**
   * Queues one record for the next group commit. The record bytes are copied at once, so the
   * caller may reuse its buffer. Resolves after the batch holding it is fsynced.
   */
  append(record: Uint8Array, attachment?: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('WAL is closed'));
    const b = this.pending;
    b.ensure(RECORD_HEADER + record.length);
    b.buf.writeUInt32LE(record.length, b.used);
    b.buf.set(record, b.used + RECORD_HEADER);
    b.used += RECORD_HEADER + record.length;
    if (attachment !== undefined) b.attachments.push(attachment);
    if (b.count++ === 0) {
      b.firstAt = performance.now();
      if (!this.inFlight) this.schedule();
    }
    if (b.used >= this.maxBatchBytes && !this.inFlight) this.startFlush();
    return b.getPromise();
  }

  /** Resolves once everything appended so far is durable (commits at once, without waiting for maxDelayMs). */
  sync(): Promise<void> {
    const b = this.pending;
    if (b.count > 0) {
      b.urgent = true;
      const p = b.getPromise();
      if (!this.inFlight) this.startFlush();
      return p;
    }
    return this.inFlight ? this.inFlight.getPromise() : Promise.resolve();
  }

  private schedule(): void {
    if (this.timer || this.immediate) return;
    if (this.maxDelayMs === 0) {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        if (!this.inFlight && this.pending.count > 0) this.startFlush();
      });
    } else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.inFlight && this.pending.count > 0) this.startFlush();
      }, this.maxDelayMs);
    }
  }

  private startFlush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    const batch = this.pending;
    this.pending = this.spare ?? new PendingBatch<T>(64 * 1024);
    this.spare = undefined;
    this.inFlight = batch;
    this.inFlightDone = this.flush(batch).finally(() => {
      this.inFlight = undefined;
      this.inFlightDone = undefined;
      const keep = batch.buf.length <= 8 * this.maxBatchBytes;
      batch.reset();
      if (keep) this.spare = batch;
      const next = this.pending;
      if (next.count === 0) return;
      if (this.closed || next.urgent || next.used >= this.maxBatchBytes || performance.now() - next.firstAt >= this.maxDelayMs) this.startFlush();
      else this.schedule();
    });
  }

  private async flush(batch: PendingBatch<T>): Promise<void> {
    const started = performance.now();
    const len = batch.used;
    const buf = batch.buf;
    buf.writeUInt32LE(len - FRAME_HEADER, 0);
    buf.writeUInt32LE(batch.count, FRAME_HEADER);
    buf.writeUInt32LE(crc32(buf.subarray(FRAME_HEADER, len)), 4);
    let position = -1;
    try {
      if (this.mustRotate || (this.current.size > 0 && this.current.size + len > this.segmentBytes)) {
        await this.startSegment();
        this.mustRotate = false;
      }
      position = this.current.size;
      await writeAll(this.fd, buf, len, position);
      await fdatasync(this.fd);
    } catch (e) {
      const err = new Error(`WAL commit failed: ${(e as Error).message}`, { cause: e });
      this.log?.error({ err: (e as Error).message, segment: this.current.id, records: batch.count }, 'WAL: batch not durable');
      // The segment may now hold a partial frame: cut it back and continue in a fresh segment.
      const fd = this.fd;
      if (position >= 0) await new Promise<void>((resolve) => fs.ftruncate(fd, position, () => resolve()));
      this.mustRotate = true;
      this.onAbort?.(batch.attachments, err);
      if (batch.promise) batch.reject(err);
      return;
    }
    const seg = this.current;
    seg.offsets.push(position);
    seg.size += len;
    seg.lastWriteMs = Date.now();
    const marker: WalMarker = { segment: seg.id, batch: seg.offsets.length - 1 };
    this.last = marker;
    this.stat.committedBatches++;
    this.stat.committedRecords += batch.count;
    this.stat.bytes += len;
    this.stat.lastCommitMs = performance.now() - started;
    try {
      this.onCommit?.(marker, batch.attachments);
    } finally {
      if (batch.promise) batch.resolve();
    }
  }

  /**
   * Reads committed batches with `after < marker <= to` (after = null: from the first
   * retained batch; to defaults to the newest committed batch now), in order, in bounded chunks.
   */
  async *readBatches(after: WalMarker | null, to: WalMarker | null = this.last): AsyncGenerator<WalBatch> {
    if (!to) return;
    const segs = this.segments.filter((s) => s.id <= to.segment && (!after || s.id >= after.segment));
    for (const seg of segs) {
      const first = after && seg.id === after.segment ? after.batch + 1 : 0;
      const lastBatch = Math.min(seg.id === to.segment ? to.batch : Infinity, seg.offsets.length - 1);
      if (first > lastBatch) continue;
      const endOf = (b: number): number => (b + 1 < seg.offsets.length ? seg.offsets[b + 1]! : seg.size);
      const h = await fsp.open(seg.file, 'r');
      try {
        let b = first;
        while (b <= lastBatch) {
          // Whole frames only, up to READ_CHUNK_BYTES (or one frame if it is larger).
          const start = seg.offsets[b]!;
          let e = b;
          while (e < lastBatch && endOf(e + 1) - start <= READ_CHUNK_BYTES) e++;
          const end = endOf(e);
          const buf = Buffer.allocUnsafe(end - start);
          const { bytesRead } = await h.read(buf, 0, buf.length, start);
          if (bytesRead !== buf.length) throw new Error(`WAL segment ${seg.id}: short read at ${start}`);
          const batches: WalBatch[] = [];
          let idx = b;
          const { problem } = scanFrames(buf, start, (_offset, records) => {
            batches.push({ marker: { segment: seg.id, batch: idx++ }, records });
          });
          if (problem || batches.length !== e - b + 1) throw new Error(`WAL segment ${seg.id} is corrupt at batch ${idx}: ${problem ?? 'frame count mismatch'}`);
          for (const batch of batches) yield batch;
          b = e + 1;
        }
      } finally {
        await h.close();
      }
    }
  }

  /**
   * Everything up to `upTo` is applied. Segments whose batches are all applied are deleted
   * once they are older than keepAppliedMs (the open segment is never deleted).
   */
  release(upTo: WalMarker): void {
    const now = Date.now();
    for (const seg of this.segments) {
      if (seg.appliedAt !== undefined || !seg.sealed) continue;
      const lastBatch = seg.offsets.length - 1;
      if (seg.id < upTo.segment || (seg.id === upTo.segment && upTo.batch >= lastBatch)) {
        // A segment from an earlier run counts from its last write, so restarts do not keep it forever.
        seg.appliedAt = seg.recovered ? Math.min(now, seg.lastWriteMs) : now;
      }
    }
    void this.cleanup();
  }

  private async cleanup(): Promise<void> {
    const now = Date.now();
    while (this.segments.length > 0) {
      const seg = this.segments[0]!;
      if (seg === this.current || seg.appliedAt === undefined || now - seg.appliedAt < this.keepAppliedMs) break;
      this.segments.shift();
      this.stat.bytes -= seg.size;
      try {
        await fsp.unlink(seg.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.warn({ err: (err as Error).message, segment: seg.id }, 'WAL: could not delete applied segment');
      }
    }
  }

  /** Commits what is pending, waits for it, and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    while (this.inFlightDone || this.pending.count > 0) {
      if (this.inFlightDone) await this.inFlightDone.catch(() => undefined);
      else this.startFlush();
    }
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    }
  }
}
